// step: y = 1 where x > 0, else 0 (the Heaviside step with step(0) = 0). Piecewise constant, so its
// derivative is 0; it is the local derivative of relu.
#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  detail::unary_forward(t, out, [](double x) { return x > 0.0 ? 1.0 : 0.0; });
}
void tangent(Tape&, Node& out) { out.tangent = nullptr; }
void backward(BackwardContext&) {}
const OpRule rule{"step", forward, tangent, backward};
}  // namespace

Var step(Var x) {
  Tape& t = detail::tape_of("step", {x});
  return record(t, rule, {x}, x.shape());
}
}  // namespace pk::ad
