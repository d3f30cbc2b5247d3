#pragma once
// The few rules every report total follows, kept in one place so that the in-memory report, the
// streamed totals and the step-range sums agree to the bit: how a relative error is formed, how
// the worst of several checks is kept, how a vector's size is measured.

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace pk::kernel::report_arithmetic {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// The Euclidean norm.
inline double norm(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

/// a / b, or NaN when b is zero: a range that changed nothing has no relative error.
inline double ratio(double a, double b) { return b > 0 ? a / b : kNaN; }

/// |got - want| / scale, or NaN when the scale is within rounding of zero (a prediction that did
/// not move has no relative error worth printing).
inline double relative_gap(double got, double want, double scale, double magnitude) {
  const double floor = 64 * std::numeric_limits<double>::epsilon() * std::max(magnitude, 1.0);
  if (!(scale > floor)) return kNaN;
  return std::abs(got - want) / scale;
}

/// The larger of the two, where NaN (a failed check) wins: std::max would drop it.
inline void keep_worst(double& worst, double e) {
  if (!(e <= worst)) worst = e;
}

}  // namespace pk::kernel::report_arithmetic
