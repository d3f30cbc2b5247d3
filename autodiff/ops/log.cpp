// log: y = ln x. dy/dx = 1/x (infinite at 0; ln of a negative number is NaN).
#include <cmath>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  detail::unary_forward(t, out, [](double x) { return std::log(x); });
}
void tangent(Tape& t, Node& out) {
  detail::unary_tangent(t, out, []([[maybe_unused]] double x, [[maybe_unused]] double y) { return 1.0 / x; });
}
void backward(BackwardContext& c) {
  const Var g = c.grad_output();
  c.accumulate(0, adjoint_scale(g, rdiv_scalar(1.0, c.input(0))));  // infinite at 0
}
const OpRule rule{"log", forward, tangent, backward};
}  // namespace

Var log(Var x) {
  Tape& t = detail::tape_of("log", {x});
  return record(t, rule, {x}, x.shape());
}
}  // namespace pk::ad
