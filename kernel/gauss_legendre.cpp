#include "kernel/gauss_legendre.hpp"

#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>
#include <utility>

namespace pk::kernel {

namespace {
// P_n(x) and P_n'(x) by the three-term recurrence.
std::pair<double, double> legendre(int n, double x) {
  double p0 = 1.0, p1 = x;
  for (int k = 2; k <= n; ++k) {
    const double p2 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k;
    p0 = p1;
    p1 = p2;
  }
  return {p1, n * (x * p1 - p0) / (x * x - 1.0)};
}
}  // namespace

GaussLegendre gauss_legendre(int n) {
  if (n < 1) throw std::invalid_argument("gauss_legendre: needs n >= 1, got " + std::to_string(n));
  GaussLegendre rule;
  rule.nodes.resize(static_cast<std::size_t>(n));
  rule.weights.resize(static_cast<std::size_t>(n));
  for (int i = 0; i < (n + 1) / 2; ++i) {
    // Tricomi's approximation of the root starts Newton close enough to converge in a few steps.
    double x = std::cos(std::numbers::pi * (i + 0.75) / (n + 0.5));
    for (int iter = 0; iter < 100; ++iter) {
      const auto [p, dp] = legendre(n, x);
      const double step = p / dp;
      x -= step;
      if (std::abs(step) < 1e-16) break;
    }
    const double dp = legendre(n, x).second;
    const double w = 2.0 / ((1.0 - x * x) * dp * dp);
    // Map [-1, 1] onto [0, 1]: t = (1 -+ x) / 2, and the weights halve.
    const auto lo = static_cast<std::size_t>(i), hi = static_cast<std::size_t>(n - 1 - i);
    rule.nodes[lo] = 0.5 * (1.0 - x);
    rule.nodes[hi] = 0.5 * (1.0 + x);
    rule.weights[lo] = rule.weights[hi] = 0.5 * w;
  }
  return rule;
}

}  // namespace pk::kernel
