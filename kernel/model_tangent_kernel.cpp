#include "kernel/model_tangent_kernel.hpp"

#include <stdexcept>

#include "kernel/conv_tangent_kernel.hpp"
#include "kernel/dense_tangent_kernel.hpp"
#include "kernel/tangent_kernel.hpp"
#include "nn/dense_chain.hpp"

namespace pk::kernel {

pk::ad::Tensor model_tangent_kernel(const pk::nn::Model& model, const pk::ad::Tensor& points_a,
                                    const pk::ad::Tensor& points_b, const pk::ad::Tensor& w,
                                    pk::ad::Tape& tape, KernelRoute route) {
  const bool dense = pk::nn::dense_chain(model).has_value();
  if (route == KernelRoute::dense_grams && !dense)
    throw std::invalid_argument("tangent kernel: the dense route needs a chain of dense layers, and " +
                                model.name() + " is not one");
  if (dense && route != KernelRoute::jacobians)
    return dense_tangent_kernel(model, points_a, points_b, w, tape);
  if (const pk::nn::Architecture* arch = model.architecture();
      route == KernelRoute::automatic && arch != nullptr && has_convolutions(*arch))
    return conv_tangent_kernel(*arch, model, points_a, points_b, w, tape);
  auto f = [&model](pk::ad::Var x, pk::ad::Var wv) { return model.forward(x, wv); };
  return tangent_kernel(f, points_a, points_b, w, tape);
}

}  // namespace pk::kernel
