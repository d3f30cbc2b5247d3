// sum and mean, of all elements or along one axis. They are sums to a broadcastable shape
// (sum_to) followed by a reshape that drops the axis, so their derivatives are those of sum_to
// and reshape: the adjoint broadcasts back over the summed elements (scaled by 1/n for mean).
#include <string>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace detail {
Shape reduced_shape(const Shape& s, int axis, const char* op) {
  if (axis < 0 || axis >= (s.rank == 0 ? 1 : s.rank))
    throw ShapeError(std::string(op) + ": axis " + std::to_string(axis) + " is out of range for shape " +
                     s.str());
  if (s.rank < 2) return Shape::scalar();
  return Shape::vector(axis == 0 ? s.dim(1) : s.dim(0));
}
}  // namespace detail

Var sum(Var x) {
  detail::tape_of("sum", {x});
  return sum_to(x, Shape::scalar());
}

Var sum(Var x, int axis) {
  detail::tape_of("sum", {x});
  const Shape dropped = detail::reduced_shape(x.shape(), axis, "sum");
  return reshape(sum_to(x, detail::keep_axis_shape(x.shape(), axis)), dropped);
}

Var mean(Var x) {
  detail::tape_of("mean", {x});
  return mul_scalar(sum(x), 1.0 / static_cast<double>(x.size()));
}

Var mean(Var x, int axis) {
  detail::tape_of("mean", {x});
  detail::reduced_shape(x.shape(), axis, "mean");
  const std::int64_t n = x.shape().rank < 2 ? x.size() : x.shape().dim(axis);
  return mul_scalar(sum(x, axis), 1.0 / static_cast<double>(n));
}
}  // namespace pk::ad
