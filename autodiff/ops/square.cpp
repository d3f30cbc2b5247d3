// square: y = x^2. dy/dx = 2x.
#include <cmath>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  detail::unary_forward(t, out, [](double x) { return x * x; });
}
void tangent(Tape& t, Node& out) {
  detail::unary_tangent(t, out, []([[maybe_unused]] double x, [[maybe_unused]] double y) { return 2.0 * x; });
}
void backward(BackwardContext& c) {
  const Var g = c.grad_output();
  c.accumulate(0, mul(g, mul_scalar(c.input(0), 2.0)));
}
const OpRule rule{"square", forward, tangent, backward};
}  // namespace

Var square(Var x) {
  Tape& t = detail::tape_of("square", {x});
  return record(t, rule, {x}, x.shape());
}
}  // namespace pk::ad
