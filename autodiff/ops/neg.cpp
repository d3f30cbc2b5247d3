// neg: y = -x. dy/dx = -1.
#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  detail::unary_forward(t, out, [](double x) { return -x; });
}
void tangent(Tape& t, Node& out) {
  detail::unary_tangent(t, out, [](double, double) { return -1.0; });
}
void backward(BackwardContext& c) { c.accumulate(0, neg(c.grad_output())); }
const OpRule rule{"neg", forward, tangent, backward};
}  // namespace

Var neg(Var x) {
  Tape& t = detail::tape_of("neg", {x});
  return record(t, rule, {x}, x.shape());
}
Var operator-(Var x) { return neg(x); }
}  // namespace pk::ad
