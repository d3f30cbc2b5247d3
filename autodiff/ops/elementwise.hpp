#pragma once
// Loops shared by the elementwise ops: unary maps, broadcasting binary maps, and their tangents.
// Internal to autodiff/ops.

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <numbers>
#include <string>

#include "autodiff/error.hpp"
#include "autodiff/op_author.hpp"

namespace pk::ad::detail {

/// The tape shared by `vs`, after checking each is alive on it; errors name `op`.
inline Tape& tape_of(const char* op, std::initializer_list<Var> vs) {
  Tape* t = nullptr;
  for (const Var& v : vs) {
    if (!v.defined()) throw TapeError(std::string(op) + ": operand is an undefined value");
    if (t == nullptr) t = &v.tape();
    check(*t, v, op);
  }
  return *t;
}

inline constexpr double kTwoOverSqrtPi = 2.0 * std::numbers::inv_sqrtpi;  // erf'(0)
inline constexpr double kInvSqrt2 = 0.5 * std::numbers::sqrt2;
inline constexpr double kInvSqrt2Pi = 0.5 * kTwoOverSqrtPi * kInvSqrt2;  // standard normal density at 0

/// 1 / (1 + e^-x), in the form whose exponential cannot overflow for either sign of x.
inline double logistic(double x) {
  if (x >= 0.0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

/// Strides that walk a (possibly broadcast) operand in step with a rows x cols result.
struct Walk {
  std::int64_t row_stride;
  std::int64_t col_stride;
};

inline Walk walk(const Shape& operand, const Shape& result) {
  return {operand.as_rows() == 1 ? 0 : operand.as_cols(),
          operand.as_cols() == 1 && result.as_cols() != 1 ? 0 : 1};
}

/// Calls fn(out_index, a_index, b_index) over a result of shape `out` whose operands of shapes
/// `a` and `b` broadcast to it. The contiguous cases get their own loops so they vectorise.
template <class Fn>
inline void for_each_pair(const Shape& out, const Shape& a, const Shape& b, Fn fn) {
  const std::int64_t n = out.size();
  if (a == out && b == out) {
    for (std::int64_t i = 0; i < n; ++i) fn(i, i, i);
    return;
  }
  const std::int64_t rows = out.as_rows(), cols = out.as_cols();
  const Walk wa = walk(a, out), wb = walk(b, out);
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t o = r * cols, ia = r * wa.row_stride, ib = r * wb.row_stride;
    if (wa.col_stride == 1 && wb.col_stride == 1) {
      for (std::int64_t c = 0; c < cols; ++c) fn(o + c, ia + c, ib + c);
    } else if (wa.col_stride == 1) {
      for (std::int64_t c = 0; c < cols; ++c) fn(o + c, ia + c, ib);
    } else if (wb.col_stride == 1) {
      for (std::int64_t c = 0; c < cols; ++c) fn(o + c, ia, ib + c);
    } else {
      for (std::int64_t c = 0; c < cols; ++c) fn(o + c, ia, ib);
    }
  }
}

/// out = f(x) elementwise.
template <class F>
inline void unary_forward(Tape& t, Node& out, F f) {
  const Node& x = node_at(t, out.inputs[0]);
  out.value = allocate(t, out.shape.size());
  const double* xv = x.value;
  double* y = out.value;
  for (std::int64_t i = 0, n = out.shape.size(); i < n; ++i) y[i] = f(xv[i]);
}

/// tangent(out) = d(x, y) * tangent(x), with d the local derivative given input and output.
template <class D>
inline void unary_tangent(Tape& t, Node& out, D d) {
  const Node& x = node_at(t, out.inputs[0]);
  out.tangent = allocate(t, out.shape.size());
  const double *xv = x.value, *xt = x.tangent, *y = out.value;
  double* yt = out.tangent;
  // A zero tangent stays zero even where the local derivative is infinite (sqrt at 0): the
  // forward-mode counterpart of adjoint_scale.
  for (std::int64_t i = 0, n = out.shape.size(); i < n; ++i)
    yt[i] = xt[i] == 0.0 ? 0.0 : d(xv[i], y[i]) * xt[i];
}

/// out = f(a, b) elementwise with broadcasting.
template <class F>
inline void binary_forward(Tape& t, Node& out, F f) {
  const Node& a = node_at(t, out.inputs[0]);
  const Node& b = node_at(t, out.inputs[1]);
  out.value = allocate(t, out.shape.size());
  const double *av = a.value, *bv = b.value;
  double* y = out.value;
  for_each_pair(out.shape, a.shape, b.shape,
                [&](std::int64_t o, std::int64_t i, std::int64_t j) { y[o] = f(av[i], bv[j]); });
}

/// tangent(out) = da(a, b, y) * tangent(a) + db(a, b, y) * tangent(b), a missing tangent being 0.
template <class DA, class DB>
inline void binary_tangent(Tape& t, Node& out, DA da, DB db) {
  const Node& a = node_at(t, out.inputs[0]);
  const Node& b = node_at(t, out.inputs[1]);
  out.tangent = allocate(t, out.shape.size());
  const double *av = a.value, *bv = b.value, *at = a.tangent, *bt = b.tangent, *y = out.value;
  double* yt = out.tangent;
  // As in unary_tangent, a zero tangent contributes zero whatever the local derivative.
  auto term = [](double local, double t) { return t == 0.0 ? 0.0 : local * t; };
  if (at && bt) {
    for_each_pair(out.shape, a.shape, b.shape, [&](std::int64_t o, std::int64_t i, std::int64_t j) {
      yt[o] = term(da(av[i], bv[j], y[o]), at[i]) + term(db(av[i], bv[j], y[o]), bt[j]);
    });
  } else if (at) {
    for_each_pair(out.shape, a.shape, b.shape, [&](std::int64_t o, std::int64_t i, std::int64_t j) {
      yt[o] = term(da(av[i], bv[j], y[o]), at[i]);
    });
  } else {
    for_each_pair(out.shape, a.shape, b.shape, [&](std::int64_t o, std::int64_t i, std::int64_t j) {
      yt[o] = term(db(av[i], bv[j], y[o]), bt[j]);
    });
  }
}

/// The shape of a reduction along `axis` with the axis kept as extent 1, so that the reduced
/// value broadcasts back against its input.
inline Shape keep_axis_shape(const Shape& s, int axis) {
  if (s.rank < 2) return Shape::scalar();
  return axis == 0 ? Shape::matrix(1, s.dim(1)) : Shape::matrix(s.dim(0), 1);
}

/// The shape of a reduction along `axis` with the axis dropped; throws on a bad axis.
Shape reduced_shape(const Shape& s, int axis, const char* op);

}  // namespace pk::ad::detail
