// The ops with one constant operand: y = x + c, y = c x, y = c / x. The constant is stored with
// the op instead of as a broadcast leaf, which keeps the tape short in loss formulas.
//   add_scalar: dy/dx = 1.   mul_scalar: dy/dx = c.   rdiv_scalar: dy/dx = -c / x^2.
#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void add_forward(Tape& t, Node& out) {
  const double c = out.params.scalar;
  detail::unary_forward(t, out, [c](double x) { return x + c; });
}
void add_tangent(Tape& t, Node& out) {
  detail::unary_tangent(t, out, [](double, double) { return 1.0; });
}
void add_backward(BackwardContext& c) { c.accumulate(0, c.grad_output()); }
const OpRule add_rule{"add_scalar", add_forward, add_tangent, add_backward};

void mul_forward(Tape& t, Node& out) {
  const double c = out.params.scalar;
  detail::unary_forward(t, out, [c](double x) { return c * x; });
}
void mul_tangent(Tape& t, Node& out) {
  const double c = out.params.scalar;
  detail::unary_tangent(t, out, [c](double, double) { return c; });
}
void mul_backward(BackwardContext& c) { c.accumulate(0, mul_scalar(c.grad_output(), c.params().scalar)); }
const OpRule mul_rule{"mul_scalar", mul_forward, mul_tangent, mul_backward};

void rdiv_forward(Tape& t, Node& out) {
  const double c = out.params.scalar;
  detail::unary_forward(t, out, [c](double x) { return c / x; });
}
void rdiv_tangent(Tape& t, Node& out) {
  detail::unary_tangent(t, out, [](double x, double y) { return -y / x; });
}
void rdiv_backward(BackwardContext& c) {
  const double k = c.params().scalar;
  if (k == 0.0) return;  // y = 0 / x is constant
  c.accumulate(0, adjoint_scale(c.grad_output(), rdiv_scalar(-k, square(c.input(0)))));
}
const OpRule rdiv_rule{"rdiv_scalar", rdiv_forward, rdiv_tangent, rdiv_backward};
}  // namespace

Var add_scalar(Var x, double c) {
  Tape& t = detail::tape_of("add_scalar", {x});
  return record(t, add_rule, {x}, x.shape(), {c, {}});
}
Var mul_scalar(Var x, double c) {
  Tape& t = detail::tape_of("mul_scalar", {x});
  return record(t, mul_rule, {x}, x.shape(), {c, {}});
}
Var rdiv_scalar(double c, Var x) {
  Tape& t = detail::tape_of("rdiv_scalar", {x});
  return record(t, rdiv_rule, {x}, x.shape(), {c, {}});
}

Var operator+(Var x, double c) { return add_scalar(x, c); }
Var operator+(double c, Var x) { return add_scalar(x, c); }
Var operator-(Var x, double c) { return add_scalar(x, -c); }
Var operator-(double c, Var x) { return add_scalar(neg(x), c); }
Var operator*(Var x, double c) { return mul_scalar(x, c); }
Var operator*(double c, Var x) { return mul_scalar(x, c); }
Var operator/(Var x, double c) { return mul_scalar(x, 1.0 / c); }
Var operator/(double c, Var x) { return rdiv_scalar(c, x); }
}  // namespace pk::ad
