// add: y = a + b with broadcasting. dy/da = 1, dy/db = 1; a broadcast operand's adjoint is the
// adjoint summed over the axes it was broadcast along.
#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  detail::binary_forward(t, out, [](double a, double b) { return a + b; });
}
void tangent(Tape& t, Node& out) {
  auto one = [](double, double, double) { return 1.0; };
  detail::binary_tangent(t, out, one, one);
}
void backward(BackwardContext& c) {
  const Var g = c.grad_output();
  if (c.needs(0)) c.accumulate(0, sum_to(g, c.input_shape(0)));
  if (c.needs(1)) c.accumulate(1, sum_to(g, c.input_shape(1)));
}
const OpRule rule{"add", forward, tangent, backward};
}  // namespace

Var add(Var a, Var b) {
  Tape& t = detail::tape_of("add", {a, b});
  return record(t, rule, {a, b}, broadcast_shapes(a.shape(), b.shape(), "add"));
}
Var operator+(Var a, Var b) { return add(a, b); }
}  // namespace pk::ad
