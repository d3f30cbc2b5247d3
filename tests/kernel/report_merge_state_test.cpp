// Optimisers with state (momentum, Adam, AdamW) in blocks, ranges and thread counts: a range that
// starts at step A > 0 replays the per-point shares over steps 0..A-1, so its attribution, the
// regulariser's share and the exact attribution merge into the single run's bytes.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "kernel/accumulation.hpp"
#include "kernel/report_merge.hpp"
#include "kernel/report_stream.hpp"
#include "kernel/report_writer.hpp"
#include "kernel/sweep.hpp"
#include "tests/kernel/kernel_test_support.hpp"

namespace pk::kernel::testing {
namespace {

std::string text_of(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A run of `optimizer` on disk with mini-batches, spanning several blocks of steps.
struct StatefulRun {
  ScratchDir dir;
  pk::nn::Model model = pk::nn::mlp("2-5-2", "tanh");
  StatefulRun(const pk::nn::OptimizerConfig& optimizer, std::int64_t steps, double lr) {
    const pk::nn::Dataset data = regression_data(18, 2, 2, 11);
    pk::nn::TrainingConfig config;
    config.steps = steps;
    config.schedule = pk::nn::Schedule::constant(lr);
    config.batches.batch_size = 5;
    config.batches.seed = 7;
    config.optimizer = optimizer;
    pk::nn::Trainer trainer(model, pk::nn::Loss(pk::nn::LossKind::mse), data, config);
    pk::nn::DiskTrajectoryRecorder disk(dir / "run");
    trainer.add_observer(disk);
    trainer.run(init(model, 4));
  }
};

DecompositionOptions stateful_options() {
  DecompositionOptions o;
  o.second_order = SecondOrderMode::every_step;
  o.exact_kernel = true;
  o.attribution = true;
  o.exact_attribution = true;
  o.sharpness_every = 11;
  o.window = 29;
  o.query_chunk = 2;
  // Ranges sum forward (block by block); with auto a run this size would sum backward.
  o.attribution_method = AttributionMethod::forward;
  return o;
}

RunDescription plain_description() {
  RunDescription d;
  d.data = "test";
  d.architecture = "mlp 2-5-2 tanh";
  d.include_timings = false;
  return d;
}

const char* const kFiles[] = {"steps.csv", "queries.csv", "windows.csv", "summary.json", "attribution.csv"};

// The single streamed run, the in-memory report and four merged ranges (two threads in some)
// write the same files; the summary states the per-point attribution and its regulariser share.
void expect_ranges_merge(const pk::nn::OptimizerConfig& optimizer, double lr) {
  const std::int64_t n = 3 * kStepBlock + 13;
  StatefulRun run(optimizer, n, lr);
  const pk::nn::TrajectoryReader reader(run.dir / "run");
  ASSERT_EQ(reader.steps(), n);
  const Tensor queries = query_points(5, 2, 8);
  const DecompositionOptions o = stateful_options();
  const AttributionFormat csv = parse_attribution_format("csv");

  std::filesystem::create_directories(run.dir / "single");
  ReportStream single(run.dir / "single", n, 1);
  single.finish(decompose_stream(run.model, reader, queries, o, 0, n, single.sink()), plain_description(),
                csv);

  // Two threads (the sink then runs beside the next block's work) give the same bytes.
  std::filesystem::create_directories(run.dir / "threads");
  DecompositionOptions two = o;
  two.threads = 2;
  ReportStream threads(run.dir / "threads", n, 1);
  threads.finish(decompose_stream(run.model, reader, queries, two, 0, n, threads.sink()), plain_description(),
                 csv);

  const DecompositionReport whole = decompose(run.model, reader, queries, o);
  EXPECT_EQ(whole.attribution_method, "per_point_state");
  EXPECT_FALSE(whole.exact_attribution.empty());
  EXPECT_LT(whole.attribution_identity_error(), 1e-9);
  EXPECT_LT(whole.exact_attribution_identity_error(), 1e-6);
  std::filesystem::create_directories(run.dir / "memory");
  write_report_files(run.dir / "memory", whole, plain_description());

  std::vector<std::filesystem::path> parts;
  const std::vector<std::int64_t> cuts{0, kStepBlock, 2 * kStepBlock, 3 * kStepBlock, n};
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    const std::filesystem::path dir = run.dir / ("part" + std::to_string(i));
    std::filesystem::create_directories(dir);
    DecompositionOptions oi = o;
    oi.threads = 1 + static_cast<int>(i % 2);
    PartWriter part(dir, cuts[i], cuts[i + 1], n);
    part.finish(decompose_stream(run.model, reader, queries, oi, cuts[i], cuts[i + 1], part.sink()),
                plain_description(), 1);
    parts.push_back(dir);
  }
  std::filesystem::create_directories(run.dir / "merged");
  const PartFacts head = read_part(parts.front());
  ReportStream merged(run.dir / "merged", head.steps, head.plot_query);
  merged.finish(replay_parts({parts[2], parts[0], parts[3], parts[1]}, merged.sink()), head.run, csv);

  for (const char* name : kFiles) {
    SCOPED_TRACE(name);
    const std::string a = text_of(run.dir / "single" / name);
    EXPECT_GT(a.size(), 100u);
    EXPECT_TRUE(a == text_of(run.dir / "merged" / name))
        << name << ": merged ranges differ from the single run";
    EXPECT_TRUE(a == text_of(run.dir / "memory" / name)) << name << ": the in-memory report differs";
    EXPECT_TRUE(a == text_of(run.dir / "threads" / name)) << name << ": two threads differ from one";
  }
  const std::string summary = text_of(run.dir / "single" / "summary.json");
  EXPECT_NE(summary.find("\"per_point_state\""), std::string::npos);
  EXPECT_NE(summary.find("\"exact_attribution\": true"), std::string::npos);
}

TEST(ReportMergeWithState, MomentumRangesMergeToTheSingleRun) {
  expect_ranges_merge({.kind = pk::nn::OptimizerKind::momentum, .momentum = 0.8, .weight_decay = 0.02}, 0.05);
}

TEST(ReportMergeWithState, AdamWRangesMergeToTheSingleRun) {
  expect_ranges_merge(
      {.kind = pk::nn::OptimizerKind::adamw, .weight_decay = 0.05, .beta1 = 0.85, .beta2 = 0.99}, 0.01);
}

// The online totals of an AdamW report (weight decay, exact attribution, preconditioned
// sharpness) against the in-memory functions main's report used: the identities, the
// regulariser's share in the kernel machine, the relative errors, the edge of stability against
// the preconditioned sharpness and the stability statistics.
TEST(ReportMergeWithState, TotalsEqualTheInMemoryFunctions) {
  StatefulRun run({.kind = pk::nn::OptimizerKind::adamw, .weight_decay = 0.05}, kStepBlock + 20, 0.01);
  const pk::nn::TrajectoryReader reader(run.dir / "run");
  DecompositionOptions o = stateful_options();
  o.sharpness_every = 5;
  o.eos_band = 50.0;  // every measurement in the band: an onset at the first one
  const DecompositionReport r = decompose(run.model, reader, query_points(4, 2, 3), o);
  const ReportTotals t = report_totals(r);
  ASSERT_FALSE(r.attribution_regularizer.empty());
  EXPECT_TRUE(same_bits(t.attribution_identity_error, r.attribution_identity_error()));
  EXPECT_TRUE(same_bits(t.exact_attribution_identity_error, r.exact_attribution_identity_error()));
  double worst_step = std::nan("");
  for (double e : r.exact_attribution_error)
    if (!(e <= worst_step)) worst_step = e;
  EXPECT_TRUE(same_bits(t.exact_attribution_max_step_error, worst_step));
  for (std::int64_t q = 0; q < r.queries; ++q)
    for (std::int64_t c = 0; c < r.outputs; ++c)
      EXPECT_TRUE(same_bits(t.summaries[static_cast<std::size_t>(q * r.outputs + c)].kernel_machine,
                            r.summary(q, c).kernel_machine));
  EXPECT_TRUE(same_bits(t.relative_error[0], relative_error(r, Correction::none)));
  EXPECT_TRUE(same_bits(t.relative_error[1], relative_error(r, Correction::complex_steps)));
  EXPECT_TRUE(same_bits(t.relative_error[2], relative_error(r, Correction::all_steps)));
  const EdgeOfStability edge = edge_of_stability(r, o.eos_band);
  ASSERT_TRUE(edge.onset_step.has_value());
  EXPECT_EQ(t.edge.onset_step, edge.onset_step);
  EXPECT_EQ(t.edge.measurements, edge.measurements);
  EXPECT_TRUE(same_bits(t.edge.lambda_at_onset, edge.lambda_at_onset));
  EXPECT_TRUE(same_bits(t.edge.max_lr_times_lambda, edge.max_lr_times_lambda));
  std::int64_t computed = 0;
  double worst = std::nan("");
  for (std::size_t k = 0; k < r.stability_threshold.size(); ++k) {
    if (std::isnan(r.preconditioned_sharpness[k])) continue;
    ++computed;
    const double ratio = r.preconditioned_sharpness[k] / r.stability_threshold[k];
    if (!(ratio <= worst)) worst = ratio;
  }
  EXPECT_GT(computed, 10);
  EXPECT_EQ(t.stability_computed, computed);
  EXPECT_TRUE(same_bits(t.max_sharpness_over_threshold, worst));
}

// A range's replay gives exactly the state the whole run has: its first block's attribution is
// the whole run's block, bit for bit.
TEST(ReportMergeWithState, ReplayedStateGivesTheWholeRunsBlock) {
  StatefulRun run({.kind = pk::nn::OptimizerKind::adam, .weight_decay = 0.01}, 2 * kStepBlock + 3, 0.01);
  const pk::nn::TrajectoryReader reader(run.dir / "run");
  DecompositionOptions o = first_order_only();
  o.attribution = true;
  const Tensor queries = query_points(3, 2, 2);
  std::vector<DecompositionReport> whole, range;
  decompose_stream(run.model, reader, queries, o, 0, reader.steps(),
                   [&](const DecompositionReport& b, std::int64_t) { whole.push_back(b); });
  decompose_stream(run.model, reader, queries, o, kStepBlock, reader.steps(),
                   [&](const DecompositionReport& b, std::int64_t) { range.push_back(b); });
  ASSERT_EQ(whole.size(), 3u);
  ASSERT_EQ(range.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_FALSE(range[i].attribution.empty());
    EXPECT_TRUE(bitwise_equal(whole[i + 1].attribution, range[i].attribution));
    EXPECT_TRUE(bitwise_equal(whole[i + 1].attribution_regularizer, range[i].attribution_regularizer));
  }
  // The replay must start at step 0 and go in order.
  Decomposer bare(run.model, pk::nn::Loss(pk::nn::LossKind::mse), queries,
                  Tensor(reader.facts().training_inputs()), Tensor(reader.facts().training_targets()),
                  reader.facts().optimizer, o);
  bare.start_at(kStepBlock);
  EXPECT_TRUE(bare.carries_state());
  pk::nn::StepView late;
  late.step = 3;
  EXPECT_THROW(bare.replay_state(late), std::logic_error);  // not from step 0
}

}  // namespace
}  // namespace pk::kernel::testing
