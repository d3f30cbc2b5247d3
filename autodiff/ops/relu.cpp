// relu: y = max(x, 0). dy/dx = 1 for x > 0, 0 for x <= 0: at the kink the derivative is taken
// as 0 (as PyTorch does), so a unit sitting exactly at 0 passes no gradient.
#include <cmath>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  detail::unary_forward(t, out, [](double x) { return x > 0.0 ? x : 0.0; });
}
void tangent(Tape& t, Node& out) {
  detail::unary_tangent(
      t, out, []([[maybe_unused]] double x, [[maybe_unused]] double y) { return x > 0.0 ? 1.0 : 0.0; });
}
void backward(BackwardContext& c) {
  const Var g = c.grad_output();
  // The step selects: an infinite adjoint at an inactive unit still gives 0, not inf * 0.
  c.accumulate(0, adjoint_scale(step(c.input(0)), g));
}
const OpRule rule{"relu", forward, tangent, backward};
}  // namespace

Var relu(Var x) {
  Tape& t = detail::tape_of("relu", {x});
  return record(t, rule, {x}, x.shape());
}
}  // namespace pk::ad
