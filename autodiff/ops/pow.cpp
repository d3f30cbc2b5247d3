// pow: y = x^p for a constant exponent p. dy/dx = p x^(p-1); for p = 0 the derivative is 0
// everywhere (not 0 * x^-1, which would be NaN at x = 0). Values follow std::pow, so a negative
// base with a non-integer exponent gives NaN, as it does in plain arithmetic.
#include <cmath>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  const double p = out.params.scalar;
  detail::unary_forward(t, out, [p](double x) { return std::pow(x, p); });
}
void tangent(Tape& t, Node& out) {
  const double p = out.params.scalar;
  detail::unary_tangent(t, out, [p](double x, double) { return p == 0.0 ? 0.0 : p * std::pow(x, p - 1.0); });
}
void backward(BackwardContext& c) {
  const double p = c.params().scalar;
  if (p == 0.0) return;
  const Var x = c.input(0);
  const Var local = p == 1.0 ? c.tape().fill(x.shape(), 1.0) : mul_scalar(pow(x, p - 1.0), p);
  c.accumulate(0, adjoint_scale(c.grad_output(), local));  // infinite at 0 for p < 1
}
const OpRule rule{"pow", forward, tangent, backward};
}  // namespace

Var pow(Var x, double p) {
  Tape& t = detail::tape_of("pow", {x});
  return record(t, rule, {x}, x.shape(), {p, {}});
}
}  // namespace pk::ad
