// Recorded trajectories: in memory and streamed to disk must agree exactly; a run that dies
// half-way leaves a readable prefix; damaged directories are refused.
#include "nn/trajectory.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "io/npy.hpp"
#include "nn/error.hpp"
#include "nn/init.hpp"
#include "nn/mlp.hpp"
#include "nn/synthetic.hpp"
#include "test_support.hpp"

namespace pk::nn {
namespace {
using namespace ::pk::io;  // the run directory is read back with the .npy readers

using testing::read_file;
using testing::ScratchDir;
using testing::write_file;

struct SmallRun {
  Dataset data = two_moons(26, 11, 0.1);
  Model model = mlp("2-6-1", "tanh");
  ad::Tensor w0 = initialise(model.layout(), InitScheme::pytorch_default, 11);
};

// Trains with both recorders attached; returns the in-memory trajectory.
Trajectory record_both(const SmallRun& s, const TrainingConfig& config, const std::filesystem::path& dir,
                       DiskRecorderOptions options = {}, LossKind loss = LossKind::binary_cross_entropy) {
  Trainer trainer(s.model, Loss(loss), s.data, config);
  TrajectoryRecorder memory;
  DiskTrajectoryRecorder disk(dir, options);
  trainer.add_observer(memory);
  trainer.add_observer(disk);
  trainer.run(s.w0);
  return memory.take();
}

TEST(Trajectory, StreamedToDiskReadsBackIdenticalToTheInMemoryOne) {
  ScratchDir dir;
  const SmallRun s;
  for (const BatchConfig batches : {BatchConfig{}, BatchConfig{.batch_size = 8, .seed = 3}}) {
    SCOPED_TRACE(batches.batch_size);
    const Trajectory memory =
        record_both(s, {.steps = 25, .schedule = Schedule::exponential(0.5, 0.98), .batches = batches},
                    dir.path() / "run");
    const Trajectory disk = read_trajectory(dir.path() / "run");
    EXPECT_TRUE(disk == memory);
    EXPECT_EQ(disk.status, TrainingStatus::completed);
    EXPECT_EQ(disk.steps(), 25);
    EXPECT_EQ(disk.batch_capacity, batches.batch_size == 0 ? 26 : 8);
    EXPECT_EQ(disk.message, "completed 25 steps");
    EXPECT_TRUE(std::equal(disk.training_inputs().span().begin(), disk.training_inputs().span().end(),
                           s.data.inputs().span().begin(), s.data.inputs().span().end()));
    EXPECT_EQ(disk.training_targets().shape(), ad::Shape::matrix(26, 1));
  }
  // NumPy's view of the files: strict reads work, and the shapes are the documented ones.
  EXPECT_EQ(read_npy(dir.path() / "run" / "weights.npy").shape, (std::vector<std::int64_t>{26, 25}));
  EXPECT_EQ(read_npy(dir.path() / "run" / "learning_rates.npy").shape, (std::vector<std::int64_t>{25}));
  EXPECT_EQ(read_npy(dir.path() / "run" / "batches.npy").shape, (std::vector<std::int64_t>{25, 8}));
  const NpyArray d = read_npy(dir.path() / "run" / "output_derivatives.npy");
  EXPECT_EQ(d.shape, (std::vector<std::int64_t>{25, 8, 1}));
  // Step 3 ends the first epoch with a batch of 2: the rest of its row is padding.
  const NpyArray b = read_npy(dir.path() / "run" / "batches.npy");
  EXPECT_GE(b.data[3 * 8 + 1], 0.0);
  EXPECT_EQ(b.data[3 * 8 + 2], -1.0);
  EXPECT_EQ(d.data[3 * 8 + 2], 0.0);
  const std::string json = read_file(dir.path() / "run" / "run.json");
  EXPECT_NE(json.find("\"name\": \"gradient_descent\""), std::string::npos);
  EXPECT_NE(json.find("\"format\": \"pathkernel-run\""), std::string::npos);
  EXPECT_NE(json.find("\"status\": \"completed\""), std::string::npos);
}

TEST(Trajectory, DivergedAndAdamRunsKeepTheirStatusAndFlag) {
  ScratchDir dir;
  const SmallRun s;
  // Cross-entropy stays finite at any logits, so the squared error is the one that blows up.
  const Trajectory diverged = record_both(s, {.steps = 500, .schedule = Schedule::constant(1e3)},
                                          dir.path() / "d", {}, LossKind::mse);
  const Trajectory back = read_trajectory(dir.path() / "d");
  EXPECT_EQ(back.status, TrainingStatus::diverged);
  EXPECT_GT(back.steps(), 0);
  EXPECT_NE(back.message.find("diverged at step"), std::string::npos);
  EXPECT_TRUE(back == diverged);
  const Trajectory adam =
      record_both(s, {.steps = 5, .optimizer = {.kind = OptimizerKind::adam}}, dir.path() / "a");
  const Trajectory adam_back = read_trajectory(dir.path() / "a");
  EXPECT_EQ(adam_back.optimizer.kind, OptimizerKind::adam);
  EXPECT_FALSE(adam_back.has_kernel_form());
  EXPECT_TRUE(adam_back == adam);
}

// Kills the process running the observers at step `k` without any cleanup.
class KillAt : public StepObserver {
 public:
  explicit KillAt(std::int64_t k) : k_(k) {}
  void on_step(const StepView& s) override {
    if (s.step == k_) ::kill(::getpid(), SIGKILL);
  }

 private:
  std::int64_t k_;
};

TEST(Trajectory, ARunKilledHalfWayLeavesAReadablePrefix) {
  ScratchDir dir;
  const SmallRun s;
  const TrainingConfig config{
      .steps = 60, .schedule = Schedule::constant(0.3), .batches = {.batch_size = 10, .seed = 4}};
  const Trajectory full = record_both(s, config, dir.path() / "full");
  for (const std::int64_t flush_every : {1, 7}) {
    SCOPED_TRACE(flush_every);
    const std::filesystem::path run = dir.path() / ("killed" + std::to_string(flush_every));
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      // The child trains until the observer after the disk recorder kills it at step 30.
      Trainer trainer(s.model, Loss(LossKind::binary_cross_entropy), s.data, config);
      DiskTrajectoryRecorder disk(run, {.flush_every = flush_every});
      KillAt killer(30);
      trainer.add_observer(disk);
      trainer.add_observer(killer);
      trainer.run(s.w0);
      ::_exit(0);  // not reached
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status));
    const Trajectory prefix = read_trajectory(run);
    EXPECT_EQ(prefix.status, TrainingStatus::interrupted);
    // Step 30 was handed to the recorder but perhaps not flushed: at most one flush interval lost.
    EXPECT_LE(prefix.steps(), 31);
    EXPECT_GE(prefix.steps(), 31 - flush_every);
    for (std::int64_t k = 0; k < prefix.steps(); ++k) {
      EXPECT_EQ(prefix.learning_rate(k), full.learning_rate(k));
      EXPECT_EQ(prefix.loss_value(k), full.loss_value(k));
      const auto a = prefix.batch(k), b = full.batch(k);
      EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end()));
      EXPECT_TRUE(std::equal(prefix.output_derivatives(k).span().begin(),
                             prefix.output_derivatives(k).span().end(),
                             full.output_derivatives(k).span().begin()));
    }
    for (std::int64_t k = 0; k <= prefix.steps(); ++k)
      EXPECT_TRUE(std::equal(prefix.weights(k).span().begin(), prefix.weights(k).span().end(),
                             full.weights(k).span().begin()));
    // NumPy's loader sees a valid file of the rows the header counts.
    EXPECT_NO_THROW(read_npy_prefix(run / "weights.npy"));
  }
}

TEST(Trajectory, AFileCutAnywhereStillGivesAConsistentPrefix) {
  ScratchDir dir;
  const SmallRun s;
  const Trajectory full =
      record_both(s, {.steps = 10, .schedule = Schedule::constant(0.3)}, dir.path() / "run");
  // Mark the run as still running (as a killed process leaves it) and cut the weights file inside
  // the row of w_7.
  std::string json = read_file(dir.path() / "run" / "run.json");
  json.replace(json.find("\"completed\""), 11, "\"running\"");
  write_file(dir.path() / "run" / "run.json", json);
  const std::filesystem::path w = dir.path() / "run" / "weights.npy";
  const std::uintmax_t size = std::filesystem::file_size(w);
  std::filesystem::resize_file(w, size - static_cast<std::uintmax_t>(3 * 25 * 8 + 13));
  const Trajectory prefix = read_trajectory(dir.path() / "run");
  EXPECT_EQ(prefix.steps(), 6);  // w_0 ... w_6 whole
  EXPECT_EQ(prefix.status, TrainingStatus::interrupted);
  EXPECT_NE(prefix.message.find("first 6 steps"), std::string::npos);
  EXPECT_EQ(prefix.learning_rate(5), full.learning_rate(5));
}

TEST(Trajectory, RefusesDamagedDirectories) {
  ScratchDir dir;
  const SmallRun s;
  record_both(s, {.steps = 4}, dir.path() / "run");
  const std::filesystem::path run = dir.path() / "run";
  // A finished run whose files lost steps.
  const std::filesystem::path rates = run / "learning_rates.npy";
  std::filesystem::resize_file(rates, std::filesystem::file_size(rates) - 8);
  PK_EXPECT_THROW_WITH(read_trajectory(run), NpyError,
                       "holds 3 rows, but run.json says the run completed after 4 steps");
  // A file of the wrong shape.
  write_npy(rates, std::vector<std::int64_t>{4, 2}, std::vector<double>(8, 0.1));
  PK_EXPECT_THROW_WITH(read_trajectory(run), NpyError, "does not fit run.json ((N,) expected)");
  write_npy(rates, std::vector<std::int64_t>{4}, std::vector<double>(4, 0.1));
  // A batch row outside the data.
  NpyArray b = read_npy(run / "batches.npy");
  b.data[1] = 99;
  write_npy(run / "batches.npy", b.shape, b.data);
  PK_EXPECT_THROW_WITH(read_trajectory(run), NpyError,
                       "step 0: entry 1 (99.000000) is not an ascending row number in [0, 26)");
  std::filesystem::remove(run / "batches.npy");
  PK_EXPECT_THROW_WITH(read_trajectory(run), IoError, "cannot open for reading");
  write_file(run / "run.json", "{\"format\": \"something else\"}");
  PK_EXPECT_THROW_WITH(read_trajectory(run), io::JsonError,
                       "is not the run.json of a pathkernel run directory");
  write_file(run / "run.json", "{\"format\": ");
  PK_EXPECT_THROW_WITH(read_trajectory(run), io::JsonError, "not valid JSON at line 1, column 12");
  PK_EXPECT_THROW_WITH(read_trajectory(dir.path() / "nothing"), IoError, "run.json: cannot open");
}

TEST(Trajectory, AccessorsCheckTheirStep) {
  const SmallRun s;
  Trainer trainer(s.model, Loss(LossKind::binary_cross_entropy), s.data, {.steps = 3});
  TrajectoryRecorder r;
  trainer.add_observer(r);
  trainer.run(s.w0);
  const Trajectory& t = r.trajectory();
  EXPECT_EQ(t.weights(3).size(), s.model.parameter_count());
  PK_EXPECT_THROW_WITH(t.weights(4), SpecError, "index 4 outside [0, 3]");
  PK_EXPECT_THROW_WITH(t.learning_rate(3), SpecError, "step 3 outside [0, 3)");
  EXPECT_EQ(t.dense_output_derivatives(0).shape(), ad::Shape::matrix(26, 1));
}

}  // namespace
}  // namespace pk::nn
