// Learning-rate schedules, update rules and batch sampling.
#include "nn/schedule.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <set>

#include "nn/batching.hpp"
#include "nn/error.hpp"
#include "nn/optimizer.hpp"
#include "test_support.hpp"

namespace pk::nn {
namespace {

TEST(Schedule, EachShapeGivesItsFormula) {
  EXPECT_EQ(Schedule::constant(0.3)(12345), 0.3);
  const Schedule s = Schedule::step(0.8, 10, 0.5);
  EXPECT_EQ(s(0), 0.8);
  EXPECT_EQ(s(9), 0.8);
  EXPECT_EQ(s(10), 0.4);
  EXPECT_EQ(s(25), 0.2);
  const Schedule e = Schedule::exponential(1.0, 0.9);
  EXPECT_EQ(e(0), 1.0);
  EXPECT_NEAR(e(7), std::pow(0.9, 7), 1e-15);
  const Schedule c = Schedule::cosine(1.0, 100, 0.1);
  EXPECT_EQ(c(0), 1.0);
  EXPECT_NEAR(c(50), 0.55, 1e-15);
  EXPECT_NEAR(c(25), 0.1 + 0.9 * 0.5 * (1 + std::cos(std::numbers::pi / 4)), 1e-15);
  EXPECT_EQ(c(100), 0.1);
  EXPECT_EQ(c(1000), 0.1);
  const Schedule w = Schedule::linear_warmup(4, Schedule::step(1.0, 2, 0.5));
  EXPECT_EQ(w(0), 0.25);
  EXPECT_EQ(w(3), 1.0);
  EXPECT_EQ(w(4), 1.0);
  EXPECT_EQ(w(6), 0.5);
  EXPECT_EQ(w.length(), -1);
  const Schedule l = Schedule::explicit_steps({0.1, 0.5, 0.0});
  EXPECT_EQ(l(1), 0.5);
  EXPECT_EQ(l.length(), 3);
  EXPECT_EQ(Schedule::linear_warmup(2, l).length(), 5);
  PK_EXPECT_THROW_WITH(l(3), SpecError, "step 3 is past the explicit list of 3 rates");
  EXPECT_EQ(c.describe(), "cosine(1, 100 steps, to 0.1)");
}

TEST(Schedule, RefusesBadParameters) {
  PK_EXPECT_THROW_WITH(Schedule::constant(-0.1), SpecError, "learning rate must be finite and >= 0");
  PK_EXPECT_THROW_WITH(Schedule::constant(std::nan("")), SpecError, "learning rate");
  PK_EXPECT_THROW_WITH(Schedule::step(0.1, 0, 0.5), SpecError, "step interval must be positive");
  PK_EXPECT_THROW_WITH(Schedule::cosine(0.1, 0), SpecError, "cosine length must be positive");
  PK_EXPECT_THROW_WITH(Schedule::explicit_steps({}), SpecError, "at least one rate");
  PK_EXPECT_THROW_WITH(Schedule::explicit_steps({0.1, INFINITY}), SpecError, "explicit learning rate");
  PK_EXPECT_THROW_WITH(Schedule::constant(0.1)(-1), SpecError, "negative step");
}

TEST(Optimizer, GradientDescentMomentumAndAdamByHand) {
  const std::vector<double> w{1.0, -2.0}, g{0.5, -1.0};
  std::vector<double> out(2);
  Optimizer gd({}, 2);
  gd.step(w, g, 0.1, out);
  EXPECT_EQ(out[0], 1.0 - 0.1 * 0.5);
  EXPECT_TRUE(has_kernel_form(OptimizerKind::gradient_descent));

  Optimizer mom({.kind = OptimizerKind::momentum, .momentum = 0.5}, 2);
  mom.step(w, g, 0.1, out);
  EXPECT_EQ(out[0], 1.0 - 0.1 * 0.5);  // v_1 = g
  mom.step(w, g, 0.1, out);
  EXPECT_EQ(out[0], 1.0 - 0.1 * (0.5 * 0.5 + 0.5));  // v_2 = mu g + g
  EXPECT_FALSE(has_kernel_form(OptimizerKind::momentum));

  Optimizer adam({.kind = OptimizerKind::adam}, 2);
  adam.step(w, g, 0.01, out);
  // The first Adam step moves each weight by alpha sign(g) (up to epsilon).
  EXPECT_NEAR(out[0], 1.0 - 0.01, 1e-9);
  EXPECT_NEAR(out[1], -2.0 + 0.01, 1e-9);
  adam.step(w, std::vector<double>{1.5, -1.0}, 0.01, out);
  const double m = (0.9 * 0.1 * 0.5 + 0.1 * 1.5) / (1 - 0.81);
  const double v = (0.999 * 0.001 * 0.25 + 0.001 * 2.25) / (1 - 0.998001);
  EXPECT_NEAR(out[0], 1.0 - 0.01 * m / (std::sqrt(v) + 1e-8), 1e-15);
  EXPECT_FALSE(has_kernel_form(OptimizerKind::adam));

  PK_EXPECT_THROW_WITH(Optimizer({.kind = OptimizerKind::momentum, .momentum = 1.0}, 2), SpecError,
                       "in [0, 1)");
  PK_EXPECT_THROW_WITH(Optimizer({.kind = OptimizerKind::adam, .epsilon = 0.0}, 2), SpecError, "epsilon");
  EXPECT_EQ(parse_optimizer(optimizer_name(OptimizerKind::adam)), OptimizerKind::adam);
  EXPECT_EQ(parse_optimizer("gd"), OptimizerKind::gradient_descent);
  PK_EXPECT_THROW_WITH(parse_optimizer("sgd2"), SpecError, "unknown optimiser");
}

TEST(Batches, FullBatchIsEveryRowEveryStep) {
  BatchSampler s(5, {});
  EXPECT_TRUE(s.full_batch());
  for (int k = 0; k < 3; ++k) {
    const auto b = s.next();
    EXPECT_EQ(std::vector<std::int64_t>(b.begin(), b.end()), (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
  }
  EXPECT_TRUE(BatchSampler(5, {.batch_size = 9}).full_batch());
}

TEST(Batches, MiniBatchesCoverEachEpochOnceAndFollowTheSeed) {
  BatchSampler a(10, {.batch_size = 4, .seed = 1}), b(10, {.batch_size = 4, .seed = 1}),
      c(10, {.batch_size = 4, .seed = 2});
  bool differs = false;
  for (int epoch = 0; epoch < 3; ++epoch) {
    std::multiset<std::int64_t> seen;
    for (const std::size_t size : {4u, 4u, 2u}) {
      const auto ba = a.next();
      const auto bb = b.next();
      const auto bc = c.next();
      ASSERT_EQ(ba.size(), size);
      EXPECT_TRUE(std::is_sorted(ba.begin(), ba.end()));
      EXPECT_TRUE(std::equal(ba.begin(), ba.end(), bb.begin(), bb.end()));
      differs = differs || !std::equal(ba.begin(), ba.end(), bc.begin(), bc.end());
      seen.insert(ba.begin(), ba.end());
    }
    EXPECT_EQ(seen.size(), 10u);
    EXPECT_EQ(std::set<std::int64_t>(seen.begin(), seen.end()).size(), 10u);
  }
  EXPECT_TRUE(differs);
  BatchSampler d(10, {.batch_size = 4, .seed = 1, .drop_last = true});
  for (int k = 0; k < 6; ++k) EXPECT_EQ(d.next().size(), 4u);
  PK_EXPECT_THROW_WITH(BatchSampler(10, {.batch_size = -1}), SpecError, "negative batch size");
}

}  // namespace
}  // namespace pk::nn
