// erf: y = erf x. dy/dx = 2/sqrt(pi) e^{-x^2}.
#include <cmath>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  detail::unary_forward(t, out, [](double x) { return std::erf(x); });
}
void tangent(Tape& t, Node& out) {
  detail::unary_tangent(t, out, []([[maybe_unused]] double x, [[maybe_unused]] double y) {
    return detail::kTwoOverSqrtPi * std::exp(-x * x);
  });
}
void backward(BackwardContext& c) {
  const Var g = c.grad_output();
  const Var x = c.input(0);
  c.accumulate(0, mul(g, mul_scalar(exp(neg(square(x))), detail::kTwoOverSqrtPi)));
}
const OpRule rule{"erf", forward, tangent, backward};
}  // namespace

Var erf(Var x) {
  Tape& t = detail::tape_of("erf", {x});
  return record(t, rule, {x}, x.shape());
}
}  // namespace pk::ad
