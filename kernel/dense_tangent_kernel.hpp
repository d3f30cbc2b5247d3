#pragma once
// The fast route to the tangent kernel of a network of dense layers and elementwise activations,
// which never forms per-sample Jacobians.

#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"
#include "nn/model.hpp"

namespace pk::kernel {

/// K(A, B) at w for a model that is a chain of dense layers and pointwise activations
/// (nn/dense_chain.hpp: MLPs among others), laid out as `tangent_kernel` lays it out:
/// (P1*C) x (P2*C), entry (p*C + c, q*C + c') = K_{c c'}(a_p, b_q). Throws
/// std::invalid_argument for any other model.
///
/// For a dense layer z = h W^T + b, dz/dW_ij = h_j and dz/db_i = 1, so the layer's share of
/// J(x) J(x')^T for outputs c, c' is <g_c(x), g_c'(x')> (<h(x), h(x')> + 1), with g_c(x) the
/// adjoint of z at x when the backward pass starts from output c, and h(x) the layer's input.
/// One backward pass per output over the whole batch gives every g_c(x) (the rows of a batch do
/// not interact), and the kernel is a sum over layers of elementwise products of two Gram
/// matrices: O(C) passes and O(P^2 C^2 width) products instead of P*C passes and a D-wide product.
pk::ad::Tensor dense_tangent_kernel(const pk::nn::Model& model, const pk::ad::Tensor& points_a,
                                    const pk::ad::Tensor& points_b, const pk::ad::Tensor& w,
                                    pk::ad::Tape& tape);

}  // namespace pk::kernel
