// tanh: y = tanh x. dy/dx = 1 - y^2, applied through the fused op tanh_backward.
#include <cmath>

#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  detail::unary_forward(t, out, [](double x) { return std::tanh(x); });
}
void tangent(Tape& t, Node& out) {
  detail::unary_tangent(t, out, []([[maybe_unused]] double x, [[maybe_unused]] double y) { return 1.0 - y * y; });
}
void backward(BackwardContext& c) {
  const Var g = c.grad_output();
  c.accumulate(0, tanh_backward(c.output(), g));
}
const OpRule rule{"tanh", forward, tangent, backward};
}  // namespace

Var tanh(Var x) {
  Tape& t = detail::tape_of("tanh", {x});
  return t.record(rule, {x}, x.shape());
}
}  // namespace pk::ad
