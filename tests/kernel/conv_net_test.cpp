// Layered (convolutional) models through the decomposition: they take the generic routes (no
// dense-MLP structure), and every report identity holds; on a smooth tanh conv net the one-step
// remainders have the orders of the expansion; a max-pool net (piecewise smooth) runs and
// reports its errors.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernel/decomposition.hpp"
#include "kernel_test_support.hpp"
#include "nn/architecture.hpp"
#include "nn/dense_chain.hpp"

namespace pk::kernel {
namespace {

using namespace testing;

pk::nn::Model conv_net(const char* arch) {
  return pk::nn::sequential(pk::nn::parse_architecture(arch, {1, 4, 4}));
}

constexpr const char* kSmooth = "conv2d(3,3,padding=1),tanh,avg_pool2d(2),flatten,linear(2)";

TEST(ConvNet, EveryIdentityHolds) {
  for (const char* arch : {kSmooth, "conv2d(2,2),softplus,max_pool2d(3),flatten,linear(4),tanh,linear(2)"}) {
    SCOPED_TRACE(arch);
    const pk::nn::Model model = conv_net(arch);
    ASSERT_FALSE(pk::nn::dense_chain(model).has_value());
    const pk::nn::Dataset data = regression_data(12, 16, 2, 5);
    const TrainedRun run = train(model, pk::nn::LossKind::mse, data, {.steps = 4, .schedule = pk::nn::Schedule::constant(0.2)},
                                 init(model, 3));
    ASSERT_EQ(run.result.status, pk::nn::TrainingStatus::completed) << run.result.message;
    DecompositionOptions o = first_order_only();
    o.second_order = SecondOrderMode::every_step;
    o.exact_kernel = true;
    o.attribution = true;
    const DecompositionReport r = decompose(model, run.trajectory, query_points(5, 16, 9), o);
    expect_report_consistent(r, arch, std::string(arch) == kSmooth);
  }
}

TEST(ConvNet, OneStepRemaindersFallAsAlphaSquaredAndCubed) {
  const pk::nn::Model model = conv_net(kSmooth);
  const pk::nn::Dataset data = regression_data(12, 16, 2, 5);
  const Tensor w0 = init(model, 3), queries = query_points(6, 16, 9);
  std::vector<double> lrs, r1, r2;
  for (int h = 0; h <= 4; ++h) {
    const double lr = 0.2 / std::pow(2.0, h);
    const TrainedRun run = train(model, pk::nn::LossKind::mse, data, {.steps = 1, .schedule = pk::nn::Schedule::constant(lr)}, w0);
    DecompositionOptions o = first_order_only();
    o.second_order = SecondOrderMode::every_step;
    const DecompositionReport r = decompose(model, run.trajectory, queries, o);
    expect_report_consistent(r);
    double s1 = 0.0, s2 = 0.0;
    for (std::int64_t q = 0; q < r.queries; ++q)
      for (std::int64_t c = 0; c < r.outputs; ++c) {
        s1 += std::pow(r.remainder1(r.index(0, q, c)), 2);
        s2 += std::pow(r.remainder2(r.index(0, q, c)), 2);
      }
    lrs.push_back(lr);
    r1.push_back(std::sqrt(s1));
    r2.push_back(std::sqrt(s2));
  }
  const double slope1 = log_log_fit(lrs, r1), slope2 = log_log_fit(lrs, r2);
  EXPECT_NEAR(slope1, 2.0, 0.2);
  EXPECT_NEAR(slope2, 3.0, 0.3);
  EXPECT_GT(r2.back(), 1e-13);
  std::printf("one step, %s: slope |R1| %.4f, slope |R2| %.4f\n", model.name().c_str(), slope1, slope2);
}

TEST(ConvNet, AMaxPoolNetRunsAndReports) {
  const pk::nn::Model model = conv_net("conv2d(3,3,padding=1),relu,max_pool2d(2),flatten,linear(3)");
  pk::nn::Dataset data = regression_data(10, 16, 1, 7);
  Tensor labels(pk::ad::Shape::matrix(10, 1));
  for (std::int64_t i = 0; i < 10; ++i) labels[i] = static_cast<double>(i % 3);
  data = pk::nn::Dataset(data.inputs(), labels);
  const TrainedRun run = train(model, pk::nn::LossKind::softmax_cross_entropy, data,
                               {.steps = 5, .schedule = pk::nn::Schedule::constant(0.3)}, init(model, 4));
  ASSERT_EQ(run.result.status, pk::nn::TrainingStatus::completed) << run.result.message;
  DecompositionOptions o = first_order_only();
  o.second_order = SecondOrderMode::every_step;
  o.exact_kernel = true;
  o.attribution = true;
  const DecompositionReport r = decompose(model, run.trajectory, query_points(4, 16, 2), o);
  expect_report_consistent(r, "max-pool", false);
  EXPECT_EQ(r.steps, 5);
}

}  // namespace
}  // namespace pk::kernel
