// broadcast_to and sum_to, each the other's adjoint: broadcasting copies a value along the axes
// where its extent is 1; summing to a shape adds those copies back up.
#include <algorithm>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
// out[r, c] = x[r*rs + c*cs] over the output's rows x cols.
void broadcast_values(const double* x, const Shape& xs, double* out, const Shape& os) {
  const detail::Walk w = detail::walk(xs, os);
  const std::int64_t rows = os.as_rows(), cols = os.as_cols();
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) out[r * cols + c] = x[r * w.row_stride + c * w.col_stride];
}

// out (shape os, broadcastable to xs) = the sum of x over the broadcast axes.
void sum_values(const double* x, const Shape& xs, double* out, const Shape& os) {
  const detail::Walk w = detail::walk(os, xs);
  const std::int64_t rows = xs.as_rows(), cols = xs.as_cols();
  std::fill_n(out, os.size(), 0.0);
  if (w.col_stride == 0 && w.row_stride != 0) {
    // Each row to its own element (a bias gradient, whose rows are a conv layer's positions over
    // the whole batch: thousands long). Eight running sums in registers, combined pairwise at the
    // end: one sum would be bound by the latency of each addition, and a sum through memory by
    // store-to-load latency. The order is fixed, so the result is the same on every call.
    for (std::int64_t r = 0; r < rows; ++r) {
      const double* xr = x + r * cols;
      double acc[8] = {};
      std::int64_t c = 0;
      for (; c + 8 <= cols; c += 8)
        for (int k = 0; k < 8; ++k) acc[k] += xr[c + k];
      double total = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
      for (; c < cols; ++c) total += xr[c];
      out[r * w.row_stride] = total;
    }
    return;
  }
  if (w.row_stride == 0 && w.col_stride == 1) {
    // Columns summed over the rows (a bias gradient in batch layout), eight columns at a time
    // held in registers down the rows: summed into `out` row by row, each addition waited for
    // the previous one's store. Same order of additions as below.
    std::int64_t c0 = 0;
    for (; c0 + 8 <= cols; c0 += 8) {
      double acc[8] = {};
      for (std::int64_t r = 0; r < rows; ++r)
        for (int k = 0; k < 8; ++k) acc[k] += x[r * cols + c0 + k];
      std::copy_n(acc, 8, out + c0);
    }
    for (; c0 < cols; ++c0) {
      double acc = 0.0;
      for (std::int64_t r = 0; r < rows; ++r) acc += x[r * cols + c0];
      out[c0] = acc;
    }
    return;
  }
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) out[r * w.row_stride + c * w.col_stride] += x[r * cols + c];
}

void broadcast_forward(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  out.value = allocate(t, out.shape.size());
  broadcast_values(x.value, x.shape, out.value, out.shape);
}
void broadcast_tangent(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  out.tangent = allocate(t, out.shape.size());
  broadcast_values(x.tangent, x.shape, out.tangent, out.shape);
}
void broadcast_backward(BackwardContext& c) { c.accumulate(0, sum_to(c.grad_output(), c.input_shape(0))); }
const OpRule broadcast_rule{"broadcast_to", broadcast_forward, broadcast_tangent, broadcast_backward};

void sum_forward(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  out.value = allocate(t, out.shape.size());
  sum_values(x.value, x.shape, out.value, out.shape);
}
void sum_tangent(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  out.tangent = allocate(t, out.shape.size());
  sum_values(x.tangent, x.shape, out.tangent, out.shape);
}
void sum_backward(BackwardContext& c) { c.accumulate(0, broadcast_to(c.grad_output(), c.input_shape(0))); }
const OpRule sum_rule{"sum_to", sum_forward, sum_tangent, sum_backward};
}  // namespace

Var broadcast_to(Var x, Shape shape) {
  Tape& t = detail::tape_of("broadcast_to", {x});
  shape.validate("broadcast_to");
  if (x.shape() == shape) return x;
  if (!broadcasts_to(x.shape(), shape))
    throw ShapeError("broadcast_to: shape " + x.shape().str() + " does not broadcast to " + shape.str());
  return record(t, broadcast_rule, {x}, shape);
}

Var sum_to(Var x, Shape shape) {
  Tape& t = detail::tape_of("sum_to", {x});
  shape.validate("sum_to");
  if (x.shape() == shape) return x;
  if (!broadcasts_to(shape, x.shape()))
    throw ShapeError("sum_to: shape " + shape.str() + " does not broadcast to " + x.shape().str() + ", so " +
                     x.shape().str() + " cannot be summed to it");
  return record(t, sum_rule, {x}, shape);
}
}  // namespace pk::ad
