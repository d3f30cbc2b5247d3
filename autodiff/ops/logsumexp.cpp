// logsumexp: y = log sum_j exp(x_j) along an axis, computed as m + log1p(sum_{j != argmax}
// exp(x_j - m)) with m the maximum, so that large x cannot overflow and the result is exact to a
// rounding at any magnitude (an axis whose maximum is -inf gives -inf; +inf gives +inf). dy/dx_j =
// softmax(x)_j, so the adjoint is the output adjoint broadcast along the axis times softmax(x), and softmax
// is itself differentiable.
#include <cmath>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"
#include "autodiff/ops/lines.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  out.value = allocate(t, out.shape.size());
  detail::for_each_line(x.shape, static_cast<int>(out.params.ints[0]),
                        [&](std::int64_t first, std::int64_t stride, std::int64_t n, std::int64_t line) {
                          out.value[line] = detail::line_logsumexp(x.value, first, stride, n);
                        });
}
// The tangent is softmax(x) . dx along each line. The weights come from x - max like softmax's
// value, not from exp(x - y): y has lost the digits that x - y would need at large |x|.
void tangent(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  out.tangent = allocate(t, out.shape.size());
  detail::for_each_line(x.shape, static_cast<int>(out.params.ints[0]),
                        [&](std::int64_t first, std::int64_t stride, std::int64_t n, std::int64_t line) {
                          const detail::LineMax l = detail::line_max(x.value, first, stride, n);
                          const double s = std::isfinite(l.max) ? 1.0 + l.rest : 1.0;
                          double acc = 0.0;
                          for (std::int64_t j = 0; j < n; ++j) {
                            const std::int64_t i = first + j * stride;
                            acc += std::exp(x.value[i] - l.max) / s * x.tangent[i];
                          }
                          out.tangent[line] = acc;
                        });
}
void backward(BackwardContext& c) {
  const int axis = static_cast<int>(c.params().ints[0]);
  const Shape xs = c.input_shape(0);
  const Var g = reshape(c.grad_output(), detail::keep_axis_shape(xs, axis));
  c.accumulate(0, mul(broadcast_to(g, xs), softmax(c.input(0), axis)));
}
const OpRule rule{"logsumexp", forward, tangent, backward};
}  // namespace

Var logsumexp(Var x, int axis) {
  Tape& t = detail::tape_of("logsumexp", {x});
  const Shape s = detail::reduced_shape(x.shape(), axis, "logsumexp");
  return record(t, rule, {x}, s, {0.0, {axis, 0, 0, 0}});
}

}  // namespace pk::ad
