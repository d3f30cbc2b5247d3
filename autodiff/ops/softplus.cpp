// softplus: y = ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|), the second form for large |x|.
// dy/dx = sigmoid(x).
#include <cmath>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  detail::unary_forward(t, out,
                        [](double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); });
}
void tangent(Tape& t, Node& out) {
  detail::unary_tangent(
      t, out, []([[maybe_unused]] double x, [[maybe_unused]] double y) { return detail::logistic(x); });
}
void backward(BackwardContext& c) {
  const Var g = c.grad_output();
  c.accumulate(0, mul(g, sigmoid(c.input(0))));
}
const OpRule rule{"softplus", forward, tangent, backward};
}  // namespace

Var softplus(Var x) {
  Tape& t = detail::tape_of("softplus", {x});
  return record(t, rule, {x}, x.shape());
}
}  // namespace pk::ad
