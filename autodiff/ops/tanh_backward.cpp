// tanh_backward: z = (1 - y^2) g, the adjoint of tanh's input given its output y and the output's
// adjoint g. One op instead of three keeps a tanh network's gradient to one pass per layer, and
// its own rule keeps it differentiable: dz/dy = -2 y g, dz/dg = 1 - y^2.
#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  detail::binary_forward(t, out, [](double y, double g) { return (1.0 - y * y) * g; });
}
void tangent(Tape& t, Node& out) {
  detail::binary_tangent(
      t, out, [](double y, double g, double) { return -2.0 * y * g; },
      [](double y, double, double) { return 1.0 - y * y; });
}
void backward(BackwardContext& c) {
  const Var gz = c.grad_output();
  const Var y = c.input(0), g = c.input(1);
  if (c.needs(0)) c.accumulate(0, mul_scalar(mul(mul(gz, y), g), -2.0));
  if (c.needs(1)) c.accumulate(1, tanh_backward(y, gz));
}
const OpRule rule{"tanh_backward", forward, tangent, backward};
}  // namespace

Var tanh_backward(Var y, Var g) {
  Tape& t = detail::tape_of("tanh_backward", {y, g});
  if (y.shape() != g.shape())
    throw ShapeError("tanh_backward: output " + y.shape().str() + " and adjoint " + g.shape().str() +
                     " differ in shape");
  return record(t, rule, {y, g}, y.shape());
}
}  // namespace pk::ad
