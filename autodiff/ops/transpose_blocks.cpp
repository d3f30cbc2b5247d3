// transpose_blocks: each row of an N x (rows*cols*inner) matrix read as a rows x cols matrix of
// blocks of `inner` contiguous elements and transposed block-wise. conv2d's product comes out
// channel-major over the whole batch (out x (N*P)) and images are image-major (N x (out*P)); this
// is the reordering between them (one row, rows = out, cols = N, inner = P). It is a
// permutation, so its adjoint is its inverse, the same op with rows and cols swapped.
#include <algorithm>
#include <string>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
struct Blocks {
  std::int64_t rows, cols, inner;
};

void transpose_values(std::int64_t lines, const Blocks& b, const double* x, double* y) {
  const std::int64_t line = b.rows * b.cols * b.inner;
  for (std::int64_t l = 0; l < lines; ++l) {
    const double* xl = x + l * line;
    double* yl = y + l * line;
    if (b.inner == 1) {
      for (std::int64_t r = 0; r < b.rows; ++r)
        for (std::int64_t c = 0; c < b.cols; ++c) yl[c * b.rows + r] = xl[r * b.cols + c];
      continue;
    }
    for (std::int64_t r = 0; r < b.rows; ++r)
      for (std::int64_t c = 0; c < b.cols; ++c) {
        const double* from = xl + (r * b.cols + c) * b.inner;
        double* to = yl + (c * b.rows + r) * b.inner;
        // Blocks are short (a conv layer's output positions per image): an inline loop, not a
        // call to memmove per block.
        for (std::int64_t e = 0; e < b.inner; ++e) to[e] = from[e];
      }
  }
}

Blocks blocks_of(const Node& n) { return {n.params.ints[0], n.params.ints[1], n.params.ints[2]}; }

void forward(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  out.value = allocate(t, out.shape.size());
  transpose_values(x.shape.dim(0), blocks_of(out), x.value, out.value);
}
void tangent(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  out.tangent = allocate(t, out.shape.size());
  transpose_values(x.shape.dim(0), blocks_of(out), x.tangent, out.tangent);
}
void backward(BackwardContext& c) {
  const OpParams& p = c.params();
  c.accumulate(0, transpose_blocks(c.grad_output(), p.ints[1], p.ints[0], p.ints[2]));
}
const OpRule rule{"transpose_blocks", forward, tangent, backward};
}  // namespace

Var transpose_blocks(Var x, std::int64_t rows, std::int64_t cols, std::int64_t inner) {
  Tape& t = detail::tape_of("transpose_blocks", {x});
  const Shape s = x.shape();
  std::int64_t n = 0;
  if (s.rank != 2 || rows < 0 || cols < 0 || inner < 1 || __builtin_mul_overflow(rows, cols, &n) ||
      __builtin_mul_overflow(n, inner, &n) || n != s.dim(1))
    throw ShapeError("transpose_blocks: rows of shape " + s.str() + " are not " + std::to_string(rows) +
                     " x " + std::to_string(cols) + " blocks of " + std::to_string(inner));
  if (rows <= 1 || cols <= 1) return x;  // transposing a single row or column moves nothing
  return record(t, rule, {x}, s, {0.0, {rows, cols, inner, 0}});
}
}  // namespace pk::ad
