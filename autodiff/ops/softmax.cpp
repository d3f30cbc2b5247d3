// softmax: y_j = exp(x_j - m) / sum_k exp(x_k - m) along an axis, m the line's maximum, whose own
// term is exactly 1 (see lines.hpp): exact at any magnitude, where exp(x_j - logsumexp(x)) is not. Its
// Jacobian is diag(y) - y y^T along the axis, so for an adjoint g: dx = y * (g - sum_j g_j y_j), written in
// recorded ops so it differentiates again. The tangent is the same expression with g = dx.
#include <cmath>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"
#include "autodiff/ops/lines.hpp"

namespace pk::ad {
namespace {
void softmax_lines(const Shape& s, int axis, const double* x, double* y) {
  detail::for_each_line(s, axis, [&](std::int64_t first, std::int64_t stride, std::int64_t n, std::int64_t) {
    detail::line_softmax(x, y, first, stride, n);
  });
}

// dy = y * (dx - sum_j y_j dx_j) along each line.
void softmax_tangent_lines(const Shape& s, int axis, const double* y, const double* dx, double* dy) {
  detail::for_each_line(s, axis, [&](std::int64_t first, std::int64_t stride, std::int64_t n, std::int64_t) {
    double mean = 0.0;
    for (std::int64_t j = 0; j < n; ++j) mean += y[first + j * stride] * dx[first + j * stride];
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int64_t i = first + j * stride;
      dy[i] = y[i] * (dx[i] - mean);
    }
  });
}

void forward(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  out.value = allocate(t, out.shape.size());
  softmax_lines(x.shape, static_cast<int>(out.params.ints[0]), x.value, out.value);
}
void tangent(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  out.tangent = allocate(t, out.shape.size());
  softmax_tangent_lines(x.shape, static_cast<int>(out.params.ints[0]), out.value, x.tangent, out.tangent);
}
void backward(BackwardContext& c) {
  const int axis = static_cast<int>(c.params().ints[0]);
  const Var y = c.output(), g = c.grad_output();
  const Shape s = y.shape();
  const Var inner = reshape(sum(mul(g, y), axis), detail::keep_axis_shape(s, axis));
  c.accumulate(0, mul(y, sub(g, inner)));
}
const OpRule rule{"softmax", forward, tangent, backward};
}  // namespace

Var softmax(Var x, int axis) {
  Tape& t = detail::tape_of("softmax", {x});
  detail::reduced_shape(x.shape(), axis, "softmax");
  return record(t, rule, {x}, x.shape(), {0.0, {axis, 0, 0, 0}});
}
}  // namespace pk::ad
