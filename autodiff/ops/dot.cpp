// dot: y = sum_i a_i b_i for two vectors of equal length. dy/da = b, dy/db = a, so the adjoints
// are the scalar adjoint broadcast times the other operand.
#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
double inner(const double* a, const double* b, std::int64_t n) {
  double s = 0.0;
  for (std::int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}
void forward(Tape& t, Node& out) {
  const Node& a = node_at(t, out.inputs[0]);
  const Node& b = node_at(t, out.inputs[1]);
  out.value = allocate(t, 1);
  out.value[0] = inner(a.value, b.value, a.shape.size());
}
void tangent(Tape& t, Node& out) {
  const Node& a = node_at(t, out.inputs[0]);
  const Node& b = node_at(t, out.inputs[1]);
  const std::int64_t n = a.shape.size();
  out.tangent = allocate(t, 1);
  out.tangent[0] =
      (a.tangent ? inner(a.tangent, b.value, n) : 0.0) + (b.tangent ? inner(a.value, b.tangent, n) : 0.0);
}
void backward(BackwardContext& c) {
  const Var g = c.grad_output();
  if (c.needs(0)) c.accumulate(0, mul(c.input(1), g));
  if (c.needs(1)) c.accumulate(1, mul(c.input(0), g));
}
const OpRule rule{"dot", forward, tangent, backward};
}  // namespace

Var dot(Var a, Var b) {
  Tape& t = detail::tape_of("dot", {a, b});
  if (a.shape().rank != 1 || b.shape() != a.shape())
    throw ShapeError("dot: needs two vectors of equal length, got " + a.shape().str() + " and " +
                     b.shape().str());
  return record(t, rule, {a, b}, Shape::scalar());
}
}  // namespace pk::ad
