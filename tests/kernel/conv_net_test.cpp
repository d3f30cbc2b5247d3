// Layered (convolutional) models through the decomposition: they take the generic routes (no
// dense-MLP structure), every report identity holds, and each term matches its kernel form summed
// independently; on a smooth tanh conv net the one-step remainders have the orders of the
// expansion; a max-pool net (piecewise smooth) runs and reports its errors.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernel/decomposition.hpp"
#include "kernel/model_tangent_kernel.hpp"
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
    const TrainedRun run = train(model, pk::nn::LossKind::mse, data,
                                 {.steps = 4, .schedule = pk::nn::Schedule::constant(0.2)}, init(model, 3));
    ASSERT_EQ(run.result.status, pk::nn::TrainingStatus::completed) << run.result.message;
    DecompositionOptions o = first_order_only();
    o.second_order = SecondOrderMode::every_step;
    o.exact_kernel = true;
    o.attribution = true;
    const DecompositionReport r = decompose(model, run.trajectory, query_points(5, 16, 9), o);
    expect_report_consistent(r, arch, std::string(arch) == kSmooth);
  }
}

// Each identity of the mathematics against sums formed independently of the decomposition, on a
// smooth conv net: F1_k(x) = -alpha_k sum_m K_k(x, x_m) L'_{k,m} with K from per-sample Jacobians,
// F2_k(x) = 1/2 dw_k . (H_k(x) dw_k) by a Hessian-vector product of one output, the pairs of
// training points summing to the chosen query's F2, Domingos' K^p = sum_k alpha_k K_k, and
// F3 = 1/6 D^3 f[dw, dw, dw] against differences of Hessian-vector products.
TEST(ConvNet, KernelFormsOfEachTermMatchIndependentSums) {
  const pk::nn::Model model = conv_net(kSmooth);
  const pk::nn::Dataset data = regression_data(6, 16, 2, 8);
  const TrainedRun run =
      train(model, pk::nn::LossKind::mse, data,
            {.steps = 3, .schedule = pk::nn::Schedule::explicit_steps({0.3, 0.1, 0.2})}, init(model, 5));
  const Tensor queries = query_points(3, 16, 10);
  DecompositionOptions o = first_order_only();
  o.second_order = SecondOrderMode::every_step;
  o.order = 3;
  o.attribution = true;
  o.exact_kernel = true;
  o.pair_query = 0;
  const DecompositionReport r = decompose(model, run.trajectory, queries, o);
  expect_report_consistent(r, "conv, every term");
  const std::int64_t c_out = 2, m_all = 6, f = 16;
  const pk::ad::TensorView inputs = run.trajectory.training_inputs();
  std::vector<double> path_kernel(static_cast<std::size_t>(3 * c_out * m_all), 0.0);
  double f2_query0 = 0.0;
  for (std::int64_t k = 0; k < r.steps; ++k) {
    const Tensor w(run.trajectory.weights(k));
    Tensor dw(run.trajectory.weights(k + 1));
    for (std::int64_t i = 0; i < dw.size(); ++i) dw[i] -= w[i];
    const Tensor lprime = run.trajectory.dense_output_derivatives(k);
    const double alpha = run.trajectory.learning_rate(k);
    pk::ad::Tape tape;
    const Tensor kernel =
        model_tangent_kernel(model, queries, Tensor(inputs), w, tape, KernelRoute::jacobians);
    for (std::int64_t q = 0; q < 3; ++q)
      for (std::int64_t c = 0; c < c_out; ++c) {
        double f1 = 0.0;
        for (std::int64_t m = 0; m < m_all; ++m)
          for (std::int64_t c2 = 0; c2 < c_out; ++c2) {
            const double kv = kernel(q * c_out + c, m * c_out + c2);
            f1 -= alpha * kv * lprime(m, c2);
            if (c2 == c) path_kernel[static_cast<std::size_t>((q * c_out + c) * m_all + m)] += alpha * kv;
          }
        const std::size_t i = r.index(k, q, c);
        EXPECT_NEAR(r.first_order[i], f1, 1e-12 * (1e-3 + std::abs(f1))) << "step " << k << " query " << q;
        const Tensor x(pk::ad::TensorView(queries.data() + q * f, Shape::vector(f)));
        auto output = [&](Var wv) {
          return pk::ad::sum(
              pk::ad::slice(pk::nn::forward_sample(model, wv.tape().constant(x), wv), c, c + 1));
        };
        const Tensor h_dw = pk::ad::hvp(output, w, dw);
        double f2 = 0.0;
        for (std::int64_t j = 0; j < dw.size(); ++j) f2 += 0.5 * dw[j] * h_dw[j];
        EXPECT_NEAR(r.second_order[i], f2, 1e-11 * std::abs(f2) + 1e-18) << "step " << k << " query " << q;
        // F3 = 1/6 d/dt (dw . H(w + t dw) dw) at t = 0, by central differences of the HVP.
        constexpr double h = 1e-3;
        Tensor w_plus = w, w_minus = w;
        for (std::int64_t j = 0; j < w.size(); ++j) w_plus[j] += h * dw[j], w_minus[j] -= h * dw[j];
        const Tensor hp = pk::ad::hvp(output, w_plus, dw), hm = pk::ad::hvp(output, w_minus, dw);
        double f3 = 0.0;
        for (std::int64_t j = 0; j < dw.size(); ++j) f3 += dw[j] * (hp[j] - hm[j]) / (2 * h) / 6.0;
        EXPECT_NEAR(r.third_order[i], f3, 1e-5 * std::abs(f3) + 1e-16) << "step " << k << " query " << q;
        if (q == 0) f2_query0 += r.second_order[i];
      }
  }
  EXPECT_NEAR(r.pair_total, f2_query0, 1e-12 * std::abs(f2_query0));
  ASSERT_EQ(r.path_kernel.size(), path_kernel.size());
  for (std::size_t i = 0; i < path_kernel.size(); ++i)
    EXPECT_NEAR(r.path_kernel[i], path_kernel[i], 1e-12 * (1e-3 + std::abs(path_kernel[i])))
        << "K^p entry " << i;
}

TEST(ConvNet, OneStepRemaindersFallAsAlphaSquaredAndCubed) {
  const pk::nn::Model model = conv_net(kSmooth);
  const pk::nn::Dataset data = regression_data(12, 16, 2, 5);
  const Tensor w0 = init(model, 3), queries = query_points(6, 16, 9);
  std::vector<double> lrs, r1, r2;
  for (int h = 0; h <= 4; ++h) {
    const double lr = 0.2 / std::pow(2.0, h);
    const TrainedRun run = train(model, pk::nn::LossKind::mse, data,
                                 {.steps = 1, .schedule = pk::nn::Schedule::constant(lr)}, w0);
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
