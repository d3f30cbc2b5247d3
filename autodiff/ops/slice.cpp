// slice: elements [begin, end) along an axis, and pad, its adjoint: zeros around a value along an
// axis. The adjoint of a slice is the adjoint padded back to the input's extent; the adjoint of a
// pad is the slice of the adjoint that the input occupies. A slice of a vector, or of whole rows
// of a matrix, is contiguous and aliases its input: that is how a model's weight matrices are
// cut out of one flat parameter vector without copies.
#include <algorithm>
#include <string>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
// Whether a slice along `axis` of shape s is one contiguous run of elements.
bool contiguous(const Shape& s, int axis) { return s.rank < 2 || axis == 0; }

// Copies the [begin, end) columns of a rows x cols matrix.
void copy_columns(const double* x, std::int64_t rows, std::int64_t cols, std::int64_t begin, std::int64_t end,
                  double* out) {
  const std::int64_t w = end - begin;
  for (std::int64_t r = 0; r < rows; ++r) std::copy_n(x + r * cols + begin, w, out + r * w);
}

double* slice_of(Tape& t, const Node& x, const double* data, const Node& out) {
  const int axis = static_cast<int>(out.params.ints[0]);
  const std::int64_t begin = out.params.ints[1], end = out.params.ints[2];
  if (contiguous(x.shape, axis)) {
    const std::int64_t row = x.shape.rank < 2 ? 1 : x.shape.dim(1);
    return const_cast<double*>(data) + begin * row;  // aliases immutable recorded storage
  }
  double* y = allocate(t, out.shape.size());
  copy_columns(data, x.shape.dim(0), x.shape.dim(1), begin, end, y);
  return y;
}

void slice_forward(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  out.value = slice_of(t, x, x.value, out);
}
void slice_tangent(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  out.tangent = slice_of(t, x, x.tangent, out);
}
Var add_padded_in_place(Var acc, Var x, int axis, std::int64_t before);

void slice_backward(BackwardContext& c) {
  const OpParams& p = c.params();
  const int axis = static_cast<int>(p.ints[0]);
  const Var g = c.grad_output();
  // Several slices of one value (a model's layers cut from the flat parameter vector) each add
  // into their own region of its adjoint, rather than padding to full size and adding it all.
  // The sum this rule made for the slot is the slot's alone, so the next slice adds into it in
  // place: the gradient of D parameters in L slices writes D + D doubles, not L D.
  if (const BackwardContext::Partial so_far = c.partial(0); so_far.value.defined()) {
    c.assign(0,
             so_far.exclusive ? add_padded_in_place(so_far.value, g, axis, p.ints[1])
                              : add_padded(so_far.value, g, axis, p.ints[1]),
             /*exclusive=*/true);
    return;
  }
  const std::int64_t extent =
      c.input_shape(0).rank < 2 ? c.input_shape(0).size() : c.input_shape(0).dim(axis);
  const Var padded = pad(g, axis, p.ints[1], extent - p.ints[2]);
  c.assign(0, padded, /*exclusive=*/padded.index() != g.index());  // pad returns g when nothing pads
}
const OpRule slice_rule{"slice", slice_forward, slice_tangent, slice_backward};

void pad_values(const double* x, const Shape& xs, double* out, const Shape& os, int axis,
                std::int64_t before) {
  std::fill_n(out, os.size(), 0.0);
  if (contiguous(xs, axis)) {
    const std::int64_t row = xs.rank < 2 ? 1 : xs.dim(1);
    std::copy_n(x, xs.size(), out + before * row);
    return;
  }
  const std::int64_t rows = xs.dim(0), cols = xs.dim(1), ocols = os.dim(1);
  for (std::int64_t r = 0; r < rows; ++r) std::copy_n(x + r * cols, cols, out + r * ocols + before);
}
void pad_forward(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  out.value = allocate(t, out.shape.size());
  pad_values(x.value, x.shape, out.value, out.shape, static_cast<int>(out.params.ints[0]),
             out.params.ints[1]);
}
void pad_tangent(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  out.tangent = allocate(t, out.shape.size());
  pad_values(x.tangent, x.shape, out.tangent, out.shape, static_cast<int>(out.params.ints[0]),
             out.params.ints[1]);
}
void pad_backward(BackwardContext& c) {
  const OpParams& p = c.params();
  const int axis = static_cast<int>(p.ints[0]);
  const Shape in = c.input_shape(0);
  const std::int64_t extent = in.rank < 2 ? in.size() : in.dim(axis);
  c.accumulate(0, slice(c.grad_output(), axis, p.ints[1], p.ints[1] + extent));
}
const OpRule pad_rule{"pad", pad_forward, pad_tangent, pad_backward};

// out = acc (zeros when acc is null, nothing to do when out is acc), then x (zeros when null)
// added to the elements it covers from `before` along the axis.
void add_into(const double* acc, const Shape& os, const double* x, const Shape& xs, int axis,
              std::int64_t before, double* out) {
  if (!acc)
    std::fill_n(out, os.size(), 0.0);
  else if (acc != out)
    std::copy_n(acc, os.size(), out);
  if (!x) return;
  const bool whole_rows = contiguous(xs, axis);
  const std::int64_t rows = whole_rows ? 1 : xs.dim(0), cols = whole_rows ? xs.size() : xs.dim(1);
  const std::int64_t ocols = whole_rows ? os.size() : os.dim(1);
  const std::int64_t offset = whole_rows ? before * (xs.rank < 2 ? 1 : xs.dim(1)) : before;
  for (std::int64_t r = 0; r < rows; ++r) {
    double* __restrict dst = out + r * ocols + offset;
    const double* __restrict src = x + r * cols;
    for (std::int64_t c = 0; c < cols; ++c) dst[c] += src[c];
  }
}
// params.ints[2] != 0 marks the in-place form: the result takes over acc's storage (and its
// tangent's, when it has one) instead of copying it. Only slice's rule records that form, on an
// adjoint slot's exclusive partial sum, whose old value no rule reads again: add_padded's and
// pad's rules never read their operands' values, and nothing else holds that sum.
bool in_place(const Node& out) { return out.params.ints[2] != 0; }
void add_padded_forward(Tape& t, Node& out) {
  const Node& acc = node_at(t, out.inputs[0]);
  const Node& x = node_at(t, out.inputs[1]);
  out.value = in_place(out) ? acc.value : allocate(t, out.shape.size());
  add_into(acc.value, acc.shape, x.value, x.shape, static_cast<int>(out.params.ints[0]), out.params.ints[1],
           out.value);
}
void add_padded_tangent(Tape& t, Node& out) {
  const Node& acc = node_at(t, out.inputs[0]);
  const Node& x = node_at(t, out.inputs[1]);
  out.tangent = in_place(out) && acc.tangent ? acc.tangent : allocate(t, out.shape.size());
  add_into(acc.tangent, acc.shape, x.tangent, x.shape, static_cast<int>(out.params.ints[0]),
           out.params.ints[1], out.tangent);
}
void add_padded_backward(BackwardContext& c) {
  const OpParams& p = c.params();
  const int axis = static_cast<int>(p.ints[0]);
  const Shape xs = c.input_shape(1);
  const std::int64_t extent = xs.rank < 2 ? xs.size() : xs.dim(axis);
  if (c.needs(0)) c.accumulate(0, c.grad_output());
  if (c.needs(1)) c.accumulate(1, slice(c.grad_output(), axis, p.ints[1], p.ints[1] + extent));
}
const OpRule add_padded_rule{"add_padded", add_padded_forward, add_padded_tangent, add_padded_backward};

void check_axis(const Shape& s, int axis, const char* op) {
  if (s.rank == 0 || axis < 0 || axis >= s.rank)
    throw ShapeError(std::string(op) + ": axis " + std::to_string(axis) + " is out of range for shape " +
                     s.str());
}

Shape with_extent(const Shape& s, int axis, std::int64_t n) {
  if (s.rank == 1) return Shape::vector(n);
  return axis == 0 ? Shape::matrix(n, s.dim(1)) : Shape::matrix(s.dim(0), n);
}
}  // namespace

Var slice(Var x, int axis, std::int64_t begin, std::int64_t end) {
  Tape& t = detail::tape_of("slice", {x});
  const Shape s = x.shape();
  check_axis(s, axis, "slice");
  const std::int64_t extent = s.dim(axis);
  if (begin < 0 || end < begin || end > extent)
    throw ShapeError("slice: range [" + std::to_string(begin) + ", " + std::to_string(end) + ") along axis " +
                     std::to_string(axis) + " is outside shape " + s.str());
  if (begin == 0 && end == extent) return x;
  return record(t, slice_rule, {x}, with_extent(s, axis, end - begin), {0.0, {axis, begin, end, 0}});
}

Var slice(Var x, std::int64_t begin, std::int64_t end) {
  detail::tape_of("slice", {x});
  if (x.shape().rank != 1)
    throw ShapeError("slice: a slice without an axis needs a vector, got shape " + x.shape().str());
  return slice(x, 0, begin, end);
}

Var pad(Var x, int axis, std::int64_t before, std::int64_t after) {
  Tape& t = detail::tape_of("pad", {x});
  const Shape s = x.shape();
  check_axis(s, axis, "pad");
  if (before < 0 || after < 0)
    throw ShapeError("pad: negative padding (" + std::to_string(before) + ", " + std::to_string(after) +
                     ") for shape " + s.str());
  // Checked before any arithmetic: huge paddings would overflow the extent (signed overflow).
  const std::int64_t other = s.rank < 2 ? 1 : s.dim(1 - axis);
  if (before > Shape::kMaxSize || after > Shape::kMaxSize - before ||
      s.dim(axis) + before + after > Shape::kMaxSize / std::max<std::int64_t>(other, 1))
    throw ShapeError("pad: padding (" + std::to_string(before) + ", " + std::to_string(after) +
                     ") of shape " + s.str() + " along axis " + std::to_string(axis) + " gives more than " +
                     std::to_string(Shape::kMaxSize) + " elements");
  if (before == 0 && after == 0) return x;
  return record(t, pad_rule, {x}, with_extent(s, axis, s.dim(axis) + before + after),
                {0.0, {axis, before, after, 0}});
}

namespace {
Var record_add_padded(Var acc, Var x, int axis, std::int64_t before, bool into_acc) {
  Tape& t = detail::tape_of("add_padded", {acc, x});
  const Shape as = acc.shape(), xs = x.shape();
  check_axis(as, axis, "add_padded");
  const std::int64_t extent = xs.rank < 2 ? xs.size() : xs.dim(axis);
  const bool fits = xs.rank == as.rank && (as.rank < 2 || xs.dim(1 - axis) == as.dim(1 - axis)) &&
                    before >= 0 && before <= as.dim(axis) && extent <= as.dim(axis) - before;
  if (!fits)
    throw ShapeError("add_padded: a value of shape " + xs.str() + " placed at " + std::to_string(before) +
                     " along axis " + std::to_string(axis) + " does not fit in shape " + as.str());
  return record(t, add_padded_rule, {acc, x}, as, {0.0, {axis, before, into_acc ? 1 : 0, 0}});
}

// add_padded that overwrites acc's storage with the result (see `in_place`).
Var add_padded_in_place(Var acc, Var x, int axis, std::int64_t before) {
  return record_add_padded(acc, x, axis, before, true);
}
}  // namespace

Var add_padded(Var acc, Var x, int axis, std::int64_t before) {
  return record_add_padded(acc, x, axis, before, false);
}
}  // namespace pk::ad
