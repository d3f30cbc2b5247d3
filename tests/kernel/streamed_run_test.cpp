// A run decomposed from disk step by step (TrajectoryReader) gives exactly what the run read
// into memory gives, and every step read from disk equals the recorded one.
#include <gtest/gtest.h>

#include "kernel/decomposition.hpp"
#include "tests/kernel/kernel_test_support.hpp"

namespace pk::kernel::testing {
namespace {

TEST(StreamedRun, DecomposingFromDiskEqualsDecomposingInMemory) {
  ScratchDir dir;
  const pk::nn::Dataset data = regression_data(30, 2, 2, 6);
  const pk::nn::Model model = pk::nn::mlp("2-6-2", "tanh");
  pk::nn::TrainingConfig config;
  config.steps = 8;
  config.schedule = pk::nn::Schedule::constant(0.3);
  config.batches.batch_size = 7;  // mini-batches: each step's batch comes from disk too
  config.batches.seed = 3;
  pk::nn::Trainer trainer(model, pk::nn::Loss(pk::nn::LossKind::mse), data, config);
  pk::nn::TrajectoryRecorder memory;
  pk::nn::DiskTrajectoryRecorder disk(dir / "run");
  trainer.add_observer(memory);
  trainer.add_observer(disk);
  trainer.run(init(model, 2));

  const pk::nn::TrajectoryReader reader(dir / "run");
  const pk::nn::Trajectory& t = memory.trajectory();
  ASSERT_EQ(reader.steps(), t.steps());
  pk::nn::StepRecord step;
  for (std::int64_t k = 0; k < t.steps(); ++k) {
    reader.read_step(k, step);
    const pk::ad::TensorView before = t.weights(k), after = t.weights(k + 1);
    EXPECT_TRUE(bitwise_equal(step.weights_before, {before.data(), before.data() + before.size()}));
    EXPECT_TRUE(bitwise_equal(step.weights_after, {after.data(), after.data() + after.size()}));
    EXPECT_EQ(step.batch, std::vector<std::int64_t>(t.batch(k).begin(), t.batch(k).end()));
    const pk::ad::TensorView lp = t.output_derivatives(k);
    EXPECT_TRUE(bitwise_equal(step.output_derivatives, {lp.data(), lp.data() + lp.size()}));
    EXPECT_TRUE(same_bits(step.learning_rate, t.learning_rate(k)));
  }
  EXPECT_THROW(reader.read_step(t.steps(), step), pk::nn::IoError);

  DecompositionOptions options;
  options.second_order = SecondOrderMode::every_step;
  options.query_chunk = 2;
  options.threads = 2;
  const Tensor queries = query_points(5, 2, 4);
  const DecompositionReport from_disk = decompose(model, reader, queries, options);
  const DecompositionReport in_memory = decompose(model, t, queries, options);
  EXPECT_TRUE(bitwise_equal(from_disk.df, in_memory.df));
  EXPECT_TRUE(bitwise_equal(from_disk.first_order, in_memory.first_order));
  EXPECT_TRUE(bitwise_equal(from_disk.second_order, in_memory.second_order));
  EXPECT_TRUE(bitwise_equal(from_disk.exact_change, in_memory.exact_change));
  EXPECT_TRUE(bitwise_equal(from_disk.attribution, in_memory.attribution));
  expect_report_consistent(from_disk, "streamed");
}

}  // namespace
}  // namespace pk::kernel::testing
