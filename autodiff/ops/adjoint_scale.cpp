// adjoint_scale: y = g * s, except y = 0 wherever g is exactly 0, whatever s is (infinite, NaN).
// Backward rules multiply an incoming adjoint g by a local derivative s that can be infinite
// (sqrt and log at 0, x^p with p < 1 at 0, c / x at 0); an adjoint that is exactly zero must pass
// on zero, not 0 * inf = NaN, as CppAD's reverse rules do. Away from g = 0 it is the product:
// dy/dg = s, dy/ds = g.
#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
double scaled(double g, double s) { return g == 0.0 ? 0.0 : g * s; }

void forward(Tape& t, Node& out) { detail::binary_forward(t, out, scaled); }
void tangent(Tape& t, Node& out) {
  // dy = dg * s + g * ds, each product taken as adjoint_scale takes it.
  const Node& g = node_at(t, out.inputs[0]);
  const Node& s = node_at(t, out.inputs[1]);
  out.tangent = allocate(t, out.shape.size());
  const double *gv = g.value, *sv = s.value, *gt = g.tangent, *st = s.tangent;
  double* yt = out.tangent;
  detail::for_each_pair(out.shape, g.shape, s.shape, [&](std::int64_t o, std::int64_t i, std::int64_t j) {
    yt[o] = (gt ? scaled(gt[i], sv[j]) : 0.0) + (st ? scaled(gv[i], st[j]) : 0.0);
  });
}
void backward(BackwardContext& c) {
  const Var gy = c.grad_output();
  if (c.needs(0)) c.accumulate(0, sum_to(adjoint_scale(gy, c.input(1)), c.input_shape(0)));
  if (c.needs(1)) c.accumulate(1, sum_to(mul(gy, c.input(0)), c.input_shape(1)));
}
const OpRule rule{"adjoint_scale", forward, tangent, backward};
}  // namespace

Var adjoint_scale(Var g, Var s) {
  Tape& t = detail::tape_of("adjoint_scale", {g, s});
  return record(t, rule, {g, s}, broadcast_shapes(g.shape(), s.shape(), "adjoint_scale"));
}
}  // namespace pk::ad
