// sign: y = -1, 0 or 1 as x < 0, x = 0, x > 0. Piecewise constant, so its derivative is 0 at every
// point where it exists; at 0 it is taken as 0 too. It is the local derivative of abs.
#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  detail::unary_forward(t, out, [](double x) { return x > 0.0 ? 1.0 : x < 0.0 ? -1.0 : 0.0; });
}
void tangent(Tape&, Node& out) { out.tangent = nullptr; }
void backward(BackwardContext&) {}
const OpRule rule{"sign", forward, tangent, backward};
}  // namespace

Var sign(Var x) {
  Tape& t = detail::tape_of("sign", {x});
  return record(t, rule, {x}, x.shape());
}
}  // namespace pk::ad
