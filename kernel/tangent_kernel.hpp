#pragma once
// The tangent kernel K(x, x') = J(x) J(x')^T of a model at one point w of its training path.

#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"
#include "kernel/model_function.hpp"

namespace pk::kernel {

/// Per-sample Jacobians of f at w for each row of `points` (P x features): a (P*C) x D matrix
/// whose row p*C + c is d f_c(x_p; w) / dw. Works for any model: each point is recorded on its
/// own and differentiated once per output.
pk::ad::Tensor per_sample_jacobians(ModelFunction f, const pk::ad::Tensor& points, const pk::ad::Tensor& w,
                                    pk::ad::Tape& tape);

/// The tangent kernel between two point sets, (P1*C) x (P2*C): entry (p*C + c, q*C + c') is
/// K_{c c'}(x_p, x'_q), so each pair of points owns a C x C block. This route forms per-sample
/// Jacobians and works for any model; `dense_tangent_kernel` (dense_tangent_kernel.hpp) is the
/// fast route for networks of dense layers.
pk::ad::Tensor tangent_kernel(ModelFunction f, const pk::ad::Tensor& points_a, const pk::ad::Tensor& points_b,
                              const pk::ad::Tensor& w, pk::ad::Tape& tape);

/// A J^T-style product of two Jacobian matrices: a b^T for (n x D) and (m x D) row-major
/// matrices, n x m. Exposed because kernels of cached Jacobians are formed this way.
pk::ad::Tensor gram(const pk::ad::Tensor& a, const pk::ad::Tensor& b, pk::ad::Tape& tape);

}  // namespace pk::kernel
