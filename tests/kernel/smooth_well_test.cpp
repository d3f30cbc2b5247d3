// A barrier jump in a model that is not polynomial in w, so that the second-order term can only
// remove part of the first-order error and the exact path kernel needs more than two nodes:
// f(x; w) = w e^{-w^2} x fitted to y = 0.3 x. g(w) = w e^{-w^2} rises to its peak at 1/sqrt(2) and
// falls again, so the loss (g(w) - 0.3)^2 mu2 / 2 has two basins (g = 0.3 at w ~ 0.33 and w ~ 1.16)
// separated by a barrier at w = 1/sqrt(2).
#include <cmath>

#include <gtest/gtest.h>

#include "autodiff/ops.hpp"
#include "kernel/decomposition.hpp"
#include "nn/nn.hpp"

namespace {
using pk::ad::Shape;
using pk::ad::Tensor;
using pk::ad::Var;

TEST(SmoothWell, OneLargeStepJumpsTheBarrierAndOnlyTheExactKernelClosesIt) {
  const std::int64_t m = 21;
  Tensor x(Shape::matrix(m, 1)), y(Shape::matrix(m, 1));
  for (std::int64_t i = 0; i < m; ++i) {
    x[i] = -1.0 + 2.0 * static_cast<double>(i) / static_cast<double>(m - 1);
    y[i] = 0.3 * x[i];
  }
  const pk::nn::Dataset data(x, y);
  const pk::nn::Model model("smooth well", 1, 1, pk::nn::Layout::flat(1), [](Var xb, Var w) {
    const Var g = mul(w, exp(neg(square(w))));  // w e^{-w^2}, a (1) vector
    return mul(xb, g);
  });
  const double barrier = 1.0 / std::sqrt(2.0), start = 0.2;
  // The first step lands at w = 1.0, past the barrier: alpha = 0.8 / -L'(0.2).
  double mu2 = 0.0;
  for (std::int64_t i = 0; i < m; ++i) mu2 += x[i] * x[i] / static_cast<double>(m);
  const double g0 = start * std::exp(-start * start),
               dg0 = std::exp(-start * start) * (1 - 2 * start * start);
  const double jump = 0.8 / -(mu2 * (g0 - 0.3) * dg0);
  pk::nn::TrainingConfig config;
  config.steps = 6;
  config.schedule = pk::nn::Schedule::explicit_steps({jump, 2.0, 2.0, 2.0, 2.0, 2.0});
  const pk::nn::Loss loss(pk::nn::LossKind::mse);
  pk::nn::Trainer trainer(model, loss, data, config);
  pk::kernel::DecompositionOptions options;
  options.second_order = pk::kernel::SecondOrderMode::every_step;
  options.attribution = false;
  const Tensor queries(Shape::matrix(1, 1), {1.0});
  pk::kernel::DecompositionObserver decomposition(model, loss, queries, options);
  pk::nn::TrajectoryRecorder recorder;
  trainer.add_observer(decomposition);
  trainer.add_observer(recorder);
  trainer.run(Tensor(Shape::vector(1), start));
  const pk::nn::Trajectory& t = recorder.trajectory();
  ASSERT_LT(t.weights(0)[0], barrier);
  ASSERT_GT(t.weights(1)[0], barrier) << "the first step must cross the barrier";
  for (std::int64_t k = 1; k <= t.steps(); ++k)
    EXPECT_GT(t.weights(k)[0], barrier) << "stays in the far basin";

  const pk::kernel::DecompositionReport& r = decomposition.report();
  const std::size_t jump_step = r.index(0, 0, 0);
  const double r1 = r.remainder1(jump_step), r2 = r.remainder2(jump_step);
  EXPECT_TRUE(r.complex[jump_step]);
  EXPECT_GT(std::abs(r1), 0.1 * std::abs(r.df[jump_step])) << "the linear picture misses much of the jump";
  EXPECT_LT(std::abs(r2), 0.5 * std::abs(r1)) << "F2 removes part of R1";
  EXPECT_GT(std::abs(r2), 1e-6 * std::abs(r1)) << "but not all: the model is not quadratic in w";
  EXPECT_LE(r.exact_error[jump_step], 1e-10 * std::max(1.0, std::abs(r.df[jump_step])));
  EXPECT_GT(r.exact_nodes[0], 2) << "a non-polynomial path needs the adaptive rule";
  EXPECT_LE(r.run_identity_error(), 1e-12);
  EXPECT_LE(r.exact_identity_error(), 1e-10);
}
}  // namespace
