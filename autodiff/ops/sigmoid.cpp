// sigmoid: y = 1 / (1 + e^-x). dy/dx = y (1 - y). The forward picks the form whose
// exponential cannot overflow.
#include <cmath>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  detail::unary_forward(t, out, [](double x) { return detail::logistic(x); });
}
void tangent(Tape& t, Node& out) {
  detail::unary_tangent(t, out,
                        []([[maybe_unused]] double x, [[maybe_unused]] double y) { return y * (1.0 - y); });
}
void backward(BackwardContext& c) {
  const Var g = c.grad_output();
  const Var y = c.output();
  c.accumulate(0, mul(g, y - square(y)));
}
const OpRule rule{"sigmoid", forward, tangent, backward};
}  // namespace

Var sigmoid(Var x) {
  Tape& t = detail::tape_of("sigmoid", {x});
  return record(t, rule, {x}, x.shape());
}
}  // namespace pk::ad
