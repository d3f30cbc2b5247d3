// What the per-step test cannot see: window sums of the remainders, the edge of stability found
// from the sharpness, and the third-order term. Closed forms (a model quadratic in w has R2 = 0,
// a linear one R1 = 0), sums that add up, independence of threads and query chunks, a run that
// reaches the edge of stability beside one that does not, F3 against finite differences of F2,
// and R3 = O(alpha^4) by slope.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "kernel/accumulation.hpp"
#include "kernel/decomposition.hpp"
#include "kernel/sharpness.hpp"
#include "kernel/step_terms.hpp"
#include "kernel_test_support.hpp"

namespace pk::kernel {
namespace {

using namespace testing;
using pk::nn::LossKind;
using pk::nn::Schedule;

// f(Q; w) for every query point, P x C.
Tensor predictions(const pk::nn::Model& model, const Tensor& queries, TensorView w) {
  pk::ad::Tape tape;
  return predict([&](Var x, Var v) { return model.forward(x, v); }, queries, Tensor(w), tape);
}

TEST(Windows, QuadraticModelWindowSumsAreTheExactChanges) {
  const pk::nn::Model model = quadratic_in_w_model(2, 2);
  const pk::nn::Dataset data = regression_data(10, 2, 2, 41);
  const Tensor queries = query_points(5, 2, 42);
  const TrainedRun run =
      train(model, LossKind::mse, data, {.steps = 23, .schedule = Schedule::constant(0.05)}, init(model, 3));
  ASSERT_EQ(run.result.status, pk::nn::TrainingStatus::completed);
  DecompositionOptions o = first_order_only();
  o.second_order = SecondOrderMode::every_step;
  const DecompositionReport r = decompose(model, run.trajectory, queries, o);
  expect_report_consistent(r);
  const auto windows = window_totals(r, 5, 0.1);
  ASSERT_EQ(windows.size(), 5u);  // 5, 5, 5, 5 and 3 steps
  EXPECT_EQ(windows.back().sums.start, 20);
  EXPECT_EQ(windows.back().sums.end, 23);
  for (const WindowTotals& w : windows) {
    // F2 is exact for this model, so F1 + F2 over a window is f(w_end) - f(w_start).
    const Tensor start = predictions(model, queries, run.trajectory.weights(w.sums.start));
    const Tensor end = predictions(model, queries, run.trajectory.weights(w.sums.end));
    for (std::int64_t j = 0; j < start.size(); ++j) {
      const auto ju = static_cast<std::size_t>(j);
      const double exact = end[j] - start[j];
      const double scale = std::max(std::abs(exact), 1.0);
      EXPECT_NEAR(w.sums.first_order[ju] + w.sums.second_order[ju], exact, 1e-12 * scale);
      EXPECT_NEAR(w.sums.net_change[ju], exact, 1e-12 * scale);
      EXPECT_NEAR(w.sums.remainder2[ju], 0.0, 1e-12 * scale);
      EXPECT_GT(std::abs(w.sums.remainder1[ju]), 1e-8);  // the curvature is real, F2 takes it all
    }
    EXPECT_LT(w.sums.rel_error_second, 1e-10);
  }
}

TEST(Windows, LinearModelPassesEveryWindow) {
  const pk::nn::Model model = linear_in_w_model(2, 1);
  const pk::nn::Dataset data = regression_data(12, 2, 1, 43);
  const TrainedRun run =
      train(model, LossKind::mse, data, {.steps = 40, .schedule = Schedule::constant(0.3)}, init(model, 4));
  const DecompositionReport r = decompose(model, run.trajectory, query_points(6, 2, 44), first_order_only());
  const auto windows = window_totals(r, 0, 1e-6);  // the default: 20 windows of 2 steps
  ASSERT_EQ(windows.size(), 20u);
  for (const WindowTotals& w : windows) {
    EXPECT_FALSE(w.fails) << "steps [" << w.sums.start << ", " << w.sums.end << ")";
    EXPECT_GT(w.sums.norm_net_change, 1e-6);
  }
}

TEST(Windows, WindowsAddUpToTheRunTotalsAndTheirSharesToOne) {
  const pk::nn::Model model = pk::nn::mlp("2-8-8-2", "tanh");
  const pk::nn::Dataset data = regression_data(16, 2, 2, 45);
  const Tensor queries = query_points(7, 2, 46);
  const TrainedRun run =
      train(model, LossKind::mse, data, {.steps = 57, .schedule = Schedule::constant(0.3)}, init(model, 5));
  DecompositionOptions o = first_order_only();
  o.second_order = SecondOrderMode::complex_steps;
  o.tau = 0.01;
  const DecompositionReport r = decompose(model, run.trajectory, queries, o);
  const auto windows = window_totals(r, 8, 0.1);
  ASSERT_EQ(windows.size(), 8u);
  double shares = 0.0;
  for (const WindowTotals& w : windows) shares += w.error_share;
  EXPECT_NEAR(shares, 1.0, 1e-12);
  for (std::int64_t q = 0; q < r.queries; ++q)
    for (std::int64_t c = 0; c < r.outputs; ++c) {
      const QuerySummary s = r.summary(q, c);
      const auto j = static_cast<std::size_t>(q * r.outputs + c);
      double net = 0, first = 0, second = 0, rem2 = 0;
      for (const WindowTotals& w : windows) {
        net += w.sums.net_change[j];
        first += w.sums.first_order[j];
        second += w.sums.second_order[j];
        rem2 += w.sums.remainder2[j];
      }
      const double scale = std::max({std::abs(s.f_final), std::abs(s.f_initial), 1.0});
      EXPECT_NEAR(net, s.f_final - s.f_initial, 1e-13 * scale);
      EXPECT_NEAR(first, s.sum_first_order, 1e-13 * scale);
      EXPECT_NEAR(second, s.sum_second_order, 1e-13 * scale);
      EXPECT_NEAR(rem2, s.sum_remainder2, 1e-13 * scale);
    }
  // The cumulative path ends at the run's totals.
  const CumulativePath path = cumulative_path(r, 3, 1);
  ASSERT_EQ(path.actual.size(), static_cast<std::size_t>(r.steps + 1));
  const QuerySummary s = r.summary(3, 1);
  EXPECT_NEAR(path.actual.back(), s.f_final - s.f_initial, 1e-13);
  EXPECT_EQ(path.first_order.back(), s.sum_first_order);
}

TEST(Windows, DoNotDependOnThreadsOrQueryChunk) {
  const pk::nn::Model model = pk::nn::mlp("2-6-2", "tanh");
  const pk::nn::Dataset data = regression_data(20, 2, 2, 47);
  const Tensor queries = query_points(9, 2, 48);
  const TrainedRun run =
      train(model, LossKind::mse, data, {.steps = 30, .schedule = Schedule::constant(0.5)}, init(model, 6));
  DecompositionOptions o = first_order_only();
  o.second_order = SecondOrderMode::complex_steps;
  o.tau = 0.02;
  o.order = 3;
  const DecompositionReport whole = decompose(model, run.trajectory, queries, o);
  const auto reference = window_totals(whole, 7, 0.1);
  for (const auto& [chunk, threads] :
       std::vector<std::pair<std::int64_t, int>>{{1, 1}, {2, 3}, {4, 2}, {9, 1}}) {
    o.query_chunk = chunk;
    o.threads = threads;
    const auto windows = window_totals(decompose(model, run.trajectory, queries, o), 7, 0.1);
    ASSERT_EQ(windows.size(), reference.size());
    for (std::size_t i = 0; i < windows.size(); ++i) {
      EXPECT_TRUE(bitwise_equal(windows[i].sums.remainder1, reference[i].sums.remainder1))
          << chunk << " " << threads;
      EXPECT_TRUE(bitwise_equal(windows[i].sums.remainder2, reference[i].sums.remainder2))
          << chunk << " " << threads;
      EXPECT_TRUE(bitwise_equal(windows[i].sums.second_order, reference[i].sums.second_order))
          << chunk << " " << threads;
      EXPECT_TRUE(bitwise_equal(windows[i].sums.third_order, reference[i].sums.third_order))
          << chunk << " " << threads;
      EXPECT_TRUE(same_bits(windows[i].error_share, reference[i].error_share));
    }
  }
}

// The run of the default job's fourth part, shortened: a 1-32-32-1 tanh network on 32 points of
// sin x at alpha = 0.1 sharpens from alpha*lambda = 0.95 to 2 and stays there.
DecompositionReport edge_of_stability_run(double lr, std::int64_t steps) {
  const pk::nn::Dataset data = pk::nn::sine_regression(32, 7);
  const pk::nn::Model model = pk::nn::mlp("1-32-32-1", "tanh");
  const TrainedRun run =
      train(model, LossKind::mse, data, {.steps = steps, .schedule = Schedule::constant(lr)}, init(model, 1));
  EXPECT_EQ(run.result.status, pk::nn::TrainingStatus::completed);
  DecompositionOptions o = first_order_only();
  o.second_order = SecondOrderMode::every_step;
  o.sharpness_every = 20;
  Tensor queries(Shape::matrix(8, 1));
  for (std::int64_t i = 0; i < 8; ++i) queries[i] = -3.0 + 6.0 * (static_cast<double>(i) + 0.5) / 8.0;
  return decompose(model, run.trajectory, queries, o);
}

TEST(EdgeOfStability, OnsetFoundAndTheFirstOrderErrorGrowsAfterIt) {
  const DecompositionReport r = edge_of_stability_run(0.1, 1200);
  expect_report_consistent(r);
  const EdgeOfStability e = edge_of_stability(r, 0.1);
  ASSERT_TRUE(e.onset_step.has_value());
  // Measured at step 380 (alpha*lambda first at 1.8 and from then within [1.8, 2.2]); sampled
  // every 20 steps.
  EXPECT_GE(*e.onset_step, 300);
  EXPECT_LE(*e.onset_step, 460);
  EXPECT_NEAR(e.lambda_at_onset / e.threshold_at_onset, 1.0, 0.1);
  EXPECT_DOUBLE_EQ(e.threshold_at_onset, 20.0);
  ASSERT_TRUE(e.before && e.after);
  // Before: a few percent. After: larger than the net change itself (measured factor ~ 100).
  EXPECT_LT(e.before->rel_error_first, 0.1);
  EXPECT_GT(e.after->rel_error_first, 0.5);
  EXPECT_GT(e.after->rel_error_first / e.before->rel_error_first, 10.0);
  // F2 takes most of it back, and the predictions swing every step after the onset only.
  EXPECT_LT(e.after->rel_error_second, 0.2 * e.after->rel_error_first);
  EXPECT_GT(e.after->sign_alternation, 0.15);  // measured 0.26 (0.62 over 2000 steps)
  EXPECT_LT(e.before->sign_alternation, 0.05);
  // The window test sees what T_c does not: windows after the onset fail, those before pass.
  std::int64_t failing_after = 0;
  for (const WindowTotals& w : window_totals(r, 60, 0.1)) {
    if (w.sums.end <= *e.onset_step) {
      EXPECT_FALSE(w.fails) << "steps [" << w.sums.start << ", " << w.sums.end << ")";
    }
    if (w.sums.start >= *e.onset_step) failing_after += w.fails ? 1 : 0;
  }
  EXPECT_GE(failing_after, 1);
  std::printf(
      "edge of stability: onset %lld; first-order error before %.4g, after %.4g; with F2 %.4g, %.4g\n",
      static_cast<long long>(*e.onset_step), e.before->rel_error_first, e.after->rel_error_first,
      e.before->rel_error_second, e.after->rel_error_second);
}

TEST(EdgeOfStability, NotReportedAtASmallLearningRate) {
  const DecompositionReport r = edge_of_stability_run(0.01, 300);
  const EdgeOfStability e = edge_of_stability(r, 0.1);
  EXPECT_EQ(e.measurements, 15);
  EXPECT_FALSE(e.onset_step.has_value());
  EXPECT_LT(e.max_lr_times_lambda, 0.5);
  // Optimisers without a derived threshold report none.
  EXPECT_DOUBLE_EQ(sharpness_threshold({.kind = pk::nn::OptimizerKind::momentum, .momentum = 0.5}, 0.25),
                   12.0);
  EXPECT_DOUBLE_EQ(sharpness_threshold(pk::nn::OptimizerConfig{}, 0.25), 8.0);
  EXPECT_TRUE(std::isnan(sharpness_threshold(pk::nn::OptimizerConfig{}, 0.0)));
}

TEST(Sharpness, StatesTheResidualOfItsRitzPair) {
  const pk::nn::Model model = pk::nn::mlp("2-8-1", "tanh");
  const pk::nn::Dataset data = regression_data(16, 2, 1, 71);
  const Tensor inputs(data.inputs()), targets(data.targets());
  const pk::nn::Loss loss(LossKind::mse);
  const pk::nn::TrainingLoss training_loss(model, loss, inputs, targets);
  const Tensor w = init(model, 12);
  const Sharpness tight = sharpness(training_loss, w, 60, 1e-13);
  const Sharpness loose = sharpness(training_loss, w, 60, 1e-2);
  EXPECT_LT(tight.residual, 1e-5 * tight.lambda_max);
  EXPECT_GT(loose.residual, 10 * tight.residual);  // a looser stop leaves a worse eigenpair
  EXPECT_GT(loose.residual, 0.0);
}

// F2(t) = 1/2 dw^T H(w + t dw) dw has derivative 1/2 D^3 f[dw, dw, dw] = 3 F3 at t = 0.
void expect_third_order_matches_differences(const pk::nn::Model& model) {
  const Tensor queries = query_points(6, model.input_dim(), 51);
  const Tensor w = init(model, 8);
  const Tensor dw = seeded(w.shape(), 0.2, 0.4);
  pk::ad::Tape tape;
  auto f = [&](Var x, Var v) { return model.forward(x, v); };
  const ThirdOrder third = third_order_term(f, queries, w, dw, tape);
  const SecondOrder second = second_order_term(f, queries, w, dw, tape);
  // Central differences at h and h/2, Richardson-extrapolated: the h^2 error term cancels.
  auto difference = [&](double h) {
    Tensor plus(w.shape()), minus(w.shape());
    for (std::int64_t i = 0; i < w.size(); ++i) {
      plus[i] = w[i] + h * dw[i];
      minus[i] = w[i] - h * dw[i];
    }
    const Tensor f2_plus = second_order_term(f, queries, plus, dw, tape).second_order;
    const Tensor f2_minus = second_order_term(f, queries, minus, dw, tape).second_order;
    Tensor d(f2_plus.shape());
    for (std::int64_t j = 0; j < d.size(); ++j) d[j] = (f2_plus[j] - f2_minus[j]) / (2 * h);
    return d;
  };
  const Tensor coarse = difference(2e-3), fine = difference(1e-3);
  for (std::int64_t j = 0; j < third.third_order.size(); ++j) {
    const double fd = (4 * fine[j] - coarse[j]) / 3.0 / 3.0;
    EXPECT_NEAR(third.third_order[j], fd, 1e-7 * std::max(std::abs(fd), 1e-3))
        << model.name() << " entry " << j;
    EXPECT_NEAR(third.second_order[j], second.second_order[j],
                1e-13 * std::max(std::abs(second.second_order[j]), 1.0));
    EXPECT_NEAR(third.first_order[j], second.first_order[j],
                1e-13 * std::max(std::abs(second.first_order[j]), 1.0));
  }
}

TEST(ThirdOrder, MatchesFiniteDifferencesOfTheSecondOrderTermAlongTheStep) {
  expect_third_order_matches_differences(pk::nn::mlp("2-7-5-3", "tanh"));
  expect_third_order_matches_differences(custom_tanh_model(3));
  // A model quadratic in w has no third derivative.
  const pk::nn::Model quadratic = quadratic_in_w_model(2, 2);
  const Tensor w = init(quadratic, 2);
  pk::ad::Tape tape;
  const ThirdOrder t = third_order_term([&](Var x, Var v) { return quadratic.forward(x, v); },
                                        query_points(4, 2, 3), w, seeded(w.shape(), 0.3, 1.0), tape);
  for (double v : t.third_order.span()) EXPECT_EQ(v, 0.0);
}

TEST(ThirdOrder, OneStepRemainderFallsAsAlphaToTheFourth) {
  const pk::nn::Dataset data = regression_data(24, 2, 2, 31);
  const pk::nn::Model model = pk::nn::mlp("2-12-12-2", "tanh");
  const Tensor queries = query_points(8, 2, 32);
  std::vector<double> lrs, r3;
  for (int h = 0; h <= 4; ++h) {
    const double lr = 0.2 / std::pow(2.0, h);
    const TrainedRun run =
        train(model, LossKind::mse, data, {.steps = 1, .schedule = Schedule::constant(lr)}, init(model, 7));
    DecompositionOptions o = first_order_only();
    o.second_order = SecondOrderMode::every_step;
    o.order = 3;
    const DecompositionReport r = decompose(model, run.trajectory, queries, o);
    expect_report_consistent(r);
    double s = 0.0;
    for (std::size_t i = 0; i < r.df.size(); ++i) {
      ASSERT_EQ(r.remainder3(i), r.remainder2(i) - r.third_order[i]);
      s += r.remainder3(i) * r.remainder3(i);
    }
    lrs.push_back(lr);
    r3.push_back(std::sqrt(s));
  }
  const double slope = log_log_fit(lrs, r3);
  EXPECT_NEAR(slope, 4.0, 0.3) << "|R3| over alpha = 0.2 ... 0.0125";
  EXPECT_GT(r3.back(), 1e-12);  // above rounding, so the fit measures the expansion
  std::printf("one step: slope |R3| %.4f\n", slope);
}

TEST(ThirdOrder, OnlyWhereTheSecondOrderTermIsAndOnlyWhenAsked) {
  const pk::nn::Model model = pk::nn::mlp("2-6-6-1", "tanh");
  const pk::nn::Dataset data = regression_data(12, 2, 1, 61);
  const TrainedRun run =
      train(model, LossKind::mse, data, {.steps = 10, .schedule = Schedule::constant(0.8)}, init(model, 9));
  DecompositionOptions o = first_order_only();
  o.second_order = SecondOrderMode::complex_steps;
  o.tau = 0.02;
  const Tensor queries = query_points(5, 2, 62);
  EXPECT_TRUE(decompose(model, run.trajectory, queries, o).third_order.empty());
  o.order = 3;
  const DecompositionReport r = decompose(model, run.trajectory, queries, o);
  ASSERT_EQ(r.third_order.size(), r.df.size());
  std::int64_t with = 0;
  for (std::size_t i = 0; i < r.df.size(); ++i) {
    EXPECT_EQ(std::isnan(r.third_order[i]), std::isnan(r.second_order[i])) << i;
    with += std::isnan(r.third_order[i]) ? 0 : 1;
  }
  EXPECT_GT(with, 0);
  EXPECT_LT(with, static_cast<std::int64_t>(r.df.size()));
  o.order = 4;
  EXPECT_THROW(decompose(model, run.trajectory, queries, o), std::invalid_argument);
}

}  // namespace
}  // namespace pk::kernel
