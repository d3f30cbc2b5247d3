// The attribution backwards in time (kernel/attribution_backward.hpp) against the forward route
// (kernel/optimizer_shares.hpp): the same A_m, A_reg and exact attribution to rounding for every
// optimiser, the same identities, the state each states, and the automatic choice between them.
#include "kernel/attribution_backward.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "kernel/decomposition.hpp"
#include "kernel_test_support.hpp"

namespace pk::kernel {
namespace {

using namespace testing;
using pk::nn::LossKind;
using pk::nn::OptimizerConfig;
using pk::nn::OptimizerKind;
using pk::nn::Schedule;

DecompositionOptions with_method(AttributionMethod method) {
  DecompositionOptions o = first_order_only();
  o.attribution = true;
  o.attribution_method = method;
  return o;
}

// max |a - b| against max |a|, which must be well above rounding.
void expect_same(const std::vector<double>& a, const std::vector<double>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  ASSERT_FALSE(a.empty()) << what;
  double scale = 0.0, gap = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, std::abs(a[i]));
    gap = std::max(gap, std::abs(a[i] - b[i]));
  }
  EXPECT_GT(scale, 1e-6) << what;
  EXPECT_LE(gap, 1e-12 * scale) << what << ": gap " << gap << " of " << scale;
}

std::string name_of(const OptimizerConfig& config) {
  return std::string(pk::nn::optimizer_name(config.kind)) + (config.nesterov ? " nesterov" : "");
}

TEST(AttributionBackward, AgreesWithTheForwardSumsForEveryOptimiser) {
  const pk::nn::Dataset data = regression_data(12, 2, 2, 401);
  const pk::nn::Model model = pk::nn::mlp("2-5-5-2", "tanh");
  const Tensor queries = query_points(5, 2, 402);
  const Tensor w0 = init(model, 403);
  const OptimizerConfig configs[] = {
      {.kind =
           OptimizerKind::gradient_descent},  // kernel form: only the exact attribution goes through shares
      {.kind = OptimizerKind::gradient_descent, .weight_decay = 0.05},
      {.kind = OptimizerKind::momentum, .momentum = 0.9, .weight_decay = 0.01},
      {.kind = OptimizerKind::momentum, .momentum = 0.7, .nesterov = true, .weight_decay = 0.01},
      {.kind = OptimizerKind::adam, .weight_decay = 0.02},
      {.kind = OptimizerKind::adamw, .weight_decay = 0.1, .beta1 = 0.8, .beta2 = 0.99},
  };
  for (const OptimizerConfig& config : configs) {
    const std::string name = name_of(config) + " decay " + std::to_string(config.weight_decay);
    const bool adam = threshold_is_preconditioned(config);
    const TrainedRun run = train(model, LossKind::mse, data,
                                 {.steps = 10,
                                  .schedule = Schedule::constant(adam ? 0.01 : 0.05),
                                  .optimizer = config,
                                  .batches = {.batch_size = 5, .seed = 3}},
                                 w0);
    DecompositionReport r[2];
    for (int i = 0; i < 2; ++i) {
      DecompositionOptions o = with_method(i == 0 ? AttributionMethod::forward : AttributionMethod::backward);
      o.exact_kernel = true;
      o.exact_attribution = true;
      o.query_chunk = 3;  // two pieces, each with its own state
      r[i] = decompose(model, run.trajectory, queries, o);
      expect_report_consistent(r[i], name);
    }
    const DecompositionReport& fwd = r[0];
    const DecompositionReport& bwd = r[1];
    EXPECT_EQ(fwd.exact_attribution_method, "per_point_state") << name;
    EXPECT_EQ(bwd.exact_attribution_method, "per_query_backward") << name;
    EXPECT_EQ(bwd.attribution_plan.method, AttributionMethod::backward) << name;
    EXPECT_EQ(bwd.attribution_plan.requested, AttributionMethod::backward) << name;
    if (fwd.kernel_form) {
      EXPECT_EQ(bwd.attribution_method, "kernel") << name;
      expect_same(fwd.attribution, bwd.attribution, name + ": the kernel route either way");
    } else {
      EXPECT_EQ(fwd.attribution_method, "per_point_state") << name;
      EXPECT_EQ(bwd.attribution_method, "per_query_backward") << name;
      expect_same(fwd.attribution, bwd.attribution, name + ": A_m");
      if (config.weight_decay != 0.0)
        expect_same(fwd.attribution_regularizer, bwd.attribution_regularizer, name + ": A_reg");
      // sum_m A_m + A_reg = sum_k F1_k with the backward sums too.
      EXPECT_LT(bwd.attribution_identity_error(), 1e-12) << name;
    }
    expect_same(fwd.exact_attribution, bwd.exact_attribution, name + ": exact A_m");
    if (config.weight_decay != 0.0)
      expect_same(fwd.exact_attribution_regularizer, bwd.exact_attribution_regularizer,
                  name + ": exact A_reg");
    EXPECT_LT(bwd.exact_attribution_identity_error(), 1e-10) << name;
    ASSERT_EQ(bwd.exact_attribution_error.size(), 10u) << name;
    for (std::size_t k = 0; k < 10; ++k)
      EXPECT_NEAR(bwd.exact_attribution_error[k], fwd.exact_attribution_error[k], 1e-13)
          << name << " step " << k;
    // The stated state is what each method holds, and what the choice estimated.
    EXPECT_EQ(fwd.attribution_state_bytes, fwd.attribution_plan.forward_bytes) << name;
    EXPECT_EQ(bwd.attribution_state_bytes, bwd.attribution_plan.backward_bytes) << name;
  }
}

TEST(AttributionBackward, MomentumZeroIsGradientDescentBitForBit) {
  const pk::nn::Dataset data = regression_data(10, 2, 2, 411);
  const pk::nn::Model model = pk::nn::mlp("2-6-2", "tanh");
  const Tensor queries = query_points(3, 2, 412);
  const Tensor w0 = init(model, 413);
  const pk::nn::BatchConfig batches{.batch_size = 4, .seed = 5};
  // With weight decay neither run has a kernel form: both attribute through the shares.
  const TrainedRun gd = train(model, LossKind::mse, data,
                              {.steps = 8,
                               .schedule = Schedule::constant(0.1),
                               .optimizer = {.kind = OptimizerKind::gradient_descent, .weight_decay = 0.03},
                               .batches = batches},
                              w0);
  const TrainedRun mom =
      train(model, LossKind::mse, data,
            {.steps = 8,
             .schedule = Schedule::constant(0.1),
             .optimizer = {.kind = OptimizerKind::momentum, .momentum = 0.0, .weight_decay = 0.03},
             .batches = batches},
            w0);
  const DecompositionReport a =
      decompose(model, gd.trajectory, queries, with_method(AttributionMethod::backward));
  const DecompositionReport b =
      decompose(model, mom.trajectory, queries, with_method(AttributionMethod::backward));
  EXPECT_EQ(b.attribution_method, "per_query_backward");
  ASSERT_EQ(a.attribution.size(), b.attribution.size());
  for (std::size_t i = 0; i < a.attribution.size(); ++i)
    EXPECT_EQ(std::bit_cast<std::uint64_t>(a.attribution[i]), std::bit_cast<std::uint64_t>(b.attribution[i]))
        << i;
  for (std::size_t i = 0; i < a.attribution_regularizer.size(); ++i)
    EXPECT_EQ(a.attribution_regularizer[i], b.attribution_regularizer[i]) << i;
  expect_same(a.attribution,
              decompose(model, gd.trajectory, queries, with_method(AttributionMethod::forward)).attribution,
              "gradient descent with decay, backward against forward");
}

TEST(AttributionBackward, AutoPicksTheMethodWithLessState) {
  const pk::nn::Model model = pk::nn::mlp("2-6-2", "tanh");
  const OptimizerConfig config{.kind = OptimizerKind::momentum, .momentum = 0.9};
  const Tensor w0 = init(model, 423);
  // Q * C << M: per-query buffers are smaller.
  {
    const pk::nn::Dataset data = regression_data(60, 2, 2, 421);
    const TrainedRun run = train(model, LossKind::mse, data,
                                 {.steps = 4,
                                  .schedule = Schedule::constant(0.05),
                                  .optimizer = config,
                                  .batches = {.batch_size = 10, .seed = 1}},
                                 w0);
    const DecompositionReport r =
        decompose(model, run.trajectory, query_points(1, 2, 422), with_method(AttributionMethod::automatic));
    EXPECT_EQ(r.attribution_method, "per_query_backward");
    EXPECT_EQ(r.attribution_plan.requested, AttributionMethod::automatic);
    EXPECT_LT(r.attribution_plan.backward_bytes, r.attribution_plan.forward_bytes);
    EXPECT_EQ(r.attribution_state_bytes, r.attribution_plan.backward_bytes);
    EXPECT_LT(r.attribution_identity_error(), 1e-12);
    // The pair split holds the per-point shares anyway: auto stays forward.
    DecompositionOptions pairs = with_method(AttributionMethod::automatic);
    pairs.pair_query = 0;
    pairs.second_order = SecondOrderMode::every_step;
    EXPECT_EQ(decompose(model, run.trajectory, query_points(1, 2, 422), pairs).attribution_method,
              "per_point_state");
  }
  // M << Q * C: per-point state is smaller.
  {
    const pk::nn::Dataset data = regression_data(3, 2, 2, 424);
    const TrainedRun run = train(model, LossKind::mse, data,
                                 {.steps = 4, .schedule = Schedule::constant(0.05), .optimizer = config}, w0);
    const DecompositionReport r =
        decompose(model, run.trajectory, query_points(40, 2, 425), with_method(AttributionMethod::automatic));
    EXPECT_EQ(r.attribution_method, "per_point_state");
    EXPECT_EQ(r.attribution_plan.method, AttributionMethod::forward);
    EXPECT_LT(r.attribution_plan.forward_bytes, r.attribution_plan.backward_bytes);
    EXPECT_EQ(r.attribution_state_bytes, r.attribution_plan.forward_bytes);
  }
}

TEST(AttributionBackward, TheOnlineObserverRunsForwardAndRefusesBackward) {
  const pk::nn::Dataset data = regression_data(30, 2, 1, 431);
  const pk::nn::Model model = pk::nn::mlp("2-4-1", "tanh");
  const pk::nn::TrainingConfig training{
      .steps = 3, .schedule = Schedule::constant(0.05), .optimizer = {.kind = OptimizerKind::adam}};
  for (const AttributionMethod method : {AttributionMethod::automatic, AttributionMethod::backward}) {
    DecompositionObserver observer(model, pk::nn::Loss(LossKind::mse), query_points(1, 2, 432),
                                   with_method(method));
    pk::nn::Trainer trainer(model, pk::nn::Loss(LossKind::mse), data, training);
    trainer.add_observer(observer);
    if (method == AttributionMethod::backward) {
      EXPECT_THROW(trainer.run(init(model, 433)), std::invalid_argument);
    } else {
      trainer.run(init(model, 433));
      EXPECT_EQ(observer.report().attribution_method, "per_point_state");
      EXPECT_NE(observer.report().attribution_plan.reason.find("online"), std::string::npos);
    }
  }
}

TEST(AttributionBackward, MethodNamesParseAndUnknownOnesAreRefused) {
  EXPECT_EQ(parse_attribution_method("auto"), AttributionMethod::automatic);
  EXPECT_EQ(parse_attribution_method("forward"), AttributionMethod::forward);
  EXPECT_EQ(parse_attribution_method("backward"), AttributionMethod::backward);
  EXPECT_EQ(attribution_method_name(AttributionMethod::backward), "backward");
  EXPECT_THROW(parse_attribution_method("sideways"), std::invalid_argument);
}

}  // namespace
}  // namespace pk::kernel
