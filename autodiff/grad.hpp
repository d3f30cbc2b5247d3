#pragma once
// Reverse-mode derivatives on a tape: gradients, vector-Jacobian products and, with
// `create_graph`, gradients that are themselves recorded and can be differentiated again.

#include <span>
#include <vector>

#include "autodiff/tape.hpp"

namespace pk::ad {

/// How `grad` runs.
struct GradOptions {
  /// Record the backward pass, so the returned gradients are ordinary recorded values that can
  /// be differentiated again (to any order). Without it the backward pass is recorded only
  /// while it runs and then rewound: the results are constant leaves, and the tape keeps only
  /// them.
  bool create_graph = false;
  /// The adjoint of `y`: u in u^T dy/dw. Required when `y` is not a scalar, and must have
  /// y's shape. Undefined means 1 for a scalar output.
  Var seed;
};

/// Gradients of `y` (or u^T dy/dw for a seed u) with respect to each value in `wrt`, in the same
/// order and shapes. A value `y` does not depend on gets zeros. When the tape carries
/// forward-mode tangents, each result also carries the tangent of the gradient: seeding the
/// leaf w with tangent v gives the Hessian-vector product H v as `result.tangent()`
/// (forward-over-reverse).
/// Throws `GradError` for a non-scalar `y` without a seed or a seed of the wrong shape, and
/// `TapeError` for a value that is not alive on y's tape.
std::vector<Var> grad(Var y, std::span<const Var> wrt, const GradOptions& options = {});
/// The gradient with respect to one value (no vector allocated).
Var grad(Var y, Var wrt, const GradOptions& options = {});
/// As above, writing the results into `out` (same length as `wrt`).
void grad(Var y, std::span<const Var> wrt, std::span<Var> out, const GradOptions& options = {});

}  // namespace pk::ad
