// exp: y = e^x. dy/dx = e^x = y.
#include <cmath>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  detail::unary_forward(t, out, [](double x) { return std::exp(x); });
}
void tangent(Tape& t, Node& out) {
  detail::unary_tangent(t, out, []([[maybe_unused]] double x, [[maybe_unused]] double y) { return y; });
}
void backward(BackwardContext& c) {
  const Var g = c.grad_output();
  c.accumulate(0, mul(g, c.output()));
}
const OpRule rule{"exp", forward, tangent, backward};
}  // namespace

Var exp(Var x) {
  Tape& t = detail::tape_of("exp", {x});
  return record(t, rule, {x}, x.shape());
}
}  // namespace pk::ad
