#pragma once
// The attribution backwards in time (docs/mathematics.md, "Attribution under momentum and Adam",
// Memory): the weights of v_{j,m} = J_j(x_m)^T L'_{j,m} in A_m(x) = sum_k J_k(x) c_{k,m} factor
// (mu^(k-j), beta1^(k-j)), so A_m(x) = sum_j u_j(x) . v_{j,m} with per-query buffers u_j(x)
// obeying the optimiser's adjoint recurrence over the steps N-1 .. 0. The state is Q x C x D per
// piece of query points instead of the forward route's M x D; the result is the same to rounding.

#include <cstdint>
#include <functional>

#include "autodiff/tensor.hpp"
#include "kernel/attribution_method.hpp"
#include "kernel/decomposition.hpp"
#include "nn/model.hpp"
#include "nn/optimizer.hpp"
#include "nn/trajectory.hpp"

namespace pk::kernel {

/// Step k of a recorded run, asked for in any order; its storage may live in `scratch`.
using StepReader = std::function<pk::nn::StepView(std::int64_t, pk::nn::StepRecord&)>;

/// The choice of attribution method for decomposing `steps` steps of a run with these facts at
/// `queries` query points with `options` (cut into pieces of options.query_chunk).
AttributionPlan plan_attribution(const pk::nn::Model& model, const pk::nn::RunFacts& facts,
                                 std::int64_t steps, std::int64_t queries,
                                 const DecompositionOptions& options, bool steps_in_reverse);

/// Fills the attribution of `report`, one piece of query points (rows first .. first +
/// report.queries of `queries`) that was decomposed forward with the backward method: A_m and
/// A_reg when the run has no kernel form, and the exact attribution with its per-step error
/// (max over the piece of |Jbar_k(x) dw_k - df_k(x)|, on the nodes of report.exact_nodes) when
/// report.options asks for it. One sweep over steps N-1 .. 0; Adam's preconditioners come from a
/// forward replay first (OptimizerShares without per-point state). Adds its state to
/// report.attribution_state_bytes.
void attribute_backward(const pk::nn::Model& model, const pk::nn::OptimizerConfig& optimizer,
                        const pk::ad::Tensor& training_inputs, pk::ad::TensorView queries, std::int64_t first,
                        std::int64_t steps, const StepReader& read, DecompositionReport& report);

}  // namespace pk::kernel
