#pragma once
// Walking a tensor line by line along an axis, for the ops that reduce or normalise along one
// (logsumexp, softmax). Internal to autodiff/ops.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "autodiff/shape.hpp"

namespace pk::ad::detail {

/// Visits each line of a tensor along `axis` (the whole of a vector; a row of a matrix for
/// axis 1, a column for axis 0) as fn(first_index, stride, count, line_number).
template <class Fn>
inline void for_each_line(const Shape& s, int axis, Fn fn) {
  if (s.rank < 2) {
    fn(std::int64_t{0}, std::int64_t{1}, s.size(), std::int64_t{0});
    return;
  }
  const std::int64_t rows = s.dim(0), cols = s.dim(1);
  if (axis == 1) {
    for (std::int64_t r = 0; r < rows; ++r) fn(r * cols, std::int64_t{1}, cols, r);
  } else {
    for (std::int64_t c = 0; c < cols; ++c) fn(c, cols, rows, c);
  }
}

/// A line's largest element `max` (the first, when several tie) and the sum of exp(x_j - max)
/// over every other element. Factoring out the maximum this way makes its own term exactly 1,
/// so softmax is exp(x_j - max) / (1 + rest) and logsumexp is max + log1p(rest): both exact to a
/// few roundings at any magnitude, where exp(x_j - logsumexp) would lose the digits of
/// logsumexp that do not fit beside a huge max (at 1e300 all of them). x_j - max may overflow to
/// -inf for elements of opposite sign and huge magnitude; exp then gives the right 0.
struct LineMax {
  double max;
  double rest;
};

inline LineMax line_max(const double* x, std::int64_t first, std::int64_t stride, std::int64_t n) {
  double m = -std::numeric_limits<double>::infinity();
  std::int64_t at = -1;
  for (std::int64_t j = 0; j < n; ++j)
    if (at < 0 || x[first + j * stride] > m) {
      m = x[first + j * stride];
      at = j;
    }
  double rest = 0.0;
  if (std::isfinite(m))
    for (std::int64_t j = 0; j < n; ++j)
      if (j != at) rest += std::exp(x[first + j * stride] - m);
  return {m, rest};
}

inline double line_logsumexp(const double* x, std::int64_t first, std::int64_t stride, std::int64_t n) {
  const LineMax l = line_max(x, first, stride, n);
  if (!std::isfinite(l.max)) return l.max;  // all -inf, or an inf that dominates
  return l.max + std::log1p(l.rest);
}

/// softmax of one line into y (same indexing as x). A line whose maximum is not finite keeps
/// the IEEE result of exp(x_j - max) with max = logsumexp (NaN for inf - inf).
inline void line_softmax(const double* x, double* y, std::int64_t first, std::int64_t stride,
                         std::int64_t n) {
  const LineMax l = line_max(x, first, stride, n);
  const double s = std::isfinite(l.max) ? 1.0 + l.rest : 1.0;
  for (std::int64_t j = 0; j < n; ++j) y[first + j * stride] = std::exp(x[first + j * stride] - l.max) / s;
}

}  // namespace pk::ad::detail
