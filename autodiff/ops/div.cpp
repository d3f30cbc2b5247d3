// div: y = a / b elementwise with broadcasting. dy/da = 1/b, dy/db = -a/b^2 = -y/b.
#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  detail::binary_forward(t, out, [](double a, double b) { return a / b; });
}
void tangent(Tape& t, Node& out) {
  detail::binary_tangent(
      t, out, [](double, double b, double) { return 1.0 / b; },
      [](double, double b, double y) { return -y / b; });
}
void backward(BackwardContext& c) {
  // g / b, shared by both adjoints; infinite where b = 0, so a zero g must stay zero.
  const Var q = adjoint_scale(c.grad_output(), rdiv_scalar(1.0, c.input(1)));
  if (c.needs(0)) c.accumulate(0, sum_to(q, c.input_shape(0)));
  if (c.needs(1)) c.accumulate(1, sum_to(neg(adjoint_scale(q, c.output())), c.input_shape(1)));
}
const OpRule rule{"div", forward, tangent, backward};
}  // namespace

Var div(Var a, Var b) {
  Tape& t = detail::tape_of("div", {a, b});
  return record(t, rule, {a, b}, broadcast_shapes(a.shape(), b.shape(), "div"));
}
Var operator/(Var a, Var b) { return div(a, b); }
}  // namespace pk::ad
