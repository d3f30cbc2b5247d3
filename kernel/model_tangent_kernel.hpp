#pragma once
// The tangent kernel of an nn model, by the fastest route its structure allows.

#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"
#include "nn/model.hpp"

namespace pk::kernel {

/// How the tangent kernel is formed.
enum class KernelRoute {
  automatic,    // dense Gram matrices for chains of dense layers, conv_tangent_kernel.hpp for
                // layered models with convolutions, per-sample Jacobians otherwise
  jacobians,    // per-sample Jacobians: any model
  dense_grams,  // Gram matrices of layer inputs and back-propagated signals: dense chains only
};

/// K(A, B) at w, (P1*C) x (P2*C) with a C x C block per pair of points (see tangent_kernel.hpp).
/// The model's layer list decides the route (nn/dense_chain.hpp). Throws std::invalid_argument
/// when `route` is dense_grams for a model that is not a chain of dense layers.
pk::ad::Tensor model_tangent_kernel(const pk::nn::Model& model, const pk::ad::Tensor& points_a,
                                    const pk::ad::Tensor& points_b, const pk::ad::Tensor& w,
                                    pk::ad::Tape& tape, KernelRoute route = KernelRoute::automatic);

}  // namespace pk::kernel
