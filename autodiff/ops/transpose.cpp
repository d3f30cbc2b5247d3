// transpose: y = x^T for a matrix (a vector or scalar is its own transpose). The adjoint is the
// transposed adjoint.
#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void transpose_values(const double* x, std::int64_t rows, std::int64_t cols, double* out) {
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) out[c * rows + r] = x[r * cols + c];
}
void forward(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  out.value = allocate(t, out.shape.size());
  transpose_values(x.value, x.shape.dim(0), x.shape.dim(1), out.value);
}
void tangent(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  out.tangent = allocate(t, out.shape.size());
  transpose_values(x.tangent, x.shape.dim(0), x.shape.dim(1), out.tangent);
}
void backward(BackwardContext& c) { c.accumulate(0, transpose(c.grad_output())); }
const OpRule rule{"transpose", forward, tangent, backward};
}  // namespace

Var transpose(Var x) {
  Tape& t = detail::tape_of("transpose", {x});
  if (x.shape().rank < 2) return x;
  return record(t, rule, {x}, Shape::matrix(x.shape().dim(1), x.shape().dim(0)));
}
}  // namespace pk::ad
