// sub: y = a - b with broadcasting. dy/da = 1, dy/db = -1.
#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  detail::binary_forward(t, out, [](double a, double b) { return a - b; });
}
void tangent(Tape& t, Node& out) {
  detail::binary_tangent(
      t, out, [](double, double, double) { return 1.0; }, [](double, double, double) { return -1.0; });
}
void backward(BackwardContext& c) {
  const Var g = c.grad_output();
  if (c.needs(0)) c.accumulate(0, sum_to(g, c.input_shape(0)));
  if (c.needs(1)) c.accumulate(1, sum_to(neg(g), c.input_shape(1)));
}
const OpRule rule{"sub", forward, tangent, backward};
}  // namespace

Var sub(Var a, Var b) {
  Tape& t = detail::tape_of("sub", {a, b});
  return record(t, rule, {a, b}, broadcast_shapes(a.shape(), b.shape(), "sub"));
}
Var operator-(Var a, Var b) { return sub(a, b); }
}  // namespace pk::ad
