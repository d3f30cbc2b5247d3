// The verification ladder's rung 4: on a smooth tanh network the remainders have the
// orders the expansion gives them. One step: |R1| ~ alpha^2 and |R2| ~ alpha^3. A whole run at a
// fixed alpha * N: sum R1 ~ N alpha^2 ~ alpha and sum R2 ~ N alpha^3 ~ alpha^2.
//
// Each slope is a least-squares fit of log error against log alpha over five learning rates
// (four halvings). A term computed wrongly moves a slope by a whole unit or more (F2 without its
// 1/2 leaves an alpha^2 remainder: slope 2 instead of 3; F2 equal to F1 leaves alpha: slope 1;
// F1 from the wrong weights leaves alpha^2 in R1 of a whole run: slope 2 instead of 1), so
// tolerances of a fraction of a unit separate right from wrong while leaving room for the next
// order's share at the largest rate.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernel/decomposition.hpp"
#include "kernel_test_support.hpp"

namespace pk::kernel {
namespace {

using namespace testing;

// An MLP (a dense chain by its layer list) takes the Taylor-mode second-order route, a
// user-defined network the double backward; both are checked.
struct OrdersProblem {
  pk::nn::Dataset data = regression_data(24, 2, 2, 31);
  pk::nn::Model model = pk::nn::mlp("2-12-12-2", "tanh");
  Tensor queries = query_points(8, 2, 32);
  Tensor w0 = init(model, 7);

  OrdersProblem() = default;
  explicit OrdersProblem(pk::nn::Model m) : model(std::move(m)), w0(init(model, 7)) {}
};

// The 2-norm over query points and outputs of a per-entry quantity.
template <class F>
double norm_over_entries(const DecompositionReport& r, F value) {
  double s = 0.0;
  for (std::int64_t q = 0; q < r.queries; ++q)
    for (std::int64_t c = 0; c < r.outputs; ++c) {
      const double v = value(q, c);
      s += v * v;
    }
  return std::sqrt(s);
}

DecompositionReport decomposed_run(const OrdersProblem& s, double lr, std::int64_t steps) {
  const TrainedRun run = train(s.model, pk::nn::LossKind::mse, s.data,
                               {.steps = steps, .schedule = pk::nn::Schedule::constant(lr)}, s.w0);
  EXPECT_EQ(run.result.status, pk::nn::TrainingStatus::completed) << run.result.message;
  DecompositionOptions o = first_order_only();
  o.second_order = SecondOrderMode::every_step;
  const DecompositionReport r = decompose(s.model, run.trajectory, s.queries, o);
  expect_report_consistent(r, "lr " + std::to_string(lr));
  return r;
}

void expect_one_step_orders(const OrdersProblem& s) {
  std::vector<double> lrs, r1, r2;
  for (int h = 0; h <= 4; ++h) {
    const double lr = 0.1 / std::pow(2.0, h);
    const DecompositionReport r = decomposed_run(s, lr, 1);
    lrs.push_back(lr);
    r1.push_back(
        norm_over_entries(r, [&](std::int64_t q, std::int64_t c) { return r.remainder1(r.index(0, q, c)); }));
    r2.push_back(
        norm_over_entries(r, [&](std::int64_t q, std::int64_t c) { return r.remainder2(r.index(0, q, c)); }));
  }
  const double slope1 = log_log_fit(lrs, r1), slope2 = log_log_fit(lrs, r2);
  EXPECT_NEAR(slope1, 2.0, 0.2) << s.model.name() << ": |R1| over alpha = 0.1 ... 0.00625";
  EXPECT_NEAR(slope2, 3.0, 0.3) << s.model.name() << ": |R2| over alpha = 0.1 ... 0.00625";
  // Far above rounding even at the smallest rate, so the fit measures the expansion.
  EXPECT_GT(r2.back(), 1e-11);
  std::printf("one step, %s: slope |R1| %.4f, slope |R2| %.4f\n", s.model.name().c_str(), slope1, slope2);
}

TEST(Orders, OneStepRemaindersFallAsAlphaSquaredAndCubed) {
  expect_one_step_orders(OrdersProblem());                      // Taylor-mode route
  expect_one_step_orders(OrdersProblem(custom_tanh_model(2)));  // double-backward route
}

TEST(Orders, WholeRunErrorsAtFixedTrainingTimeFallAsAlphaAndAlphaSquared) {
  const OrdersProblem s;
  const double time = 2.0;  // alpha * N
  std::vector<double> lrs, first, second;
  for (int h = 0; h <= 4; ++h) {
    const double lr = 0.1 / std::pow(2.0, h);
    const auto steps = static_cast<std::int64_t>(std::lround(time / lr));
    const DecompositionReport r = decomposed_run(s, lr, steps);
    lrs.push_back(lr);
    // |f_N - f_0 - sum F1| and |f_N - f_0 - sum F1 - sum F2| per query point and output.
    first.push_back(norm_over_entries(r, [&](std::int64_t q, std::int64_t c) {
      const QuerySummary x = r.summary(q, c);
      return x.f_final - x.f_initial - x.sum_first_order;
    }));
    second.push_back(norm_over_entries(r, [&](std::int64_t q, std::int64_t c) {
      const QuerySummary x = r.summary(q, c);
      return x.f_final - x.f_initial - x.sum_first_order - x.sum_second_order;
    }));
  }
  const double slope1 = log_log_fit(lrs, first), slope2 = log_log_fit(lrs, second);
  // Tolerances 0.15 and 0.25: sums over a path can let the next order's share into the largest
  // rate a little more than one step does, and a wrong term moves the slope by a whole unit.
  EXPECT_NEAR(slope1, 1.0, 0.15) << "first-order error over alpha = 0.1 ... 0.00625 at alpha N = 2";
  EXPECT_NEAR(slope2, 2.0, 0.25) << "second-order-corrected error over the same runs";
  std::printf("whole run: slope first-order error %.4f, slope second-order error %.4f\n", slope1, slope2);
}

}  // namespace
}  // namespace pk::kernel
