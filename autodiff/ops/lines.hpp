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

inline double line_logsumexp(const double* x, std::int64_t first, std::int64_t stride, std::int64_t n) {
  double m = -std::numeric_limits<double>::infinity();
  for (std::int64_t j = 0; j < n; ++j) m = std::max(m, x[first + j * stride]);
  if (std::isinf(m)) return m;  // all -inf, or an inf that dominates
  double s = 0.0;
  for (std::int64_t j = 0; j < n; ++j) s += std::exp(x[first + j * stride] - m);
  return m + std::log(s);
}

}  // namespace pk::ad::detail
