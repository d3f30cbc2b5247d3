#include "nn/synthetic.hpp"

#include <cmath>
#include <numbers>
#include <string>
#include <utility>

#include "autodiff/ops.hpp"
#include "nn/deterministic_math.hpp"
#include "nn/error.hpp"
#include "nn/layout.hpp"
#include "nn/random.hpp"

namespace pk::nn {

namespace {
void check_count(std::int64_t n, std::int64_t at_least, const char* what) {
  if (n < at_least)
    throw SpecError(std::string(what) + ": needs at least " + std::to_string(at_least) + " points, got " +
                    std::to_string(n));
}
void check_noise(double noise, const char* what) {
  if (!(noise >= 0.0) || !std::isfinite(noise))
    throw SpecError(std::string(what) + ": noise must be finite and >= 0, got " + std::to_string(noise));
}
}  // namespace

Dataset sine_regression(std::int64_t n, std::uint64_t seed, double noise) {
  check_count(n, 1, "sine_regression");
  check_noise(noise, "sine_regression");
  Rng rng(seed);
  ad::Tensor x(ad::Shape::matrix(n, 1)), y(ad::Shape::matrix(n, 1));
  for (std::int64_t i = 0; i < n; ++i) {
    x[i] = rng.uniform(-std::numbers::pi, std::numbers::pi);
    y[i] = detail::sin(x[i]) + noise * rng.normal();
  }
  return Dataset(std::move(x), std::move(y), {"x"}, {"y"});
}

Dataset two_moons(std::int64_t n, std::uint64_t seed, double noise) {
  check_count(n, 2, "two_moons");
  check_noise(noise, "two_moons");
  Rng rng(seed);
  const std::int64_t upper = (n + 1) / 2, lower = n / 2;
  ad::Tensor x(ad::Shape::matrix(n, 2)), y(ad::Shape::matrix(n, 1));
  auto angle = [](std::int64_t i, std::int64_t count) {
    return count == 1 ? 0.0 : std::numbers::pi * static_cast<double>(i) / static_cast<double>(count - 1);
  };
  for (std::int64_t i = 0; i < n; ++i) {
    const bool is_upper = i < upper;
    const double t = is_upper ? angle(i, upper) : angle(i - upper, lower);
    const double a = is_upper ? detail::cos(t) : 1.0 - detail::cos(t);
    const double b = is_upper ? detail::sin(t) : 0.5 - detail::sin(t);
    x(i, 0) = a + noise * rng.normal();
    x(i, 1) = b + noise * rng.normal();
    y(i, 0) = is_upper ? 0.0 : 1.0;
  }
  return Dataset(std::move(x), std::move(y), {"x0", "x1"}, {"label"});
}

Dataset spirals(std::int64_t n, std::uint64_t seed, double noise, std::int64_t classes, double turns) {
  if (classes < 2) throw SpecError("spirals: needs at least 2 arms, got " + std::to_string(classes));
  check_count(n, classes, "spirals");
  check_noise(noise, "spirals");
  if (!(turns > 0.0) || turns > 100.0)
    throw SpecError("spirals: turns must be in (0, 100], got " + std::to_string(turns));
  Rng rng(seed);
  ad::Tensor x(ad::Shape::matrix(n, 2)), y(ad::Shape::matrix(n, 1));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t arm = i % classes, index = i / classes;
    const std::int64_t points = n / classes + (arm < n % classes ? 1 : 0);
    const double r = static_cast<double>(index + 1) / static_cast<double>(points);
    const double theta =
        2.0 * std::numbers::pi * (static_cast<double>(arm) / static_cast<double>(classes) + turns * r);
    x(i, 0) = r * detail::cos(theta) + noise * rng.normal();
    x(i, 1) = r * detail::sin(theta) + noise * rng.normal();
    y(i, 0) = static_cast<double>(arm);
  }
  return Dataset(std::move(x), std::move(y), {"x0", "x1"}, {"label"});
}

Dataset xor_problem(std::int64_t n, std::uint64_t seed, double noise) {
  check_count(n, 4, "xor_problem");
  check_noise(noise, "xor_problem");
  Rng rng(seed);
  ad::Tensor x(ad::Shape::matrix(n, 2)), y(ad::Shape::matrix(n, 1));
  for (std::int64_t i = 0; i < n; ++i) {
    const double a = (i % 4) < 2 ? -1.0 : 1.0;
    const double b = (i % 2) == 0 ? -1.0 : 1.0;
    x(i, 0) = a + noise * rng.normal();
    x(i, 1) = b + noise * rng.normal();
    y(i, 0) = a != b ? 1.0 : 0.0;
  }
  return Dataset(std::move(x), std::move(y), {"x0", "x1"}, {"label"});
}

double DoubleWell::loss(double w) const {
  const double a = w * w - 1.0, b = w - tilt;
  return 0.5 * (mu2 * a * a + mu4 * b * b);
}

double DoubleWell::gradient(double w) const { return 2.0 * mu2 * w * (w * w - 1.0) + mu4 * (w - tilt); }

namespace {
Model double_well_model() {
  ForwardFunction f = [](ad::Var x, ad::Var w) {
    // w is a vector of one element; it broadcasts along the batch.
    return ad::add(ad::mul(x, ad::square(w)), ad::mul(ad::square(x), w));
  };
  return Model("double_well", 1, 1, Layout::flat(1), std::move(f));
}

// The root of the increasing or decreasing g on [lo, hi], where g changes sign.
template <class G>
double bisect(G g, double lo, double hi) {
  double glo = g(lo);
  for (int i = 0; i < 200 && hi - lo > 0.0; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (mid == lo || mid == hi) break;
    const double gm = g(mid);
    if ((gm < 0.0) == (glo < 0.0)) {
      lo = mid;
      glo = gm;
    } else {
      hi = mid;
    }
  }
  return 0.5 * (lo + hi);
}
}  // namespace

DoubleWell double_well(std::int64_t n, double tilt) {
  check_count(n, 3, "double_well");
  if (!std::isfinite(tilt)) throw SpecError("double_well: tilt must be finite");
  ad::Tensor x(ad::Shape::matrix(n, 1)), y(ad::Shape::matrix(n, 1));
  double s2 = 0.0, s4 = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(2 * i - (n - 1)) / static_cast<double>(n - 1);
    x[i] = v;
    y[i] = v + tilt * v * v;
    s2 += v * v;
    s4 += v * v * v * v;
  }
  DoubleWell p{Dataset(std::move(x), std::move(y), {"x"}, {"y"}),
               double_well_model(),
               tilt,
               s2 / static_cast<double>(n),
               s4 / static_cast<double>(n),
               0.0,
               0.0,
               0.0};
  // g(w) = 2 mu2 w^3 + (mu4 - 2 mu2) w - mu4 tilt has turning points at +-c; three real roots
  // exist exactly when g(-c) > 0 > g(c).
  auto g = [&p](double w) { return p.gradient(w); };
  const double c2 = (2.0 * p.mu2 - p.mu4) / (6.0 * p.mu2);
  const double c = c2 > 0.0 ? std::sqrt(c2) : 0.0;
  if (!(c > 0.0 && g(-c) > 0.0 && g(c) < 0.0))
    throw SpecError("double_well: tilt " + std::to_string(tilt) +
                    " is too large for two basins on this grid");
  const double span = 2.0 + std::abs(tilt);
  const double left = bisect(g, -span, -c), middle = bisect(g, -c, c), right = bisect(g, c, span);
  p.barrier = middle;
  const bool right_deeper = p.loss(right) <= p.loss(left);
  p.global_minimum = right_deeper ? right : left;
  p.local_minimum = right_deeper ? left : right;
  return p;
}

}  // namespace pk::nn
