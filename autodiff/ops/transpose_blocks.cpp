// transpose_blocks: each row of an N x (rows*cols) matrix read as a rows x cols matrix and
// transposed. conv2d's product comes out position-major ((N*P) x out) and images are
// channel-major (N x (out*P)); this is the reordering between them. It is a permutation, so its
// adjoint is its inverse, the same op with rows and cols swapped.
#include <string>

#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void transpose_values(std::int64_t blocks, std::int64_t rows, std::int64_t cols, const double* x,
                      double* y) {
  for (std::int64_t b = 0; b < blocks; ++b) {
    const double* xb = x + b * rows * cols;
    double* yb = y + b * rows * cols;
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = 0; c < cols; ++c) yb[c * rows + r] = xb[r * cols + c];
  }
}

void forward(Tape& t, Node& out) {
  const Node& x = t.node_at(out.inputs[0]);
  out.value = t.allocate(out.shape.size());
  transpose_values(x.shape.dim(0), out.params.ints[0], out.params.ints[1], x.value, out.value);
}
void tangent(Tape& t, Node& out) {
  const Node& x = t.node_at(out.inputs[0]);
  out.tangent = t.allocate(out.shape.size());
  transpose_values(x.shape.dim(0), out.params.ints[0], out.params.ints[1], x.tangent,
                   out.tangent);
}
void backward(BackwardContext& c) {
  c.accumulate(0, transpose_blocks(c.grad_output(), c.params().ints[1], c.params().ints[0]));
}
const OpRule rule{"transpose_blocks", forward, tangent, backward};
}  // namespace

Var transpose_blocks(Var x, std::int64_t rows, std::int64_t cols) {
  Tape& t = detail::tape_of("transpose_blocks", {x});
  const Shape s = x.shape();
  std::int64_t n = 0;
  if (s.rank != 2 || rows < 0 || cols < 0 || __builtin_mul_overflow(rows, cols, &n) ||
      n != s.dim(1))
    throw ShapeError("transpose_blocks: rows of shape " + s.str() + " are not " +
                     std::to_string(rows) + " x " + std::to_string(cols) + " blocks");
  if (rows <= 1 || cols <= 1) return x;  // transposing a single row or column moves nothing
  return t.record(rule, {x}, s, {0.0, {rows, cols, 0, 0}});
}
}  // namespace pk::ad
