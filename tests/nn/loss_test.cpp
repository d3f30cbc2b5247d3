// Losses: values by hand, L' against finite differences of the loss and against autodiff of the
// recorded loss, gradients through a model against finite differences, and stability for large
// logits.
#include "nn/loss.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "autodiff/autodiff.hpp"
#include "nn/error.hpp"
#include "nn/init.hpp"
#include "nn/mlp.hpp"
#include "nn/random.hpp"
#include "test_support.hpp"

namespace pk::nn {
namespace {

struct Case {
  LossKind kind;
  std::int64_t classes;  // C
};

ad::Tensor random_outputs(std::int64_t b, std::int64_t c, std::uint64_t seed, double scale = 1.5) {
  Rng g(seed);
  ad::Tensor y(ad::Shape::matrix(b, c));
  for (std::int64_t i = 0; i < y.size(); ++i) y[i] = scale * g.normal();
  return y;
}

ad::Tensor random_targets(LossKind kind, std::int64_t b, std::int64_t c, std::uint64_t seed) {
  Rng g(seed);
  if (kind == LossKind::softmax_cross_entropy) {
    ad::Tensor t(ad::Shape::matrix(b, 1));
    for (std::int64_t i = 0; i < b; ++i) t[i] = static_cast<double>(g.below(static_cast<std::uint64_t>(c)));
    return t;
  }
  ad::Tensor t(ad::Shape::matrix(b, c));
  for (std::int64_t i = 0; i < t.size(); ++i) t[i] = kind == LossKind::mse ? g.normal() : g.uniform();
  return t;
}

class EveryLoss : public ::testing::TestWithParam<Case> {};

TEST_P(EveryLoss, DerivativeMatchesFiniteDifferencesOfTheLossAndIncludesOneOverB) {
  const Loss loss(GetParam().kind);
  const std::int64_t b = 7, c = GetParam().classes;
  const ad::Tensor y = random_outputs(b, c, 1);
  const ad::Tensor t = random_targets(loss.kind(), b, c, 2);
  const ad::Tensor d = loss.output_derivative(y, t);
  ASSERT_EQ(d.shape(), ad::Shape::matrix(b, c));
  const double h = 1e-6;
  for (std::int64_t i = 0; i < y.size(); ++i) {
    ad::Tensor up(y), down(y);
    up[i] += h;
    down[i] -= h;
    EXPECT_NEAR(d[i], (loss.value(up, t) - loss.value(down, t)) / (2 * h), 1e-9) << i;
  }
  // The 1/|B|: doubling the batch with a copy of itself halves every L'.
  ad::Tensor y2(ad::Shape::matrix(2 * b, c)), t2(ad::Shape::matrix(2 * b, t.shape().dim(1)));
  for (std::int64_t i = 0; i < y.size(); ++i) y2[i] = y2[i + y.size()] = y[i];
  for (std::int64_t i = 0; i < t.size(); ++i) t2[i] = t2[i + t.size()] = t[i];
  const ad::Tensor d2 = loss.output_derivative(y2, t2);
  for (std::int64_t i = 0; i < y.size(); ++i) EXPECT_NEAR(d2[i], 0.5 * d[i], 1e-17);
  EXPECT_NEAR(loss.value(y2, t2), loss.value(y, t), 1e-15);
}

TEST_P(EveryLoss, RecordedLossAgreesAndItsGradientIsTheDerivative) {
  const Loss loss(GetParam().kind);
  const std::int64_t b = 5, c = GetParam().classes;
  const ad::Tensor y = random_outputs(b, c, 3);
  const ad::Tensor t = random_targets(loss.kind(), b, c, 4);
  ad::Tape tape;
  const ad::Var yv = tape.variable(y);
  const ad::Var l = loss.value(yv, t);
  EXPECT_NEAR(l.item(), loss.value(y, t), 1e-14);
  const ad::Tensor g(ad::grad(l, yv).value());
  const ad::Tensor d = loss.output_derivative(y, t);
  for (std::int64_t i = 0; i < y.size(); ++i) EXPECT_NEAR(g[i], d[i], 1e-15);
  // Per-sample losses average to the loss.
  const ad::Tensor per = loss.sample_losses(y, t);
  double mean = 0;
  for (std::int64_t i = 0; i < b; ++i) mean += per[i] / static_cast<double>(b);
  EXPECT_NEAR(mean, loss.value(y, t), 1e-15);
}

TEST_P(EveryLoss, GradientThroughAModelMatchesFiniteDifferences) {
  const Loss loss(GetParam().kind);
  const std::int64_t c = GetParam().classes;
  const Model m = mlp({{3, 6, c}, Activation::tanh});
  const ad::Tensor w = initialise(m.layout(), InitScheme::xavier_normal, 5);
  const ad::Tensor x = random_outputs(8, 3, 6, 1.0);
  const ad::Tensor t = random_targets(loss.kind(), 8, c, 7);
  auto f = [&](ad::Var wv) { return loss.value(m.forward(wv.tape().constant(x), wv), t); };
  const ad::DerivativeCheck check = ad::check_gradient(f, w);
  EXPECT_TRUE(check.passed(1e-8)) << check.worst << ": " << check.analytic << " vs " << check.numeric;
  // And its Hessian-vector product, which the kernel module's second-order terms rely on.
  const ad::Tensor v =
      random_outputs(1, m.parameter_count(), 8).reshaped(ad::Shape::vector(m.parameter_count()));
  EXPECT_TRUE(ad::check_hvp(f, w, v).passed(1e-6));
}

INSTANTIATE_TEST_SUITE_P(All, EveryLoss,
                         ::testing::Values(Case{LossKind::mse, 1}, Case{LossKind::mse, 3},
                                           Case{LossKind::binary_cross_entropy, 1},
                                           Case{LossKind::binary_cross_entropy, 2},
                                           Case{LossKind::softmax_cross_entropy, 2},
                                           Case{LossKind::softmax_cross_entropy, 4}));

TEST(Loss, ValuesByHand) {
  const ad::Tensor y = ad::Tensor::matrix(2, 2, {1.0, 2.0, -1.0, 0.5});
  EXPECT_DOUBLE_EQ(Loss(LossKind::mse).value(y, ad::Tensor::matrix(2, 2, {0, 0, 0, 0})),
                   (0.5 * (1 + 4) + 0.5 * (1 + 0.25)) / 2);
  const double bce0 = std::log1p(std::exp(1.0)) - 1.0 + std::log1p(std::exp(2.0));
  const double bce1 = std::log1p(std::exp(-1.0)) + std::log1p(std::exp(0.5)) - 0.5;
  EXPECT_NEAR(Loss(LossKind::binary_cross_entropy).value(y, ad::Tensor::matrix(2, 2, {1, 0, 0, 1})),
              (bce0 + bce1) / 2, 1e-15);
  const double ce0 = std::log(std::exp(1.0) + std::exp(2.0)) - 2.0;
  const double ce1 = std::log(std::exp(-1.0) + std::exp(0.5)) + 1.0;
  EXPECT_NEAR(Loss(LossKind::softmax_cross_entropy).value(y, ad::Tensor::matrix(2, 1, {1, 0})),
              (ce0 + ce1) / 2, 1e-15);
}

TEST(Loss, StableForLargeLogits) {
  const ad::Tensor y = ad::Tensor::matrix(2, 2, {1e4, -1e4, -800.0, 800.0});
  const Loss bce(LossKind::binary_cross_entropy);
  const ad::Tensor bt = ad::Tensor::matrix(2, 2, {0, 1, 1, 0});
  // Each wrong logit of size s costs s; the right ones cost (almost) nothing.
  EXPECT_DOUBLE_EQ(bce.value(y, bt), (1e4 + 1e4 + 800 + 800) / 2);
  const ad::Tensor bd = bce.output_derivative(y, bt);
  EXPECT_EQ(bd[0], 0.5);
  EXPECT_EQ(bd[1], -0.5);
  const Loss ce(LossKind::softmax_cross_entropy);
  const ad::Tensor ct = ad::Tensor::matrix(2, 1, {1, 1});
  EXPECT_DOUBLE_EQ(ce.value(y, ct), (2e4 + 0.0) / 2);
  const ad::Tensor cd = ce.output_derivative(y, ct);
  EXPECT_EQ(cd[0], 0.5);
  EXPECT_EQ(cd[1], -0.5);
  EXPECT_EQ(cd[3], 0.0);
  ad::Tape tape;
  for (const Loss& l : {bce, ce}) {
    tape.clear();
    const ad::Var yv = tape.variable(y);
    const ad::Var v = l.value(yv, l.kind() == LossKind::softmax_cross_entropy ? ct : bt);
    EXPECT_TRUE(std::isfinite(v.item()));
    const ad::Tensor g(ad::grad(v, yv).value());
    for (std::int64_t i = 0; i < 4; ++i) EXPECT_TRUE(std::isfinite(g[i]));
  }
}

TEST(Loss, RefusesTargetsThatDoNotFit) {
  const Loss ce(LossKind::softmax_cross_entropy), bce(LossKind::binary_cross_entropy), mse(LossKind::mse);
  PK_EXPECT_THROW_WITH(ce.check_targets(ad::Tensor::matrix(2, 1, {0, 3}), 3), SpecError,
                       "target row 1, column 0 is 3.000000, not a class index in [0, 3)");
  PK_EXPECT_THROW_WITH(ce.check_targets(ad::Tensor::matrix(1, 1, {0.5}), 3), SpecError, "not a class index");
  PK_EXPECT_THROW_WITH(ce.check_targets(ad::Tensor::matrix(1, 1, {0}), 1), SpecError,
                       "at least 2 model outputs");
  PK_EXPECT_THROW_WITH(bce.check_targets(ad::Tensor::matrix(1, 1, {1.5}), 1), SpecError, "outside [0, 1]");
  PK_EXPECT_THROW_WITH(mse.check_targets(ad::Tensor::matrix(1, 2, {1, 2}), 3), SpecError,
                       "targets of shape (1, 2) for 3 model outputs");
  PK_EXPECT_THROW_WITH(mse.value(ad::Tensor::matrix(2, 1, {1, 2}), ad::Tensor::matrix(3, 1, {1, 2, 3})),
                       SpecError, "do not match");
  PK_EXPECT_THROW_WITH(ce.value(ad::Tensor::matrix(1, 2, {1, 2}), ad::Tensor::matrix(1, 1, {2})), SpecError,
                       "not a class index in [0, 2)");
  PK_EXPECT_THROW_WITH(parse_loss("hinge"), SpecError, "unknown loss 'hinge'");
  EXPECT_EQ(parse_loss("bce"), LossKind::binary_cross_entropy);
  EXPECT_EQ(parse_loss("cross_entropy"), LossKind::softmax_cross_entropy);
}

}  // namespace
}  // namespace pk::nn
