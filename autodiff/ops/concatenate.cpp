// concatenate: values joined along an axis. Recorded as a chain of two-operand joins (a node
// holds at most three operands); the adjoint of each join is the two slices of its adjoint.
#include <algorithm>
#include <string>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void join(const double* a, const Shape& as, const double* b, const Shape& bs, int axis, double* out) {
  if (as.rank < 2 || axis == 0) {
    std::copy_n(a, as.size(), out);
    std::copy_n(b, bs.size(), out + as.size());
    return;
  }
  const std::int64_t rows = as.dim(0), ca = as.dim(1), cb = bs.dim(1);
  for (std::int64_t r = 0; r < rows; ++r) {
    std::copy_n(a + r * ca, ca, out + r * (ca + cb));
    std::copy_n(b + r * cb, cb, out + r * (ca + cb) + ca);
  }
}
void forward(Tape& t, Node& out) {
  const Node& a = node_at(t, out.inputs[0]);
  const Node& b = node_at(t, out.inputs[1]);
  out.value = allocate(t, out.shape.size());
  join(a.value, a.shape, b.value, b.shape, static_cast<int>(out.params.ints[0]), out.value);
}
void tangent(Tape& t, Node& out) {
  const Node& a = node_at(t, out.inputs[0]);
  const Node& b = node_at(t, out.inputs[1]);
  out.tangent = allocate(t, out.shape.size());
  // A missing tangent is zero; join needs real storage for it.
  auto tangent_or_zero = [&](const Node& n) -> const double* {
    if (n.tangent) return n.tangent;
    double* z = allocate(t, n.shape.size());
    std::fill_n(z, n.shape.size(), 0.0);
    return z;
  };
  join(tangent_or_zero(a), a.shape, tangent_or_zero(b), b.shape, static_cast<int>(out.params.ints[0]),
       out.tangent);
}
void backward(BackwardContext& c) {
  const int axis = static_cast<int>(c.params().ints[0]);
  const Shape a = c.input_shape(0);
  const std::int64_t na = a.rank < 2 ? a.size() : a.dim(axis);
  const Var g = c.grad_output();
  const std::int64_t n = g.shape().rank < 2 ? g.size() : g.shape().dim(axis);
  if (c.needs(0)) c.accumulate(0, slice(g, axis, 0, na));
  if (c.needs(1)) c.accumulate(1, slice(g, axis, na, n));
}
const OpRule rule{"concatenate", forward, tangent, backward};

Var join_two(Var a, Var b, int axis) {
  Tape& t = detail::tape_of("concatenate", {a, b});
  const Shape as = a.shape(), bs = b.shape();
  const bool same_rank = as.rank == bs.rank && as.rank > 0;
  const bool axis_in_range = axis >= 0 && axis < as.rank;
  // The other axis is looked at only once the axis is known to be valid.
  const bool other_axis_agrees =
      same_rank && axis_in_range && (as.rank < 2 || as.dim(1 - axis) == bs.dim(1 - axis));
  if (!other_axis_agrees)
    throw ShapeError("concatenate: cannot join shapes " + as.str() + " and " + bs.str() + " along axis " +
                     std::to_string(axis));
  Shape s = as.rank == 1 ? Shape::vector(as.size() + bs.size())
            : axis == 0  ? Shape::matrix(as.dim(0) + bs.dim(0), as.dim(1))
                         : Shape::matrix(as.dim(0), as.dim(1) + bs.dim(1));
  return record(t, rule, {a, b}, s, {0.0, {axis, 0, 0, 0}});
}
}  // namespace

Var concatenate(std::span<const Var> xs, int axis) {
  if (xs.empty()) throw ShapeError("concatenate: no values to join");
  Var out = xs[0];
  detail::tape_of("concatenate", {out});
  for (std::size_t i = 1; i < xs.size(); ++i) out = join_two(out, xs[i], axis);
  return out;
}
}  // namespace pk::ad
