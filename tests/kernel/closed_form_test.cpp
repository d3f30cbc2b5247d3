// The verification ladder's rung 3: models where the answer is known in closed form.
//   - linear in w: R1 = 0 and F2 = 0 at every step, whatever the learning rate;
//   - quadratic in w: R2 = 0 at every step, from alpha = 1e-3 up to near divergence;
//   - the double well: one large step jumps the barrier, is complex, F2 removes its R1 and the
//     exact path kernel closes it.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernel/decomposition.hpp"
#include "kernel/sharpness.hpp"
#include "kernel_test_support.hpp"

namespace pk::kernel {
namespace {

using namespace testing;

// The largest |value| of f before and after each step for entry i: the scale of its rounding.
double value_scale(const TrainedRun& run, const pk::nn::Model& model, const Tensor& queries, std::int64_t k) {
  const Tensor before = pk::nn::evaluate(model, queries, run.trajectory.weights(k));
  const Tensor after = pk::nn::evaluate(model, queries, run.trajectory.weights(k + 1));
  double s = 1.0;
  for (std::int64_t i = 0; i < before.size(); ++i) s = std::max({s, std::abs(before[i]), std::abs(after[i])});
  return s;
}

TEST(ClosedForm, ModelLinearInWeightsHasNoRemainderAndNoSecondOrderTerm) {
  const pk::nn::Dataset data = regression_data(20, 3, 2, 11);
  const pk::nn::Model model = linear_in_w_model(3, 2);
  const Tensor queries = query_points(7, 3, 12);
  const Tensor w0 = init(model, 3);
  for (const double lr : {1e-3, 0.05, 0.3, 1.0}) {
    const TrainedRun run = train(model, pk::nn::LossKind::mse, data,
                                 {.steps = 12, .schedule = pk::nn::Schedule::constant(lr)}, w0);
    DecompositionOptions o;
    o.second_order = SecondOrderMode::every_step;
    o.exact_kernel = true;
    o.attribution = true;
    const DecompositionReport r = decompose(model, run.trajectory, queries, o);
    expect_report_consistent(r, "lr " + std::to_string(lr));
    ASSERT_EQ(r.steps, run.result.steps);
    double largest_df = 0.0;
    for (std::int64_t k = 0; k < r.steps; ++k) {
      const double scale = value_scale(run, model, queries, k);
      EXPECT_EQ(r.second_order_computed[static_cast<std::size_t>(k)], 1);
      for (std::int64_t q = 0; q < r.queries; ++q)
        for (std::int64_t c = 0; c < r.outputs; ++c) {
          const std::size_t i = r.index(k, q, c);
          largest_df = std::max(largest_df, std::abs(r.df[i]));
          // df - F1 is the rounding of f_{k+1} - f_k and of J dw: a few ulps of f.
          EXPECT_LE(std::abs(r.remainder1(i)), 1e-14 * scale) << "lr " << lr << " step " << k;
          EXPECT_LE(std::abs(r.second_order[i]), 1e-14 * scale) << "lr " << lr << " step " << k;
          EXPECT_FALSE(r.complex[i]) << "lr " << lr << " step " << k;  // |R1| is ~0
          // The exact kernel needs nothing beyond its first rule for a constant Jacobian.
          EXPECT_LE(r.exact_error[i], 1e-14 * scale);
        }
      EXPECT_EQ(r.exact_nodes[static_cast<std::size_t>(k)], 2);
    }
    EXPECT_GT(largest_df, 1e-4) << "the run must move the predictions for the test to mean anything";
  }
}

TEST(ClosedForm, ModelQuadraticInWeightsHasNoSecondOrderRemainderUpToNearDivergence) {
  const pk::nn::Dataset data = regression_data(16, 2, 2, 21);
  const pk::nn::Model model = quadratic_in_w_model(2, 2);
  const Tensor queries = query_points(6, 2, 22);
  const Tensor w0 = init(model, 5);
  // The stability limit of gradient descent at w_0: 2 / lambda_max of the training loss.
  const pk::nn::Loss loss(pk::nn::LossKind::mse);
  const pk::nn::TrainingLoss training_loss(model, loss, data.inputs(), data.targets());
  const double lambda = sharpness(training_loss, w0, 60, 1e-12).lambda_max;
  ASSERT_GT(lambda, 0.0);
  const double limit = 2.0 / lambda;
  ASSERT_GT(limit, 1e-2);
  // The loss is quartic in w and flattens along the path, so runs survive rates somewhat beyond
  // 2 / lambda_max(w_0): raise the rate past the limit until a run diverges, and test up to the
  // last rate that did not (within a factor 1.25 of divergence).
  std::vector<double> rates{1e-3, 1e-2, 0.25 * limit, 0.6 * limit, 0.9 * limit};
  bool diverged = false;
  for (const double factor : {1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0}) {
    const TrainedRun run = train(model, pk::nn::LossKind::mse, data,
                                 {.steps = 10, .schedule = pk::nn::Schedule::constant(factor * limit)}, w0);
    if (run.result.status == pk::nn::TrainingStatus::diverged) {
      diverged = true;
      break;
    }
    rates.push_back(factor * limit);
  }
  ASSERT_TRUE(diverged) << "no learning rate up to 4 / lambda_max diverged";
  ASSERT_GT(rates.back(), limit);
  bool saw_large_remainder1 = false;
  for (const double lr : rates) {
    const TrainedRun run = train(model, pk::nn::LossKind::mse, data,
                                 {.steps = 10, .schedule = pk::nn::Schedule::constant(lr)}, w0);
    ASSERT_EQ(run.result.status, pk::nn::TrainingStatus::completed)
        << "lr " << lr << ": " << run.result.message;
    DecompositionOptions o = first_order_only();
    o.second_order = SecondOrderMode::every_step;
    o.exact_kernel = true;
    const DecompositionReport r = decompose(model, run.trajectory, queries, o);
    expect_report_consistent(r, "lr " + std::to_string(lr));
    for (std::int64_t k = 0; k < r.steps; ++k) {
      const double scale = value_scale(run, model, queries, k);
      for (std::int64_t q = 0; q < r.queries; ++q)
        for (std::int64_t c = 0; c < r.outputs; ++c) {
          const std::size_t i = r.index(k, q, c);
          // df = F1 + F2 exactly for a quadratic; what is left is rounding of f and of the terms.
          EXPECT_LE(std::abs(r.remainder2(i)), 1e-13 * scale)
              << "lr " << lr << " step " << k << " query " << q;
          // F2 is the whole of R1 here, and R1 is not negligible at the larger rates.
          EXPECT_NEAR(r.second_order[i], r.remainder1(i), 1e-13 * scale);
          if (std::abs(r.remainder1(i)) > 1e-3 * scale) saw_large_remainder1 = true;
          // Two Gauss-Legendre nodes integrate the linear-in-t J(w + t dw) dw exactly.
          EXPECT_LE(r.exact_error[i], 1e-13 * scale);
        }
    }
  }
  EXPECT_TRUE(saw_large_remainder1) << "the large learning rates must leave a first-order remainder";
}

TEST(ClosedForm, DoubleWellStepOverTheBarrierIsComplexAndTheExactKernelClosesIt) {
  const pk::nn::DoubleWell well = pk::nn::double_well(41, 0.25);
  ASSERT_LT(well.local_minimum, well.barrier);
  ASSERT_LT(well.barrier, well.global_minimum);
  // Start on the far side of the shallow basin (its minimum is near -0.76); with alpha = 1 the
  // first step crosses the barrier into the deep basin, where alpha * L'' < 2 and descent settles.
  const double start = -1.6;
  const double lr = 1.0;
  const TrainedRun run =
      train(well.model, pk::nn::LossKind::mse, well.data,
            {.steps = 12, .schedule = pk::nn::Schedule::constant(lr)}, Tensor::vector({start}));
  ASSERT_EQ(run.result.status, pk::nn::TrainingStatus::completed) << run.result.message;
  const pk::nn::Trajectory& t = run.trajectory;
  // Gradient descent on the closed-form loss, step by step.
  for (std::int64_t k = 0; k < t.steps(); ++k) {
    const double w = t.weights(k)[0];
    EXPECT_NEAR(t.weights(k + 1)[0], w - lr * well.gradient(w), 1e-12 * (1 + std::abs(w)));
  }
  std::int64_t jumps = 0, jump = -1;
  for (std::int64_t k = 0; k < t.steps(); ++k)
    if ((t.weights(k)[0] < well.barrier) != (t.weights(k + 1)[0] < well.barrier)) {
      ++jumps;
      jump = k;
    }
  ASSERT_EQ(jumps, 1);
  ASSERT_EQ(jump, 0);
  EXPECT_NEAR(t.weights(t.steps())[0], well.global_minimum, 0.2);

  const Tensor queries = Tensor::matrix(3, 1, {0.5, -0.75, 1.0});
  DecompositionOptions o;
  o.second_order = SecondOrderMode::complex_steps;
  o.tau = 0.1;
  o.exact_kernel = true;
  o.exact_tolerance = 1e-12;
  o.attribution = true;
  const DecompositionReport r = decompose(well.model, t, queries, o);
  expect_report_consistent(r);
  for (std::int64_t q = 0; q < r.queries; ++q) {
    const double x = queries[q];
    const std::size_t i = r.index(jump, q, 0);
    const double w = t.weights(jump)[0], w1 = t.weights(jump + 1)[0], dw = w1 - w;
    // f(x; w) = w^2 x + w x^2: df, F1 = (2 w x + x^2) dw and F2 = x dw^2 in closed form.
    EXPECT_NEAR(r.df[i], (w1 * w1 - w * w) * x + x * x * dw, 1e-13);
    EXPECT_NEAR(r.first_order[i], (2 * w * x + x * x) * dw, 1e-13);
    ASSERT_EQ(r.second_order_computed[static_cast<std::size_t>(jump)], 1);
    EXPECT_NEAR(r.second_order[i], x * dw * dw, 1e-13);
    // The jump is in T_c, with a remainder larger than the change itself ...
    EXPECT_TRUE(r.complex[i]) << "query " << x;
    EXPECT_GT(std::abs(r.remainder1(i)), std::abs(r.df[i])) << "query " << x;
    // ... the largest of the run ...
    for (std::int64_t k = 0; k < r.steps; ++k)
      if (k != jump) {
        EXPECT_LT(std::abs(r.remainder1(r.index(k, q, 0))), std::abs(r.remainder1(i)));
      }
    // ... F2 removes it (all of it: the model is quadratic in w) ...
    EXPECT_LT(std::abs(r.remainder2(i)), 0.5 * std::abs(r.remainder1(i)));
    EXPECT_LE(std::abs(r.remainder2(i)), 1e-13);
    // ... and the exact path kernel closes the step.
    EXPECT_LE(std::abs(r.exact_change[i] - r.df[i]), 1e-10 * std::abs(r.df[i]));
    EXPECT_GT(std::abs(r.exact_change[i] - r.first_order[i]), 0.5 * std::abs(r.df[i]));
  }
  const ComplexStepStats stats = r.complex_stats(0, 0);
  EXPECT_GE(stats.complex_steps, 1);
  EXPECT_NEAR(stats.r1_removed_complex, 1.0, 1e-12);
  EXPECT_GT(stats.change_share, 0.5);  // the jump carries most of what the run changed
}

}  // namespace
}  // namespace pk::kernel
