// mul: y = a * b elementwise with broadcasting. dy/da = b, dy/db = a.
#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  detail::binary_forward(t, out, [](double a, double b) { return a * b; });
}
void tangent(Tape& t, Node& out) {
  detail::binary_tangent(
      t, out, [](double, double b, double) { return b; }, [](double a, double, double) { return a; });
}
void backward(BackwardContext& c) {
  const Var g = c.grad_output();
  if (c.needs(0)) c.accumulate(0, sum_to(mul(g, c.input(1)), c.input_shape(0)));
  if (c.needs(1)) c.accumulate(1, sum_to(mul(g, c.input(0)), c.input_shape(1)));
}
const OpRule rule{"mul", forward, tangent, backward};
}  // namespace

Var mul(Var a, Var b) {
  Tape& t = detail::tape_of("mul", {a, b});
  return record(t, rule, {a, b}, broadcast_shapes(a.shape(), b.shape(), "mul"));
}
Var operator*(Var a, Var b) { return mul(a, b); }
}  // namespace pk::ad
