#include "kernel/model_tangent_kernel.hpp"

#include <stdexcept>

#include "kernel/conv_tangent_kernel.hpp"
#include "kernel/dense_tangent_kernel.hpp"
#include "kernel/tangent_kernel.hpp"
#include "nn/mlp.hpp"

namespace pk::kernel {

pk::ad::Tensor model_tangent_kernel(const pk::nn::Model& model, const pk::ad::Tensor& points_a,
                                    const pk::ad::Tensor& points_b, const pk::ad::Tensor& w,
                                    pk::ad::Tape& tape, KernelRoute route) {
  const pk::nn::MlpSpec* spec = model.mlp_spec();
  if (route == KernelRoute::dense_grams && spec == nullptr)
    throw std::invalid_argument("tangent kernel: the dense route needs a built-in MLP, and " +
                                model.name() + " is not one");
  if (spec != nullptr && route != KernelRoute::jacobians)
    return dense_tangent_kernel(*spec, points_a, points_b, w, tape);
  if (const pk::nn::Architecture* arch = model.architecture();
      route == KernelRoute::automatic && arch != nullptr && has_convolutions(*arch))
    return conv_tangent_kernel(*arch, model, points_a, points_b, w, tape);
  auto f = [&model](pk::ad::Var x, pk::ad::Var wv) { return model.forward(x, wv); };
  return tangent_kernel(f, points_a, points_b, w, tape);
}

}  // namespace pk::kernel
