// The update rules against torch.optim: 50 full-batch steps of each optimiser on the same small
// network, data, initial weights and constants as tests/nn/make_optimizer_fixtures.py, whose
// output (tests/nn/fixtures/optimizers/) is committed so that this test needs no Python.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "io/npy.hpp"
#include "nn/mlp.hpp"
#include "nn/trainer.hpp"
#include "nn/trajectory.hpp"

namespace pk::nn {
namespace {

const std::filesystem::path kFixtures =
    std::filesystem::path(PATHKERNEL_TESTS_DIR) / "nn" / "fixtures" / "optimizers";

struct TorchRun {
  const char* name;
  double lr;
  OptimizerConfig optimizer;
};

// The table of make_optimizer_fixtures.py.
const TorchRun kRuns[] = {
    {"gd_weight_decay", 0.1, {.kind = OptimizerKind::gradient_descent, .weight_decay = 0.01}},
    {"momentum", 0.05, {.kind = OptimizerKind::momentum, .momentum = 0.9, .weight_decay = 0.001}},
    {"nesterov", 0.05, {.kind = OptimizerKind::momentum, .momentum = 0.8, .nesterov = true}},
    {"adam",
     0.01,
     {.kind = OptimizerKind::adam, .weight_decay = 0.001, .beta1 = 0.9, .beta2 = 0.999, .epsilon = 1e-8}},
    {"adamw",
     0.01,
     {.kind = OptimizerKind::adamw, .weight_decay = 0.05, .beta1 = 0.85, .beta2 = 0.99, .epsilon = 1e-6}},
};

// max_k max_i |w_k[i] - torch_k[i]| / max_i |torch_k[i]|: the largest error of any step relative
// to that step's weights.
double trajectory_error(const Trajectory& ours, const ad::Tensor& torch_path, std::int64_t d) {
  double worst = 0.0;
  for (std::int64_t k = 0; k <= ours.steps(); ++k) {
    const ad::TensorView w = ours.weights(k);
    double gap = 0.0, scale = 0.0;
    for (std::int64_t i = 0; i < d; ++i) {
      const double t = torch_path[k * d + i];
      gap = std::max(gap, std::abs(w[i] - t));
      scale = std::max(scale, std::abs(t));
    }
    worst = std::max(worst, gap / scale);
  }
  return worst;
}

TEST(OptimizerFixtures, FiftyStepsMatchTorchOptim) {
  const ad::Tensor inputs = io::read_npy_tensor(kFixtures / "inputs.npy");
  const ad::Tensor targets = io::read_npy_tensor(kFixtures / "targets.npy");
  const ad::Tensor w0 = io::read_npy_tensor(kFixtures / "w0.npy");
  const Model model = mlp("2-8-8-1", "tanh");
  ASSERT_EQ(w0.size(), model.parameter_count());
  const std::int64_t d = model.parameter_count();
  for (const TorchRun& run : kRuns) {
    const ad::Tensor torch_path = io::read_npy_tensor(kFixtures / (std::string(run.name) + ".npy"));
    ASSERT_EQ(torch_path.size(), 51 * d) << run.name;
    Trainer trainer(model, Loss(LossKind::mse), Dataset(inputs, targets),
                    {.steps = 50, .schedule = Schedule::constant(run.lr), .optimizer = run.optimizer});
    TrajectoryRecorder recorder;
    trainer.add_observer(recorder);
    ASSERT_EQ(trainer.run(w0).status, TrainingStatus::completed) << run.name;
    const Trajectory ours = recorder.take();
    const double error = trajectory_error(ours, torch_path, d);
    RecordProperty(std::string(run.name) + "_max_relative_error", std::to_string(error));
    std::printf("%-16s max relative error over 50 steps: %.3g\n", run.name, error);
    EXPECT_LT(error, 1e-13) << run.name;
    // The weights moved: agreement is not that of two runs that stayed at w_0.
    double moved = 0.0;
    for (std::int64_t i = 0; i < d; ++i) moved = std::max(moved, std::abs(ours.weights(50)[i] - w0[i]));
    EXPECT_GT(moved, 1e-3) << run.name;
  }
}

}  // namespace
}  // namespace pk::nn
