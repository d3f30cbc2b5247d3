#pragma once
// The fast route to the tangent kernel of a layered model with convolutions, which never records
// a pass per point.

#include "autodiff/autodiff.hpp"
#include "nn/architecture.hpp"
#include "nn/model.hpp"

namespace pk::kernel {

/// True when `arch` has a conv2d layer: the layered models `conv_tangent_kernel` is for (dense
/// MLPs have their own route, dense_tangent_kernel.hpp).
bool has_convolutions(const pk::nn::Architecture& arch);

/// K(A, B) at w for the layered model `model` built from `arch` (nn::sequential), laid out as
/// `tangent_kernel` lays it out: (P1*C) x (P2*C), entry (p*C + c, q*C + c') = K_{c c'}(a_p, b_q).
///
/// One forward pass over the points and one backward pass per output give every parameter
/// layer's output adjoint g_c(x) at once (the rows of a batch do not interact). A dense layer's
/// share of the kernel is then <g_c(x), g_c'(x')> (<h(x), h(x')> + 1), h its input, as in the
/// dense route. A convolution's per-sample Jacobian is g_c(x) (out x positions) times the
/// layer's unfolded input (positions x taps), one GEMM per point for all outputs, and its bias
/// Jacobian the sums of g_c(x) over positions; the convolutions' Jacobians side by side make
/// one matrix J and their share is J(A) J(B)^T. Throws std::invalid_argument when the model's
/// parameter count or input width is not that of `arch`.
pk::ad::Tensor conv_tangent_kernel(const pk::nn::Architecture& arch, const pk::nn::Model& model,
                                   const pk::ad::Tensor& points_a, const pk::ad::Tensor& points_b,
                                   const pk::ad::Tensor& w, pk::ad::Tape& tape);

}  // namespace pk::kernel
