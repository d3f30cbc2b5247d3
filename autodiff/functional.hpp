#pragma once
// Derivatives of functions of one flat vector, f: R^D -> R (or R^C for jacobian, jvp, vjp).
// `f` receives the recorded vector w and returns a recorded value built from it with autodiff
// ops. Each call records f on `workspace` (cleared first) when one is given, else on a tape of
// its own; pass a workspace in loops to avoid re-allocating tape memory.

#include "autodiff/function_ref.hpp"
#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"

namespace pk::ad {

/// A function of one recorded vector.
using Function = FunctionRef<Var(Var)>;

/// How a Hessian-vector product is computed.
enum class HvpMethod {
  /// Tangents along v carried through the forward and the backward sweep: one forward and one
  /// backward pass, each about twice the cost of the plain one.
  forward_over_reverse,
  /// The gradient recorded with create_graph, then differentiated along v: the route that
  /// reaches any order, kept as a cross-check of the fast one.
  reverse_over_reverse,
};

/// f(w) for a scalar f.
double value(Function f, TensorView w, Tape* workspace = nullptr);
/// The gradient of a scalar f at w (shape of w).
Tensor grad(Function f, TensorView w, Tape* workspace = nullptr);
/// The Hessian of a scalar f at w times v (shape of w). When `gradient` is given, it also
/// receives the gradient, which the same passes compute.
Tensor hvp(Function f, TensorView w, TensorView v, Tensor* gradient = nullptr,
           HvpMethod method = HvpMethod::forward_over_reverse, Tape* workspace = nullptr);
/// The full D x D Hessian of a scalar f at w (one backward sweep per row over the recorded
/// gradient).
Tensor hessian(Function f, TensorView w, Tape* workspace = nullptr);
/// The C x D Jacobian of f at w, C the number of elements of f(w) (row-major flattened).
Tensor jacobian(Function f, TensorView w, Tape* workspace = nullptr);
/// The directional derivative J v (shape of f(w)) by forward mode.
Tensor jvp(Function f, TensorView w, TensorView v, Tape* workspace = nullptr);
/// u^T J (shape of w) for u of the shape of f(w), by reverse mode.
Tensor vjp(Function f, TensorView w, TensorView u, Tape* workspace = nullptr);

}  // namespace pk::ad
