#pragma once
// F1 and F2 of one step for a layered model (convolutions, pooling, dense layers) by Taylor mode:
// one forward pass carrying the first and second derivatives along the line w + t dw.

#include "autodiff/autodiff.hpp"
#include "kernel/step_terms.hpp"
#include "nn/architecture.hpp"
#include "nn/model.hpp"

namespace pk::kernel {

/// F1 = J(Q; w) dw and F2 = 1/2 dw^T H(Q) dw for the layered model `model` built from `arch`
/// (nn::sequential), both P x C. Each layer maps (h, h_t, h_tt), the input and its first two
/// derivatives along t, to its output's: a layer with parameters is bilinear in its input and
/// its parameters (W, b), so for z = L(h; W, b)
///   z_t = L(h; dW, db) + L(h_t; W),        z_tt = L(h_tt; W) + 2 L(h_t; dW),
/// with L(.; W) without bias; average pooling and flatten are linear; max pooling selects by
/// the values and passes the derivatives of the selected pixels; an activation gives
/// sigma'(z) z_t and sigma''(z) z_t^2 + sigma'(z) z_tt (its derivatives from its autodiff rules).
/// About five forward passes' work instead of the double backward of `second_order_term`, and
/// the same numbers to rounding. Throws std::invalid_argument when the model's parameter count
/// or input width is not that of `arch`, ShapeError for queries or a step of the wrong shape.
SecondOrder layered_second_order_term(const pk::nn::Architecture& arch, const pk::nn::Model& model,
                                      const pk::ad::Tensor& queries, const pk::ad::Tensor& w,
                                      const pk::ad::Tensor& dw, pk::ad::Tape& tape);

}  // namespace pk::kernel
