// matmul: C = op(A) op(B), op transposing or not, for matrices. The transposes are flags handed to
// the packed product kernel, never formed. Adjoints, for G the adjoint of C:
//   C = A B     : dA = G B^T     dB = A^T G
//   C = A^T B   : dA = B G^T     dB = A G
//   C = A B^T   : dA = G B       dB = G^T A
//   C = A^T B^T : dA = B^T G^T   dB = G^T A^T
// each again a matmul with flags, so the rule differentiates to any order. Tangent:
// dC = op(dA) op(B) + op(A) op(dB). Vectors follow NumPy: reshaped to a row on the left and a
// column on the right, and the result reshaped back.
#include <string>

#include "autodiff/gemm.hpp"
#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
struct Product {
  bool ta, tb;
  std::int64_t m, n, k;
};

Product product_of(const Node& out, const Node& a) {
  const bool ta = out.params.ints[0] != 0, tb = out.params.ints[1] != 0;
  return {ta, tb, out.shape.dim(0), out.shape.dim(1), ta ? a.shape.dim(0) : a.shape.dim(1)};
}

// c (m x n) = op(a) op(b) + beta c
void multiply(const Product& p, const Shape& as, const double* a, const Shape& bs, const double* b,
              double beta, double* c) {
  detail::gemm(p.ta, p.tb, p.m, p.n, p.k, 1.0, a, as.dim(1), b, bs.dim(1), beta, c, p.n);
}

void forward(Tape& t, Node& out) {
  const Node& a = node_at(t, out.inputs[0]);
  const Node& b = node_at(t, out.inputs[1]);
  out.value = allocate(t, out.shape.size());
  multiply(product_of(out, a), a.shape, a.value, b.shape, b.value, 0.0, out.value);
}

void tangent(Tape& t, Node& out) {
  const Node& a = node_at(t, out.inputs[0]);
  const Node& b = node_at(t, out.inputs[1]);
  const Product p = product_of(out, a);
  out.tangent = allocate(t, out.shape.size());
  double beta = 0.0;
  if (a.tangent) {
    multiply(p, a.shape, a.tangent, b.shape, b.value, beta, out.tangent);
    beta = 1.0;
  }
  if (b.tangent) multiply(p, a.shape, a.value, b.shape, b.tangent, beta, out.tangent);
}

void backward(BackwardContext& c) {
  const bool ta = c.params().ints[0] != 0, tb = c.params().ints[1] != 0;
  const Var g = c.grad_output(), a = c.input(0), b = c.input(1);
  if (c.needs(0)) c.accumulate(0, ta ? matmul(b, g, tb, true) : matmul(g, b, false, !tb));
  if (c.needs(1)) c.accumulate(1, tb ? matmul(g, a, true, ta) : matmul(a, g, !ta, false));
}
const OpRule rule{"matmul", forward, tangent, backward};

std::string operands(const Shape& a, const Shape& b, bool ta, bool tb) {
  return a.str() + (ta ? "^T" : "") + " @ " + b.str() + (tb ? "^T" : "");
}
}  // namespace

Var matmul(Var a, Var b, bool transpose_a, bool transpose_b) {
  Tape& t = detail::tape_of("matmul", {a, b});
  const Shape as = a.shape(), bs = b.shape();
  if (as.rank != 2 || bs.rank != 2)
    throw ShapeError("matmul: transposed products need matrices, got " +
                     operands(as, bs, transpose_a, transpose_b));
  const std::int64_t m = transpose_a ? as.dim(1) : as.dim(0);
  const std::int64_t ka = transpose_a ? as.dim(0) : as.dim(1);
  const std::int64_t kb = transpose_b ? bs.dim(1) : bs.dim(0);
  const std::int64_t n = transpose_b ? bs.dim(0) : bs.dim(1);
  if (ka != kb)
    throw ShapeError("matmul: inner extents differ in " + operands(as, bs, transpose_a, transpose_b));
  return record(t, rule, {a, b}, Shape::matrix(m, n),
                {0.0, {transpose_a ? 1 : 0, transpose_b ? 1 : 0, 0, 0}});
}

Var matmul(Var a, Var b) {
  detail::tape_of("matmul", {a, b});
  const Shape as = a.shape(), bs = b.shape();
  if (as.rank == 0 || bs.rank == 0)
    throw ShapeError("matmul: scalar operand in " + operands(as, bs, false, false) + " (use mul)");
  if (as.rank == 2 && bs.rank == 2) return matmul(a, b, false, false);
  if (as.rank == 1 && bs.rank == 1) {
    if (as.size() != bs.size())
      throw ShapeError("matmul: inner extents differ in " + operands(as, bs, false, false));
    return dot(a, b);
  }
  const Var am = as.rank == 1 ? reshape(a, Shape::matrix(1, as.size())) : a;
  const Var bm = bs.rank == 1 ? reshape(b, Shape::matrix(bs.size(), 1)) : b;
  if (am.shape().dim(1) != bm.shape().dim(0))
    throw ShapeError("matmul: inner extents differ in " + operands(as, bs, false, false));
  const Var c = matmul(am, bm, false, false);
  return reshape(c, Shape::vector(c.size()));
}
}  // namespace pk::ad
