// Values at the ends of the double range: softmax and logsumexp at any finite magnitude, and
// shapes whose extents are negative or whose element count overflows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "autodiff/autodiff.hpp"
#include "tests/autodiff/ad_harness.hpp"

namespace {

using namespace pk::ad;
using pk::ad::test::expect_ad;

// --- softmax and logsumexp far out ------------------------------------------------------------

Tensor softmax_of(const Tensor& x) {
  Tape t;
  return Tensor(softmax(t.constant(x), 0).value());
}

double logsumexp_of(const Tensor& x) {
  Tape t;
  return logsumexp(t.constant(x), 0).item();
}

// The closed forms at a point where they are easy to get exactly: softmax is exactly one-hot
// when the other elements are more than ~745 below the maximum, and uniform on ties.
TEST(Extremes, SoftmaxIsExactAtAnyMagnitude) {
  const double big = 1e300, huge = 1.5e308;
  struct Case {
    std::vector<double> x, y;
  };
  const std::vector<Case> cases = {
      {{big, 0.0}, {1.0, 0.0}},
      {{0.0, big}, {0.0, 1.0}},
      {{-big, 0.0}, {0.0, 1.0}},
      {{big, -big}, {1.0, 0.0}},
      {{-big, big, 0.0}, {0.0, 1.0, 0.0}},
      {{huge, -huge}, {1.0, 0.0}},  // x - max overflows to -inf
      {{-huge, huge}, {0.0, 1.0}},
      {{big, big}, {0.5, 0.5}},
      {{-big, -big}, {0.5, 0.5}},
      {{big, big, big, big}, {0.25, 0.25, 0.25, 0.25}},
      {{1e9, 1e9}, {0.5, 0.5}},
  };
  for (const Case& c : cases) {
    const Tensor y = softmax_of(Tensor::vector(c.x));
    for (std::int64_t i = 0; i < y.size(); ++i)
      EXPECT_EQ(y[i], c.y[static_cast<std::size_t>(i)])
          << "softmax " << pk::ad::test::str(Tensor::vector(c.x)) << " element " << i;
  }
  // Three ties: each 1/3 to a rounding, and the sum 1 to a rounding (it was 3 at 1e300).
  const Tensor third = softmax_of(Tensor::vector({big, big, big}));
  double s = 0.0;
  for (std::int64_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(third[i], 1.0 / 3.0, 1e-16);
    s += third[i];
  }
  EXPECT_NEAR(s, 1.0, 4e-16);
}

TEST(Extremes, LogsumexpIsExactAtAnyMagnitude) {
  const double big = 1e300;
  EXPECT_EQ(logsumexp_of(Tensor::vector({big, big})), big);  // 1e300 + log 2 rounds to 1e300
  EXPECT_EQ(logsumexp_of(Tensor::vector({big, 0.0})), big);
  EXPECT_EQ(logsumexp_of(Tensor::vector({-big, 0.0})), 0.0);
  EXPECT_EQ(logsumexp_of(Tensor::vector({big, -big})), big);
  EXPECT_EQ(logsumexp_of(Tensor::vector({-big, -big})), -big);
  EXPECT_EQ(logsumexp_of(Tensor::vector({1.5e308, -1.5e308})), 1.5e308);
  for (const double x : {1e9, -1e9, 12345.678, 0.0})
    EXPECT_EQ(logsumexp_of(Tensor::vector({x, x})), x + std::log(2.0)) << x;
  // The terms below the maximum are summed apart from its exact 1, so a tiny one survives:
  // log(1 + e^-40) = 4.2e-18, which log(sum) rounds to 0.
  EXPECT_DOUBLE_EQ(logsumexp_of(Tensor::vector({0.0, -40.0})), std::log1p(std::exp(-40.0)));
  EXPECT_DOUBLE_EQ(logsumexp_of(Tensor::vector({1e9, 1e9 - 40.0})), 1e9);
}

// softmax Jacobian diag(y) - y y^T, and for f = c . softmax(x) the Hessian
// H_ij = y_i (d_ij - y_j)(c_i - c.y) - y_i y_j (c_j - c.y).
Tensor softmax_jacobian(const std::vector<double>& y) {
  const auto n = static_cast<std::int64_t>(y.size());
  Tensor j(Shape::matrix(n, n));
  for (std::int64_t a = 0; a < n; ++a)
    for (std::int64_t b = 0; b < n; ++b)
      j(a, b) = y[static_cast<std::size_t>(a)] * ((a == b ? 1.0 : 0.0) - y[static_cast<std::size_t>(b)]);
  return j;
}

Tensor weighted_softmax_hessian(const std::vector<double>& y, const std::vector<double>& c) {
  const auto n = static_cast<std::int64_t>(y.size());
  double cy = 0.0;
  for (std::size_t i = 0; i < y.size(); ++i) cy += c[i] * y[i];
  Tensor h(Shape::matrix(n, n));
  for (std::int64_t a = 0; a < n; ++a)
    for (std::int64_t b = 0; b < n; ++b) {
      const double ya = y[static_cast<std::size_t>(a)], yb = y[static_cast<std::size_t>(b)];
      const double ca = c[static_cast<std::size_t>(a)], cb = c[static_cast<std::size_t>(b)];
      h(a, b) = ya * ((a == b ? 1.0 : 0.0) - yb) * (ca - cy) - ya * yb * (cb - cy);
    }
  return h;
}

// softmax of small offsets d, in long double: the exact answer for x = shift + d, since softmax
// does not see a common shift.
std::vector<double> softmax_of_offsets(const std::vector<double>& d) {
  long double s = 0;
  for (const double v : d) s += std::exp(static_cast<long double>(v));
  std::vector<double> y;
  for (const double v : d) y.push_back(static_cast<double>(std::exp(static_cast<long double>(v)) / s));
  return y;
}

// First and second derivatives, through every route the harness has (double backward, both hvp
// routes, jvp, vjp), against the closed forms at points where finite differences cannot reach:
// steps of 1e-5 relative to 1e300 or 1e9 are useless.
TEST(Extremes, SoftmaxAndLogsumexpDerivativesAtLargeMagnitudes) {
  const std::vector<double> c = {0.7, -1.3, 0.4};
  struct Point {
    double shift;
    std::vector<double> offsets;
  };
  for (const Point& p : std::vector<Point>{{1e9, {0.0, 1.0, -2.0}},
                                           {-1e9, {0.5, 0.0, -0.25}},
                                           {1e300, {0.0, 0.0, 0.0}},
                                           {-1e300, {0.0, 0.0, 0.0}},
                                           {1e15, {3.0, -1.0, 0.0}}}) {
    std::vector<double> x;
    for (const double d : p.offsets) x.push_back(p.shift + d);
    for (std::size_t i = 0; i < x.size(); ++i)
      ASSERT_EQ(x[i] - p.shift, p.offsets[i]) << "offsets must be exact at this shift";
    const std::vector<double> y = softmax_of_offsets(p.offsets);
    const Tensor w = Tensor::vector(x);
    const std::string at = " at shift " + std::to_string(p.shift);
    Tensor lse_grad(Shape::matrix(1, 3));
    for (std::int64_t i = 0; i < 3; ++i) lse_grad[i] = y[static_cast<std::size_t>(i)];
    expect_ad("logsumexp" + at, [](Var v) { return logsumexp(v, 0); }, w,
              {.finite_differences = false, .jacobian = lse_grad, .hessian = softmax_jacobian(y)});
    expect_ad("softmax" + at, [](Var v) { return softmax(v, 0); }, w,
              {.reference = [&y](const Tensor&) { return Tensor::vector(y); },
               .finite_differences = false,
               .jacobian = softmax_jacobian(y)});
    expect_ad("c . softmax" + at,
              [&c](Var v) { return dot(softmax(v, 0), v.tape().constant(Tensor::vector(c))); }, w,
              {.finite_differences = false, .hessian = weighted_softmax_hessian(y, c)});
  }
}

// Mixed signs of huge magnitude: the maximum wins outright, softmax's derivatives are exactly 0
// and none is NaN (x - max overflows to -inf for the 1.5e308 pair).
TEST(Extremes, MixedHugeSignsHaveZeroDerivatives) {
  for (const double m : {1e300, 1.5e308}) {
    const Tensor w = Tensor::vector({m, -m, 0.0});
    const Tensor zero(Shape::matrix(3, 3));
    expect_ad("softmax mixed signs", [](Var v) { return softmax(v, 0); }, w,
              {.reference =
                   [](const Tensor&) {
                     return Tensor::vector({1.0, 0.0, 0.0});
                   },
               .finite_differences = false,
               .jacobian = zero});
    expect_ad("logsumexp mixed signs", [](Var v) { return logsumexp(v, 0); }, w,
              {.reference = [m](const Tensor&) { return Tensor::scalar(m); },
               .finite_differences = false,
               .jacobian = Tensor::matrix(1, 3, {1.0, 0.0, 0.0}),
               .hessian = zero});
  }
  // Ties at 1e300: the gradient of logsumexp was {1, 1} when softmax was exp(x - logsumexp).
  Tape t;
  const Var x = t.variable(Tensor::vector({1e300, 1e300}));
  const Var g = grad(logsumexp(x, 0), x, {.create_graph = true, .seed = {}});
  EXPECT_EQ(g.value()[0], 0.5);
  EXPECT_EQ(g.value()[1], 0.5);
  const Var h0 = grad(slice(g, 0, 1), x, {.create_graph = false, .seed = t.fill(Shape::vector(1), 1.0)});
  EXPECT_EQ(h0.value()[0], 0.25);
  EXPECT_EQ(h0.value()[1], -0.25);
}

// --- shapes whose extents are negative or overflow ------------------------------------------

Shape by_hand(int rank, std::int64_t a, std::int64_t b) {
  Shape s;
  s.rank = rank;
  s.dims = {a, b};
  return s;
}

template <class Call>
void expect_shape_error(const char* op, Call call) {
  try {
    call();
    ADD_FAILURE() << op << ": no exception";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find(op), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << op << ": threw something other than ShapeError: " << e.what();
  }
}

TEST(Extremes, ShapeFactoriesRejectNegativeAndOverflowingExtents) {
  const std::int64_t two32 = std::int64_t{1} << 32;
  expect_shape_error("Shape::vector", [] { (void)Shape::vector(-1); });
  expect_shape_error("Shape::matrix", [] { (void)Shape::matrix(-2, -3); });
  expect_shape_error("Shape::matrix", [] { (void)Shape::matrix(3, -1); });
  expect_shape_error("Shape::matrix", [&] { (void)Shape::matrix(two32, two32); });
  expect_shape_error("Shape::matrix",
                     [] { (void)Shape::matrix(std::numeric_limits<std::int64_t>::max(), 2); });
  expect_shape_error("Shape::vector", [] { (void)Shape::vector(Shape::kMaxSize + 1); });
  // The largest shapes are fine to describe (nothing is allocated).
  EXPECT_EQ(Shape::vector(Shape::kMaxSize).size(), Shape::kMaxSize);
  EXPECT_EQ(Shape::matrix(0, std::numeric_limits<std::int64_t>::max()).size(), 0);
}

TEST(Extremes, TensorRejectsAnInvalidShapeWithShapeError) {
  expect_shape_error("Shape::vector", [] { Tensor t(Shape::vector(-1)); });
  expect_shape_error("Tensor", [] { Tensor t(by_hand(1, -1, 1)); });
  expect_shape_error("Tensor", [] { Tensor t(by_hand(2, -2, -3), std::vector<double>(6)); });
  expect_shape_error("Tensor", [] { Tensor t(by_hand(2, std::int64_t{1} << 32, std::int64_t{1} << 32)); });
  expect_shape_error("Tensor", [] { Tensor t(by_hand(3, 2, 2)); });
  expect_shape_error("reshape", [] {
    (void)Tensor::vector({1, 2, 3, 4, 5, 6}).reshaped(by_hand(2, -2, -3));
  });
}

TEST(Extremes, OpsRejectAnInvalidShapeWithShapeError) {
  Tape t;
  const Var x = t.variable(Tensor::vector({1, 2, 3, 4, 5, 6}));
  // (-2) x (-3) has the right element count: only the check of each extent catches it.
  expect_shape_error("reshape", [&] { reshape(x, by_hand(2, -2, -3)); });
  expect_shape_error("reshape", [&] { reshape(x, by_hand(1, 6, 7)); });
  expect_shape_error("broadcast_to", [&] { broadcast_to(x, by_hand(2, -1, 6)); });
  expect_shape_error("sum_to", [&] { sum_to(x, by_hand(1, -6, 1)); });
  expect_shape_error("Tape::fill", [&] { t.fill(by_hand(1, -4, 1), 0.0); });
  const double one = 1.0;
  expect_shape_error("Tape: leaf", [&] { t.constant(TensorView(&one, by_hand(1, -4, 1))); });
  expect_shape_error("Tape: leaf", [&] { t.variable(TensorView(&one, by_hand(2, 1, -1))); });
  const std::int64_t max = std::numeric_limits<std::int64_t>::max();
  expect_shape_error("pad", [&] { pad(x, 0, max, 1); });
  expect_shape_error("pad", [&] { pad(x, 0, 1, max - 3); });
  expect_shape_error("pad", [&] { pad(reshape(x, Shape::matrix(2, 3)), 1, Shape::kMaxSize / 2, 0); });
}

}  // namespace
