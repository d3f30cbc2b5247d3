// Training: loss reduction, bit-identical reruns, the path-kernel identity of each recorded step
// (dw_k = -alpha_k sum_m J_k(x_m)^T L'_{k,m}, with J from independent per-sample Jacobians),
// divergence, stopping, and the observers' view of a step.
#include "nn/trainer.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "autodiff/autodiff.hpp"
#include "nn/error.hpp"
#include "nn/init.hpp"
#include "nn/mlp.hpp"
#include "nn/synthetic.hpp"
#include "nn/trajectory.hpp"
#include "test_support.hpp"

namespace pk::nn {
namespace {

using testing::relative_error;

struct Recorded {
  TrainingResult result;
  Trajectory trajectory;
};

Recorded train(const Model& model, LossKind loss, const Dataset& data, const TrainingConfig& config,
               std::uint64_t init_seed, InitScheme init = InitScheme::pytorch_default) {
  Trainer trainer(model, Loss(loss), data, config);
  TrajectoryRecorder recorder;
  trainer.add_observer(recorder);
  TrainingResult result = trainer.run(initialise(model.layout(), init, init_seed));
  return {std::move(result), recorder.take()};
}

// -alpha_k sum_m J_k(x_m)^T L'_{k,m} over every training point, from per-sample Jacobians taken
// with pk::ad::jacobian on the single-sample forward, and the dense L' (zero outside the batch).
ad::Tensor kernel_form_step(const Model& model, const Dataset& data, const Trajectory& t, std::int64_t k) {
  const ad::TensorView w = t.weights(k);
  const ad::Tensor lprime = t.dense_output_derivatives(k);
  const std::int64_t d = model.parameter_count(), c = model.output_dim();
  ad::Tensor predicted(ad::Shape::vector(d));
  ad::Tape tape;
  for (std::int64_t m = 0; m < data.size(); ++m) {
    const ad::Tensor x(
        ad::TensorView(data.inputs().data() + m * data.input_dim(), ad::Shape::vector(data.input_dim())));
    const ad::Tensor jac =
        ad::jacobian([&](ad::Var wv) { return forward_sample(model, wv.tape().constant(x), wv); }, w, &tape);
    for (std::int64_t o = 0; o < c; ++o)
      for (std::int64_t i = 0; i < d; ++i) predicted[i] -= t.learning_rate(k) * jac(o, i) * lprime(m, o);
  }
  return predicted;
}

TEST(Trainer, FullBatchDescentOnTwoMoonsLowersTheLossBy90Percent) {
  const Dataset data = two_moons(100, 1, 0.1);
  const Model model = mlp("2-16-16-1", "tanh");
  const Recorded run = train(model, LossKind::binary_cross_entropy, data,
                             {.steps = 1500, .schedule = Schedule::constant(1.0)}, 1);
  ASSERT_EQ(run.result.status, TrainingStatus::completed) << run.result.message;
  const double first =
      dataset_loss(model, Loss(LossKind::binary_cross_entropy), data, run.trajectory.weights(0));
  EXPECT_LT(run.result.final_loss, 0.1 * first) << first << " -> " << run.result.final_loss;
  EXPECT_EQ(run.trajectory.loss_value(0), first);  // full batch: the step's loss is the data's
}

TEST(Trainer, FullBatchDescentOnSineRegressionLowersTheLossBy90Percent) {
  const Dataset data = sine_regression(64, 2, 0.0);
  const Model model = mlp("1-16-16-1", "tanh");
  const Recorded run =
      train(model, LossKind::mse, data, {.steps = 1500, .schedule = Schedule::constant(0.2)}, 2);
  ASSERT_EQ(run.result.status, TrainingStatus::completed) << run.result.message;
  const double first = run.trajectory.loss_value(0);
  EXPECT_LT(run.result.final_loss, 0.1 * first) << first << " -> " << run.result.final_loss;
}

TEST(Trainer, SameSeedsGiveBitIdenticalTrajectoriesOtherSeedsOtherOnes) {
  const Dataset data = two_moons(60, 3, 0.1);
  const Model model = mlp("2-8-1", "tanh");
  TrainingConfig config{
      .steps = 40, .schedule = Schedule::constant(0.5), .batches = {.batch_size = 16, .seed = 5}};
  const Recorded a = train(model, LossKind::binary_cross_entropy, data, config, 7);
  const Recorded b = train(model, LossKind::binary_cross_entropy, data, config, 7);
  EXPECT_TRUE(a.trajectory == b.trajectory);
  const Recorded other_init = train(model, LossKind::binary_cross_entropy, data, config, 8);
  EXPECT_FALSE(a.trajectory == other_init.trajectory);
  EXPECT_NE(other_init.trajectory.weights(0)[0], a.trajectory.weights(0)[0]);
  config.batches.seed = 6;
  const Recorded other_batches = train(model, LossKind::binary_cross_entropy, data, config, 7);
  EXPECT_FALSE(a.trajectory == other_batches.trajectory);
  EXPECT_TRUE(std::equal(a.trajectory.weights(0).span().begin(), a.trajectory.weights(0).span().end(),
                         other_batches.trajectory.weights(0).span().begin()));
  bool batch_differs = false;
  for (std::int64_t k = 0; k < 4; ++k) {
    const auto x = a.trajectory.batch(k), y = other_batches.trajectory.batch(k);
    batch_differs = batch_differs || !std::equal(x.begin(), x.end(), y.begin(), y.end());
  }
  EXPECT_TRUE(batch_differs);
}

TEST(Trainer, EachFullBatchStepIsTheKernelSumOfPerSampleJacobians) {
  const Dataset data = two_moons(24, 4, 0.1);
  const Model model = mlp("2-8-8-1", "tanh");
  for (const LossKind loss : {LossKind::mse, LossKind::binary_cross_entropy}) {
    const Recorded run =
        train(model, loss, data, {.steps = 30, .schedule = Schedule::cosine(0.8, 30, 0.1)}, 4);
    ASSERT_EQ(run.trajectory.steps(), 30);
    EXPECT_TRUE(run.trajectory.has_kernel_form());
    for (const std::int64_t k : {0, 13, 29}) {
      SCOPED_TRACE(k);
      const ad::Tensor dw = run.trajectory.step(k);
      EXPECT_LT(relative_error(dw, kernel_form_step(model, data, run.trajectory, k)), 1e-12);
      // The recorded L' is the loss's derivative at independently evaluated outputs.
      const ad::Tensor y = evaluate(model, data.inputs(), run.trajectory.weights(k));
      const ad::Tensor expected = Loss(loss).output_derivative(y, data.targets());
      EXPECT_LT(relative_error(run.trajectory.output_derivatives(k), expected), 1e-13);
    }
  }
}

TEST(Trainer, EachMiniBatchStepIsTheKernelSumOverItsBatch) {
  const Dataset data = spirals(30, 5, 0.02, 3);
  const Model model = mlp("2-10-3", "softplus");
  // 30 rows in batches of 8: every epoch ends with a batch of 6.
  const Recorded run =
      train(model, LossKind::softmax_cross_entropy, data,
            {.steps = 12, .schedule = Schedule::constant(0.3), .batches = {.batch_size = 8, .seed = 9}}, 5,
            InitScheme::xavier_uniform);
  for (const std::int64_t k : {1, 3, 10}) {
    SCOPED_TRACE(k);
    const auto batch = run.trajectory.batch(k);
    EXPECT_EQ(batch.size(), k == 3 ? 6u : 8u);
    const ad::Tensor dense = run.trajectory.dense_output_derivatives(k);
    std::int64_t nonzero_rows = 0;
    for (std::int64_t m = 0; m < data.size(); ++m)
      nonzero_rows += (dense(m, 0) != 0 || dense(m, 1) != 0 || dense(m, 2) != 0) ? 1 : 0;
    EXPECT_EQ(nonzero_rows, static_cast<std::int64_t>(batch.size()));
    EXPECT_LT(relative_error(run.trajectory.step(k), kernel_form_step(model, data, run.trajectory, k)),
              1e-12);
    // L' over the batch carries 1/|B|, not 1/M.
    const Dataset part = data.rows(batch);
    const ad::Tensor expected =
        Loss(LossKind::softmax_cross_entropy)
            .output_derivative(evaluate(model, part.inputs(), run.trajectory.weights(k)), part.targets());
    EXPECT_LT(relative_error(run.trajectory.output_derivatives(k), expected), 1e-13);
    // And the trainer's L'-seeded sweep equals a plain gradient of the recorded batch loss.
    const ad::Tensor g =
        loss_gradient(model, Loss(LossKind::softmax_cross_entropy), data, run.trajectory.weights(k), batch);
    ad::Tensor minus_alpha_g(g.shape());
    for (std::int64_t i = 0; i < g.size(); ++i) minus_alpha_g[i] = -0.3 * g[i];
    EXPECT_LT(relative_error(run.trajectory.step(k), minus_alpha_g), 1e-12);
  }
}

TEST(Trainer, ALearningRateFarPastStabilityDivergesWithAFiniteTrajectory) {
  const Dataset data = sine_regression(32, 6, 0.0);
  const Model model = mlp("1-16-1", "tanh");
  const Recorded run =
      train(model, LossKind::mse, data, {.steps = 1000, .schedule = Schedule::constant(500.0)}, 6);
  ASSERT_EQ(run.result.status, TrainingStatus::diverged);
  EXPECT_NE(run.result.message.find("diverged at step " + std::to_string(run.result.steps)),
            std::string::npos)
      << run.result.message;
  EXPECT_LT(run.result.steps, 1000);
  EXPECT_EQ(run.trajectory.steps(), run.result.steps);
  EXPECT_EQ(run.trajectory.status, TrainingStatus::diverged);
  for (std::int64_t k = 0; k <= run.trajectory.steps(); ++k)
    for (const double v : run.trajectory.weights(k).span()) ASSERT_TRUE(std::isfinite(v)) << k;
  for (std::int64_t k = 0; k < run.trajectory.steps(); ++k)
    ASSERT_TRUE(std::isfinite(run.trajectory.loss_value(k)));
  EXPECT_TRUE(std::equal(run.result.final_weights.span().begin(), run.result.final_weights.span().end(),
                         run.trajectory.weights(run.trajectory.steps()).span().begin()));
}

TEST(Trainer, MomentumAndAdamTrainAndAreMarkedWithoutTheKernelForm) {
  const Dataset data = sine_regression(40, 7, 0.0);
  const Model model = mlp("1-12-1", "tanh");
  for (const OptimizerKind kind : {OptimizerKind::momentum, OptimizerKind::adam}) {
    const Recorded run = train(model, LossKind::mse, data,
                               {.steps = 300,
                                .schedule = Schedule::constant(kind == OptimizerKind::adam ? 0.01 : 0.05),
                                .optimizer = {.kind = kind}},
                               7);
    EXPECT_EQ(run.trajectory.optimizer.kind, kind);
    EXPECT_FALSE(run.trajectory.has_kernel_form());
    EXPECT_LT(run.result.final_loss, 0.5 * run.trajectory.loss_value(0));
  }
}

class StopAfter : public StepObserver {
 public:
  StopAfter(Trainer& t, std::int64_t k) : trainer_(t), k_(k) {}
  void on_step(const StepView& s) override {
    if (s.step == k_) trainer_.request_stop();
  }

 private:
  Trainer& trainer_;
  std::int64_t k_;
};

// Checks what an observer is shown against the model, the loss and the data.
class Inspector : public StepObserver {
 public:
  Inspector(const Model& m, const Dataset& d) : model_(m), data_(d) {}
  void on_start(const RunInfo& info) override {
    EXPECT_EQ(info.parameter_count, model_.parameter_count());
    EXPECT_EQ(info.sample_count, data_.size());
    EXPECT_EQ(info.batch_capacity, 5);
    EXPECT_FALSE(info.full_batch);
    EXPECT_EQ(info.initial_weights.size(), model_.parameter_count());
    started = true;
  }
  void on_step(const StepView& s) override {
    EXPECT_EQ(s.step, steps);
    const Dataset part = data_.rows(s.batch);
    const ad::Tensor y = evaluate(model_, part.inputs(), s.weights_before);
    EXPECT_LT(relative_error(s.outputs, y), 1e-14);
    EXPECT_NEAR(s.loss, Loss(LossKind::mse).value(y, part.targets()), 1e-14);
    EXPECT_EQ(s.output_derivatives.shape(), ad::Shape::matrix(static_cast<std::int64_t>(s.batch.size()), 1));
    EXPECT_EQ(s.learning_rate, s.step < 3 ? 0.1 * static_cast<double>(s.step + 1) / 3.0 : 0.1);
    ++steps;
  }
  void on_finish(const TrainingResult& r) override { finish_status = r.status; }
  bool started = false;
  std::int64_t steps = 0;
  TrainingStatus finish_status = TrainingStatus::interrupted;

 private:
  const Model& model_;
  const Dataset& data_;
};

TEST(Trainer, ObserversSeeEveryStepAndCanStopTheRun) {
  const Dataset data = sine_regression(12, 8, 0.1);
  const Model model = mlp("1-4-1", "sigmoid");
  Trainer trainer(model, Loss(LossKind::mse), data,
                  {.steps = 50,
                   .schedule = Schedule::linear_warmup(3, Schedule::constant(0.1)),
                   .batches = {.batch_size = 5, .seed = 1}});
  Inspector inspector(model, data);
  StopAfter stop(trainer, 7);
  trainer.add_observer(inspector);
  trainer.add_observer(stop);
  const TrainingResult r = trainer.run(initialise(model.layout(), InitScheme::he_uniform, 1));
  EXPECT_TRUE(inspector.started);
  EXPECT_EQ(r.status, TrainingStatus::stopped);
  EXPECT_EQ(r.steps, 8);
  EXPECT_EQ(inspector.steps, 8);
  EXPECT_EQ(inspector.finish_status, TrainingStatus::stopped);
}

TEST(Trainer, RefusesConfigurationsThatDoNotFit) {
  const Dataset data = sine_regression(10, 9);
  PK_EXPECT_THROW_WITH(Trainer(mlp("2-3-1", "tanh"), Loss(LossKind::mse), data, {}), SpecError,
                       "the data have 1 input columns, model 'mlp 2-3-1 tanh' takes 2");
  PK_EXPECT_THROW_WITH(Trainer(mlp("1-3-2", "tanh"), Loss(LossKind::mse), data, {}), SpecError,
                       "targets of shape (10, 1) for 2 model outputs");
  PK_EXPECT_THROW_WITH(Trainer(mlp("1-3-1", "tanh"), Loss(LossKind::mse), data,
                               {.steps = 5, .schedule = Schedule::explicit_steps({0.1, 0.1})}),
                       SpecError, "covers 2 steps, the run plans 5");
  PK_EXPECT_THROW_WITH(Trainer(mlp("1-3-1", "tanh"), Loss(LossKind::binary_cross_entropy), data, {}),
                       SpecError, "outside [0, 1]");
  Trainer ok(mlp("1-3-1", "tanh"), Loss(LossKind::mse), data, {.steps = 1});
  PK_EXPECT_THROW_WITH(ok.run(ad::Tensor::vector({1, 2})), SpecError,
                       "initial weights: parameters of shape (2)");
}

TEST(DoubleWell, TheTrainedLossIsTheClosedFormWithTwoBasinsAndABarrier) {
  const DoubleWell p = double_well(41, 0.25);
  const Loss mse(LossKind::mse);
  for (const double w : {-1.3, -0.7, -0.1, 0.0, 0.4, 1.1}) {
    const ad::Tensor wt = ad::Tensor::vector({w});
    EXPECT_NEAR(dataset_loss(p.model, mse, p.data, wt), p.loss(w), 1e-14) << w;
    EXPECT_NEAR(loss_gradient(p.model, mse, p.data, wt)[0], p.gradient(w), 1e-14) << w;
  }
  EXPECT_LT(p.local_minimum, p.barrier);
  EXPECT_LT(p.barrier, p.global_minimum);
  EXPECT_GT(p.global_minimum, 0.0);
  EXPECT_LT(p.loss(p.global_minimum), p.loss(p.local_minimum));
  EXPECT_GT(p.loss(p.barrier), p.loss(p.local_minimum));
  EXPECT_NEAR(p.gradient(p.barrier), 0.0, 1e-15);
  // Small steps stay in the basin they start in; one large step from the local minimum's side
  // jumps the barrier into the global basin.
  auto descend = [&](double w0, const Schedule& s, std::int64_t steps) {
    Trainer t(p.model, mse, p.data, {.steps = steps, .schedule = s});
    return t.run(ad::Tensor::vector({w0})).final_weights[0];
  };
  EXPECT_NEAR(descend(p.barrier - 0.05, Schedule::constant(0.5), 400), p.local_minimum, 1e-9);
  EXPECT_NEAR(descend(p.barrier + 0.05, Schedule::constant(0.5), 400), p.global_minimum, 1e-9);
  std::vector<double> rates(400, 0.5);
  rates[0] = 6.0;
  EXPECT_NEAR(descend(p.local_minimum - 0.3, Schedule::explicit_steps(rates), 400), p.global_minimum, 1e-9);
  PK_EXPECT_THROW_WITH(double_well(41, 3.0), SpecError, "too large for two basins");
}

}  // namespace
}  // namespace pk::nn
