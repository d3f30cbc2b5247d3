#pragma once
// The terms of one training step's change of the model's predictions at a batch of query points,
// each computed for every query point and output in batched passes.

#include <vector>

#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"
#include "kernel/model_function.hpp"
#include "nn/model.hpp"

namespace pk::kernel {

/// f(Q; w) and the first-order (path-kernel) term F1 = J(Q; w) dw for all query points at once:
/// one forward pass carrying the tangent dw. Both are P x C.
struct FirstOrder {
  pk::ad::Tensor prediction;   // f(Q; w_k)
  pk::ad::Tensor first_order;  // J_k(Q) dw_k
};
FirstOrder first_order_term(ModelFunction f, const pk::ad::Tensor& queries, const pk::ad::Tensor& w,
                            const pk::ad::Tensor& dw, pk::ad::Tape& tape);

/// The explicit second-order term F2 = 1/2 dw^T H(x) dw for every query point and output, with
/// H(x) the Hessian of that output in w (P x C). Computed for all points in one batched pass:
/// with u a P x C variable, s(w, u) = (J(Q; w)^T u) . dw is recorded through a create_graph
/// backward pass while w carries the tangent dw; then ds/du = J dw, and its tangent along dw is
/// dw^T H dw for each point and output. The first-order term comes out of the same pass.
struct SecondOrder {
  pk::ad::Tensor first_order;   // J(Q; w) dw
  pk::ad::Tensor second_order;  // 1/2 dw^T H(Q) dw
};
SecondOrder second_order_term(ModelFunction f, const pk::ad::Tensor& queries, const pk::ad::Tensor& w,
                              const pk::ad::Tensor& dw, pk::ad::Tape& tape);

/// The third-order term F3 = 1/6 D^3 f(x; w)[dw, dw, dw] for every query point and output, with
/// F1 and F2 from the same pass: the construction of `second_order_term` taken one level
/// further. With w carrying the tangent dw and u a P x C variable, s1 = (J^T u) . dw and
/// s2 = (grad_w s1) . dw = sum u_i dw^T H_i dw are recorded by two create_graph backward passes;
/// ds2/du is dw^T H dw per point and output, and its tangent along dw is the third derivative of
/// t -> f(x; w + t dw) at 0. Any model (the engine differentiates to any order).
struct ThirdOrder {
  pk::ad::Tensor first_order;   // J(Q; w) dw
  pk::ad::Tensor second_order;  // 1/2 dw^T H(Q) dw
  pk::ad::Tensor third_order;   // 1/6 D^3 f(Q; w)[dw, dw, dw]
};
ThirdOrder third_order_term(ModelFunction f, const pk::ad::Tensor& queries, const pk::ad::Tensor& w,
                            const pk::ad::Tensor& dw, pk::ad::Tape& tape);

/// The same two terms for a model that is a chain of dense layers and pointwise activations
/// (nn/dense_chain.hpp: MLPs among others) by the fast route its structure allows: one forward
/// pass carrying the first and second derivatives along the line w + t dw (Taylor mode). For a
/// dense layer z = h W^T + b and h' = sigma(z),
///   z_t = h_t W^T + h dW^T + db,          z_tt = h_tt W^T + 2 h_t dW^T,
///   h'_t = sigma'(z) z_t,                 h'_tt = sigma''(z) z_t^2 + sigma'(z) z_tt,
/// and at the output F1 = z_t, F2 = z_tt / 2. About five forward passes' work instead of the
/// double backward of `second_order_term`; the activation's derivatives come from its autodiff
/// rules, so the two routes agree to rounding. Throws std::invalid_argument for any other model.
SecondOrder dense_second_order_term(const pk::nn::Model& model, const pk::ad::Tensor& queries,
                                    const pk::ad::Tensor& w, const pk::ad::Tensor& dw, pk::ad::Tape& tape);

/// F1 and F2 of `model` by the fastest route its layer list allows: `dense_second_order_term`
/// for a chain of dense layers, `layered_second_order_term` (layered_second_order.hpp) for any
/// other layer list (convolutions, pooling), `second_order_term` of its forward function for a
/// model without one (a user's function).
SecondOrder model_second_order_term(const pk::nn::Model& model, const pk::ad::Tensor& queries,
                                    const pk::ad::Tensor& w, const pk::ad::Tensor& dw, pk::ad::Tape& tape);

/// The change along the whole step, integral_0^1 J(Q; w + t dw) dw dt, by Gauss-Legendre
/// quadrature: the prediction of the exact (integrated) path kernel. Nodes double from
/// `min_nodes` for each query point (row) separately until its entries match `actual_change` to
/// within `tolerance` times the row's largest |actual change| plus `floor` plus the row's entry of
/// `row_floor` (when given: the rounding in f_{k+1} - f_k, about 1e-16 |f|, which no quadrature
/// can beat), or until `max_nodes` is reached. A row keeps the quadrature at which it converged,
/// so its result does not depend on the other rows in the batch.
struct ExactChange {
  pk::ad::Tensor change;  // the quadrature, P x C
  int nodes = 0;          // the most nodes any row used
  double error = 0.0;     // max |quadrature - actual| over the batch
};
ExactChange exact_change(ModelFunction f, const pk::ad::Tensor& queries, const pk::ad::Tensor& w,
                         const pk::ad::Tensor& dw, const pk::ad::Tensor& actual_change, pk::ad::Tape& tape,
                         double tolerance = 1e-12, double floor = 0.0, int min_nodes = 2, int max_nodes = 64,
                         const std::vector<double>& row_floor = {});

/// f(Q; w), P x C.
pk::ad::Tensor predict(ModelFunction f, const pk::ad::Tensor& queries, const pk::ad::Tensor& w,
                       pk::ad::Tape& tape);

}  // namespace pk::kernel
