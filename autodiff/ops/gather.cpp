// gather and scatter_add, each the other's adjoint: gather reads x at recorded flat indices,
// scatter_add adds values into zeros at those indices. Both are linear in their first operand;
// the indices are piecewise-constant data, so no adjoint flows into them. max_pool2d is a gather
// at the argmax of each window, which is how its derivative routes to the argmax and still
// differentiates again.
#include <algorithm>
#include <cmath>
#include <string>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"
#include "autodiff/ops/window.hpp"

namespace pk::ad {
namespace {
void gather_values(std::int64_t n, const double* x, const double* index, double* y) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = x[static_cast<std::int64_t>(index[i])];
}

void scatter_values(std::int64_t n, const double* src, const double* index, std::int64_t size, double* y) {
  std::fill_n(y, size, 0.0);
  for (std::int64_t i = 0; i < n; ++i) y[static_cast<std::int64_t>(index[i])] += src[i];
}

void gather_forward(Tape& t, Node& out) {
  out.value = allocate(t, out.shape.size());
  gather_values(out.shape.size(), node_at(t, out.inputs[0]).value, node_at(t, out.inputs[1]).value,
                out.value);
}
void gather_tangent(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  if (!x.tangent) {  // only the indices carried a tangent, and they are not differentiated
    out.tangent = nullptr;
    return;
  }
  out.tangent = allocate(t, out.shape.size());
  gather_values(out.shape.size(), x.tangent, node_at(t, out.inputs[1]).value, out.tangent);
}
void gather_backward(BackwardContext& c) {
  if (c.needs(0)) c.accumulate(0, scatter_add(c.grad_output(), c.input(1), c.input_shape(0)));
}
const OpRule gather_rule{"gather", gather_forward, gather_tangent, gather_backward};

void scatter_forward(Tape& t, Node& out) {
  const Node& src = node_at(t, out.inputs[0]);
  out.value = allocate(t, out.shape.size());
  scatter_values(src.shape.size(), src.value, node_at(t, out.inputs[1]).value, out.shape.size(), out.value);
}
void scatter_tangent(Tape& t, Node& out) {
  const Node& src = node_at(t, out.inputs[0]);
  if (!src.tangent) {
    out.tangent = nullptr;
    return;
  }
  out.tangent = allocate(t, out.shape.size());
  scatter_values(src.shape.size(), src.tangent, node_at(t, out.inputs[1]).value, out.shape.size(),
                 out.tangent);
}
void scatter_backward(BackwardContext& c) {
  if (c.needs(0)) c.accumulate(0, detail::gather_unchecked(c.grad_output(), c.input(1)));
}
const OpRule scatter_rule{"scatter_add", scatter_forward, scatter_tangent, scatter_backward};

// Every index an integer in [0, size): checked once where indices enter from outside.
void check_indices(TensorView index, std::int64_t size, const char* op, const Shape& target) {
  for (std::int64_t i = 0; i < index.size(); ++i) {
    const double v = index[i];
    if (!(v >= 0.0 && v < static_cast<double>(size) && v == std::floor(v)))
      throw ShapeError(std::string(op) + ": index " + std::to_string(v) + " at position " +
                       std::to_string(i) + " is not an element of shape " + target.str());
  }
}
}  // namespace

namespace detail {
Var gather_unchecked(Var x, Var index) { return record(x.tape(), gather_rule, {x, index}, index.shape()); }
}  // namespace detail

Var gather(Var x, Var index) {
  detail::tape_of("gather", {x, index});
  check_indices(index.value(), x.size(), "gather", x.shape());
  return detail::gather_unchecked(x, index);
}

Var scatter_add(Var src, Var index, Shape shape) {
  Tape& t = detail::tape_of("scatter_add", {src, index});
  shape.validate("scatter_add");
  if (src.shape() != index.shape())
    throw ShapeError("scatter_add: values of shape " + src.shape().str() + " and indices of shape " +
                     index.shape().str() + " differ");
  check_indices(index.value(), shape.size(), "scatter_add", shape);
  return record(t, scatter_rule, {src, index}, shape);
}
}  // namespace pk::ad
