// linear: Y = X W^T + b, a dense layer over a batch (X batch x in, W out x in, b of out), as
// PyTorch's Linear. One op instead of matmul then a broadcast add: the product is accumulated
// onto rows that already hold b, so the bias costs no pass of its own over Y, and a small
// network records one value per layer instead of two. Values are those of add(matmul(X, W^T), b)
// (the product's sum, then plus b) bit for bit while `in` fits one block of the packed GEMM (256);
// beyond, b joins after the first block, equal to rounding. Adjoints, for G the adjoint of Y:
//   dX = G W      dW = G^T X      db = G summed over the rows
// each a recorded op (matmul, sum_to), so the rule differentiates to any order. Tangent:
// dY = dX W^T + X dW^T + db.
#include <algorithm>
#include <string>

#include "autodiff/gemm.hpp"
#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
// y (rows x out) = x w^T + beta y
void product(const Node& x, const double* xv, const Node& w, const double* wv, double beta, double* y) {
  const std::int64_t rows = x.shape.dim(0), in = x.shape.dim(1), out = w.shape.dim(0);
  detail::gemm(false, true, rows, out, in, 1.0, xv, in, wv, in, beta, y, out);
}

// Narrow rows are filled eight columns at a time down the rows: a row-by-row copy, whether
// written with copy_n or as a plain loop (which GCC turns back into memcpy), costs a library call
// per row, more than the copy itself for 16-wide rows. Wide rows are copied whole: down the rows,
// every store of a 256-wide layer would land in the same two L1 sets.
void fill_rows(const double* __restrict b, std::int64_t rows, std::int64_t cols, double* __restrict y) {
  if (cols >= 64) {
    for (std::int64_t r = 0; r < rows; ++r) std::copy_n(b, cols, y + r * cols);
    return;
  }
  std::int64_t c = 0;
  for (; c + 8 <= cols; c += 8) {
    double v[8];
    std::copy_n(b + c, 8, v);
    for (std::int64_t r = 0; r < rows; ++r) std::copy_n(v, 8, y + r * cols + c);
  }
  for (; c < cols; ++c)
    for (std::int64_t r = 0; r < rows; ++r) y[r * cols + c] = b[c];
}
void forward(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  const Node& w = node_at(t, out.inputs[1]);
  const Node& b = node_at(t, out.inputs[2]);
  out.value = allocate(t, out.shape.size());
  fill_rows(b.value, out.shape.dim(0), out.shape.dim(1), out.value);
  product(x, x.value, w, w.value, 1.0, out.value);
}

void tangent(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  const Node& w = node_at(t, out.inputs[1]);
  const Node& b = node_at(t, out.inputs[2]);
  const std::int64_t rows = out.shape.dim(0), cols = out.shape.dim(1);
  out.tangent = allocate(t, out.shape.size());
  std::fill_n(out.tangent, out.shape.size(), 0.0);
  if (x.tangent) product(x, x.tangent, w, w.value, 0.0, out.tangent);
  if (w.tangent) product(x, x.value, w, w.tangent, 1.0, out.tangent);
  if (b.tangent)
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = 0; c < cols; ++c) out.tangent[r * cols + c] += b.tangent[c];
}

void backward(BackwardContext& c) {
  const Var g = c.grad_output();
  if (c.needs(0)) c.accumulate(0, matmul(g, c.input(1), false, false));
  if (c.needs(1)) c.accumulate(1, matmul(g, c.input(0), true, false));
  if (c.needs(2)) c.accumulate(2, sum_to(g, c.input_shape(2)));
}
const OpRule rule{"linear", forward, tangent, backward};
}  // namespace

Var linear(Var x, Var w, Var b) {
  Tape& t = detail::tape_of("linear", {x, w, b});
  const Shape xs = x.shape(), ws = w.shape(), bs = b.shape();
  if (xs.rank != 2 || ws.rank != 2 || bs.rank != 1 || xs.dim(1) != ws.dim(1) || bs.dim(0) != ws.dim(0))
    throw ShapeError("linear: input " + xs.str() + ", weight " + ws.str() + " and bias " + bs.str() +
                     " are not (batch, in), (out, in) and (out)");
  return record(t, rule, {x, w, b}, Shape::matrix(xs.dim(0), ws.dim(0)));
}
}  // namespace pk::ad
