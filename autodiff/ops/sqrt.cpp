// sqrt: y = sqrt x. dy/dx = 1 / (2y): infinite at 0, NaN below 0.
#include <cmath>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  detail::unary_forward(t, out, [](double x) { return std::sqrt(x); });
}
void tangent(Tape& t, Node& out) {
  detail::unary_tangent(t, out, []([[maybe_unused]] double x, [[maybe_unused]] double y) { return 0.5 / y; });
}
void backward(BackwardContext& c) {
  const Var g = c.grad_output();
  c.accumulate(0, adjoint_scale(g, rdiv_scalar(0.5, c.output())));  // infinite at 0
}
const OpRule rule{"sqrt", forward, tangent, backward};
}  // namespace

Var sqrt(Var x) {
  Tape& t = detail::tape_of("sqrt", {x});
  return record(t, rule, {x}, x.shape());
}
}  // namespace pk::ad
