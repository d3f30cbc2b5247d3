// abs: y = |x|. dy/dx = sign(x), with the derivative at 0 taken as 0 (a subgradient).
#include <cmath>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  detail::unary_forward(t, out, [](double x) { return std::abs(x); });
}
void tangent(Tape& t, Node& out) {
  detail::unary_tangent(t, out, []([[maybe_unused]] double x, [[maybe_unused]] double y) {
    return x > 0.0 ? 1.0 : x < 0.0 ? -1.0 : 0.0;
  });
}
void backward(BackwardContext& c) {
  const Var g = c.grad_output();
  // sign(0) = 0 selects: an infinite adjoint at x = 0 still gives 0, not inf * 0.
  c.accumulate(0, adjoint_scale(sign(c.input(0)), g));
}
const OpRule rule{"abs", forward, tangent, backward};
}  // namespace

Var abs(Var x) {
  Tape& t = detail::tape_of("abs", {x});
  return record(t, rule, {x}, x.shape());
}
}  // namespace pk::ad
