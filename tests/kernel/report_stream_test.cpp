// A report streamed block by block (kernel/report_stream.hpp) is the report written from the
// whole run in memory, byte for byte, and its online totals are those the in-memory functions
// compute (summary, complex steps, windows, the edge of stability, the identities).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "io/npy.hpp"
#include "kernel/accumulation.hpp"
#include "kernel/report_merge.hpp"
#include "kernel/report_stream.hpp"
#include "kernel/report_writer.hpp"
#include "tests/kernel/kernel_test_support.hpp"

namespace pk::kernel::testing {
namespace {

std::string file_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A run on disk long enough to span several blocks of kStepBlock steps, with mini-batches.
struct DiskRun {
  ScratchDir dir;
  pk::nn::Model model = pk::nn::mlp("2-6-2", "tanh");
  DiskRun(std::int64_t steps, double lr) {
    const pk::nn::Dataset data = regression_data(20, 2, 2, 6);
    pk::nn::TrainingConfig config;
    config.steps = steps;
    config.schedule = pk::nn::Schedule::constant(lr);
    config.batches.batch_size = 7;
    config.batches.seed = 3;
    pk::nn::Trainer trainer(model, pk::nn::Loss(pk::nn::LossKind::mse), data, config);
    pk::nn::DiskTrajectoryRecorder disk(dir / "run");
    trainer.add_observer(disk);
    trainer.run(init(model, 2));
  }
};

DecompositionOptions everything() {
  DecompositionOptions o;
  o.second_order = SecondOrderMode::every_step;
  o.exact_kernel = true;
  o.attribution = true;
  o.sharpness_every = 9;
  o.window = 23;  // windows that do not line up with the blocks
  o.query_chunk = 2;
  o.pair_query = 1;
  o.order = 3;
  return o;
}

RunDescription description() {
  RunDescription d;
  d.data = "test";
  d.architecture = "mlp 2-6-2 tanh";
  d.include_timings = false;
  return d;
}

// The streamed report's files against write_report_files of the in-memory report.
void expect_streamed_equals_in_memory(const DecompositionOptions& options, std::int64_t steps, double lr) {
  DiskRun run(steps, lr);
  const pk::nn::TrajectoryReader reader(run.dir / "run");
  const Tensor queries = query_points(5, 2, 4);
  const DecompositionReport whole = decompose(run.model, reader, queries, options);
  std::filesystem::create_directories(run.dir / "memory");
  std::filesystem::create_directories(run.dir / "stream");
  write_report_files(run.dir / "memory", whole, description());

  ReportStream stream(run.dir / "stream", reader.steps(), 3);
  const DecompositionReport tail =
      decompose_stream(run.model, reader, queries, options, 0, reader.steps(), stream.sink());
  AttributionFormat csv;
  csv.kind = AttributionFormat::Kind::csv;
  stream.finish(tail, description(), csv);
  for (const char* name : {"steps.csv", "queries.csv", "windows.csv", "summary.json", "attribution.csv"}) {
    SCOPED_TRACE(name);
    const std::string a = file_text(run.dir / "memory" / name), b = file_text(run.dir / "stream" / name);
    EXPECT_FALSE(a.empty() && std::string(name) != "attribution.csv");
    EXPECT_TRUE(a == b) << name << " differs (" << a.size() << " vs " << b.size() << " bytes)";
  }
  // The plotted query's rows are that query's rows of the whole report.
  const DecompositionReport& plot = stream.plot_report();
  ASSERT_EQ(plot.steps, whole.steps);
  for (std::int64_t k = 0; k < whole.steps; ++k)
    for (std::int64_t c = 0; c < whole.outputs; ++c) {
      EXPECT_TRUE(same_bits(plot.df[plot.index(k, 0, c)], whole.df[whole.index(k, 3, c)]));
      EXPECT_TRUE(same_bits(plot.first_order[plot.index(k, 0, c)], whole.first_order[whole.index(k, 3, c)]));
    }
}

TEST(ReportStream, StreamedFilesEqualTheInMemoryReportAcrossBlocks) {
  expect_streamed_equals_in_memory(everything(), 2 * kStepBlock + 17, 0.3);
}

TEST(ReportStream, StreamedFilesEqualTheInMemoryReportWithComplexStepsAndTwoThreads) {
  DecompositionOptions o = everything();
  o.second_order = SecondOrderMode::complex_steps;
  o.order = 2;
  o.threads = 2;
  o.window = 0;
  expect_streamed_equals_in_memory(o, kStepBlock + 5, 0.3);
}

TEST(ReportStream, ThreadCountsGiveIdenticalBlocks) {
  DiskRun run(kStepBlock + 30, 0.3);
  const pk::nn::TrajectoryReader reader(run.dir / "run");
  const Tensor queries = query_points(7, 2, 5);
  std::vector<std::string> texts;
  for (int threads : {1, 2, 3}) {
    DecompositionOptions o = everything();
    o.threads = threads;
    std::ostringstream rows;
    const StepBlockSink sink = [&](const DecompositionReport& b, std::int64_t first) {
      write_steps_rows(rows, b, first);
    };
    const DecompositionReport tail = decompose_stream(run.model, reader, queries, o, 0, reader.steps(), sink);
    write_attribution_csv(rows, tail);
    texts.push_back(rows.str());
  }
  EXPECT_GT(texts[0].size(), 1000u);
  EXPECT_EQ(texts[0], texts[1]);
  EXPECT_EQ(texts[0], texts[2]);
}

// The online totals against the in-memory functions they replace, for blocks cut anywhere and a
// sharpness history with a streak that breaks and one that lasts (the onset of the edge of
// stability is the start of the last streak).
TEST(ReportStream, OnlineTotalsEqualTheInMemoryFunctions) {
  DiskRun run(90, 0.3);
  const pk::nn::TrajectoryReader reader(run.dir / "run");
  DecompositionOptions o = everything();
  o.eos_band = 0.1;
  DecompositionReport r = decompose(run.model, reader, query_points(4, 2, 7), o);
  for (std::int64_t k = 0; k < r.steps; ++k) {
    const auto ku = static_cast<std::size_t>(k);
    const double threshold = 2.0 / r.learning_rate[ku];
    if (k % 9 != 0)
      r.sharpness[ku] = std::nan("");
    else if (k < 20 || (k >= 36 && k < 50))
      r.sharpness[ku] = 0.5 * threshold;
    else
      r.sharpness[ku] = 1.02 * threshold;  // in the band at 27 and from 54 on
  }
  const std::vector<WindowTotals> windows = window_totals(r, r.options.window, r.options.window_tau);
  const EdgeOfStability edge = edge_of_stability(r, r.options.eos_band);
  ASSERT_TRUE(edge.onset_step.has_value());
  EXPECT_EQ(*edge.onset_step, 54);

  for (std::int64_t cut : {1, 7, 64, 90}) {
    SCOPED_TRACE("blocks of " + std::to_string(cut));
    ReportAccumulator acc(r, r.steps);
    for (std::int64_t first = 0; first < r.steps; first += cut) {
      // A block as the decomposition would hand it over: rows [first, first + n).
      const std::int64_t n = std::min(cut, r.steps - first);
      DecompositionReport b = r;
      b.steps = n;
      const std::size_t cells = static_cast<std::size_t>(r.queries * r.outputs);
      auto rows = [&](auto& v, std::size_t per) {
        using V = std::remove_reference_t<decltype(v)>;
        v = V(v.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(first) * per),
              v.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(first + n) * per));
      };
      for (auto* v :
           {&b.df, &b.first_order, &b.second_order, &b.exact_change, &b.exact_error, &b.third_order})
        rows(*v, cells);
      rows(b.complex, cells);
      for (auto* v : {&b.learning_rate, &b.loss, &b.sharpness, &b.sharpness_residual}) rows(*v, 1);
      rows(b.exact_nodes, 1);
      rows(b.second_order_computed, 1);
      acc.add(b, first);
    }
    const ReportTotals t = acc.finish(r);
    ASSERT_EQ(t.windows.size(), windows.size());
    for (std::size_t w = 0; w < windows.size(); ++w) {
      EXPECT_EQ(t.windows[w].sums.start, windows[w].sums.start);
      EXPECT_EQ(t.windows[w].sums.end, windows[w].sums.end);
      EXPECT_TRUE(bitwise_equal(t.windows[w].sums.remainder1, windows[w].sums.remainder1));
      EXPECT_TRUE(bitwise_equal(t.windows[w].sums.third_order, windows[w].sums.third_order));
      EXPECT_TRUE(same_bits(t.windows[w].error_share, windows[w].error_share));
      EXPECT_TRUE(same_bits(t.windows[w].sums.sign_alternation, windows[w].sums.sign_alternation));
      EXPECT_TRUE(same_bits(t.windows[w].sums.norm_remainder3, windows[w].sums.norm_remainder3));
    }
    ASSERT_EQ(t.edge.onset_step, edge.onset_step);
    EXPECT_EQ(t.edge.measurements, edge.measurements);
    EXPECT_TRUE(same_bits(t.edge.max_lr_times_lambda, edge.max_lr_times_lambda));
    EXPECT_TRUE(bitwise_equal(t.edge.before->net_change, edge.before->net_change));
    EXPECT_TRUE(bitwise_equal(t.edge.after->remainder2, edge.after->remainder2));
    EXPECT_TRUE(same_bits(t.edge.after->sign_alternation, edge.after->sign_alternation));
    for (std::int64_t q = 0; q < r.queries; ++q)
      for (std::int64_t c = 0; c < r.outputs; ++c) {
        const QuerySummary want = r.summary(q, c);
        const QuerySummary& got = t.summaries[static_cast<std::size_t>(q * r.outputs + c)];
        for (auto m : {&QuerySummary::sum_first_order, &QuerySummary::sum_second_order,
                       &QuerySummary::sum_remainder2, &QuerySummary::sum_exact, &QuerySummary::kernel_machine,
                       &QuerySummary::rel_error_first, &QuerySummary::rel_error_second})
          EXPECT_TRUE(same_bits(got.*m, want.*m));
        EXPECT_EQ(t.complex[static_cast<std::size_t>(q * r.outputs + c)].complex_steps,
                  r.complex_stats(q, c).complex_steps);
        EXPECT_TRUE(same_bits(t.complex[static_cast<std::size_t>(q * r.outputs + c)].change_share,
                              r.complex_stats(q, c).change_share));
      }
    EXPECT_TRUE(same_bits(t.complex_pooled.r1_removed_elsewhere, r.complex_stats().r1_removed_elsewhere));
    EXPECT_TRUE(same_bits(t.complex_pooled.fraction, r.complex_stats().fraction));
    EXPECT_TRUE(same_bits(t.run_identity_error, r.run_identity_error()));
    EXPECT_TRUE(same_bits(t.exact_identity_error, r.exact_identity_error()));
    EXPECT_TRUE(same_bits(t.attribution_identity_error, r.attribution_identity_error()));
  }
}

TEST(ReportStream, BlocksOutOfOrderAreRefused) {
  DiskRun run(10, 0.3);
  const pk::nn::TrajectoryReader reader(run.dir / "run");
  const DecompositionReport r = decompose(run.model, reader, query_points(2, 2, 7), first_order_only());
  ReportAccumulator acc(r, r.steps);
  EXPECT_THROW(acc.add(r, 1), std::invalid_argument);
  ReportAccumulator short_of_steps(r, r.steps + 1);
  short_of_steps.add(r, 0);
  EXPECT_THROW(short_of_steps.finish(r), std::invalid_argument);
}

TEST(ReportStream, AttributionAsNpyOrTheLargestK) {
  DiskRun run(12, 0.3);
  const pk::nn::TrajectoryReader reader(run.dir / "run");
  DecompositionOptions o = first_order_only();
  o.attribution = true;
  const DecompositionReport r = decompose(run.model, reader, query_points(3, 2, 7), o);
  const ReportTotals t = report_totals(r);

  AttributionFormat npy = parse_attribution_format("npy");
  std::filesystem::create_directories(run.dir / "npy");
  EXPECT_EQ(write_attribution(run.dir / "npy", t, npy).size(), 5u);
  const pk::io::NpyArray a = pk::io::read_npy(run.dir / "npy" / "attribution.npy");
  ASSERT_EQ(a.shape, (std::vector<std::int64_t>{r.queries, r.outputs, r.training_points}));
  EXPECT_TRUE(bitwise_equal(a.data, r.attribution));
  EXPECT_EQ(pk::io::read_npy(run.dir / "npy" / "train_index.npy").data.size(),
            static_cast<std::size_t>(r.training_points));

  // automatic: CSV while small, .npy beyond the row limit
  AttributionFormat automatic;
  automatic.csv_rows = r.queries * r.outputs * r.training_points - 1;
  std::filesystem::create_directories(run.dir / "auto");
  EXPECT_EQ(write_attribution(run.dir / "auto", t, automatic).front(), "attribution.npy");

  const AttributionFormat top = parse_attribution_format("top:3");
  std::filesystem::create_directories(run.dir / "top");
  write_attribution(run.dir / "top", t, top);
  const auto rows = split_csv(file_text(run.dir / "top" / "attribution.csv"));
  ASSERT_EQ(rows.size(), 1 + static_cast<std::size_t>(r.queries * r.outputs * 3));
  // Per query and output, the three largest |A_m| in decreasing order, and nothing larger left out.
  for (std::int64_t q = 0; q < r.queries; ++q)
    for (std::int64_t c = 0; c < r.outputs; ++c) {
      std::vector<double> all(r.attribution.begin() + (q * r.outputs + c) * r.training_points,
                              r.attribution.begin() + (q * r.outputs + c + 1) * r.training_points);
      std::sort(all.begin(), all.end(), [](double x, double y) { return std::abs(x) > std::abs(y); });
      for (std::size_t i = 0; i < 3; ++i) {
        const auto& row = rows[1 + static_cast<std::size_t>(q * r.outputs + c) * 3 + i];
        EXPECT_TRUE(same_bits(cell_value(row[3]), all[i]));
      }
    }
  EXPECT_THROW(parse_attribution_format("top:0"), std::invalid_argument);
  EXPECT_THROW(parse_attribution_format("top:x"), std::invalid_argument);
  EXPECT_THROW(parse_attribution_format("parquet"), std::invalid_argument);
}

}  // namespace
}  // namespace pk::kernel::testing

namespace pk::kernel::testing {
namespace {

// Four ranges of steps decomposed apart and merged give the single run's files byte for byte,
// with F2 at every step, F3, the exact kernel, attribution, sharpness and windows across ranges.
TEST(ReportMerge, FourRangesMergedEqualTheSingleRun) {
  DiskRun run(3 * kStepBlock + 21, 0.3);
  const pk::nn::TrajectoryReader reader(run.dir / "run");
  const Tensor queries = query_points(5, 2, 4);
  DecompositionOptions o = everything();
  o.pair_query = -1;
  const std::int64_t n = reader.steps();

  std::filesystem::create_directories(run.dir / "single");
  ReportStream single(run.dir / "single", n, 2);
  const DecompositionReport tail = decompose_stream(run.model, reader, queries, o, 0, n, single.sink());
  AttributionFormat csv = parse_attribution_format("csv");
  single.finish(tail, description(), csv);

  std::vector<std::filesystem::path> parts;
  const std::vector<std::int64_t> cuts{0, kStepBlock, 2 * kStepBlock, 3 * kStepBlock, n};
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    const std::filesystem::path dir = run.dir / ("part" + std::to_string(i));
    std::filesystem::create_directories(dir);
    DecompositionOptions oi = o;
    oi.threads = 1 + static_cast<int>(i % 2);  // and the thread count does not matter either
    PartWriter part(dir, cuts[i], cuts[i + 1], n);
    const DecompositionReport t =
        decompose_stream(run.model, reader, queries, oi, cuts[i], cuts[i + 1], part.sink());
    part.finish(t, description(), 2);
    parts.push_back(dir);
  }
  std::reverse(parts.begin(), parts.end());  // any order on the command line
  std::filesystem::create_directories(run.dir / "merged");
  const PartFacts head = read_part(parts.back());
  EXPECT_EQ(head.first, 0);
  EXPECT_EQ(head.steps, n);
  ReportStream merged(run.dir / "merged", head.steps, head.plot_query);
  const DecompositionReport merged_tail = replay_parts(parts, merged.sink());
  merged.finish(merged_tail, head.run, csv);
  for (const char* name : {"steps.csv", "queries.csv", "windows.csv", "summary.json", "attribution.csv"}) {
    SCOPED_TRACE(name);
    const std::string a = file_text(run.dir / "single" / name), b = file_text(run.dir / "merged" / name);
    EXPECT_FALSE(a.empty());
    EXPECT_TRUE(a == b) << name << " differs (" << a.size() << " vs " << b.size() << " bytes)";
  }

  // Parts that leave steps out, or overlap, are refused.
  EXPECT_THROW(replay_parts({parts[0], parts[1], parts[3]}, [](const DecompositionReport&, std::int64_t) {}),
               std::invalid_argument);
  EXPECT_THROW(replay_parts({parts[0], parts[1], parts[2], parts[3], parts[2]},
                            [](const DecompositionReport&, std::int64_t) {}),
               std::invalid_argument);
  EXPECT_THROW(PartWriter(run.dir / "x", 10, 20, n), std::invalid_argument);  // not on a block boundary
}

// The attribution is summed per block of kStepBlock steps and the blocks in order: a range that
// starts on a block boundary adds its blocks exactly as the whole run does.
TEST(ReportMerge, AttributionIsSummedPerBlockThenInOrder) {
  DiskRun run(2 * kStepBlock + 9, 0.3);
  const pk::nn::TrajectoryReader reader(run.dir / "run");
  DecompositionOptions o = first_order_only();
  o.attribution = true;
  const Tensor queries = query_points(3, 2, 9);
  std::vector<std::vector<double>> blocks;
  const StepBlockSink keep = [&](const DecompositionReport& b, std::int64_t) {
    blocks.push_back(b.attribution);
  };
  const DecompositionReport tail = decompose_stream(run.model, reader, queries, o, 0, reader.steps(), keep);
  ASSERT_EQ(blocks.size(), 3u);
  std::vector<double> total(tail.attribution.size(), 0.0);
  for (const auto& b : blocks)
    for (std::size_t i = 0; i < total.size(); ++i) total[i] += b[i];
  EXPECT_TRUE(bitwise_equal(total, tail.attribution));
  const DecompositionReport whole = decompose(run.model, reader, queries, o);
  EXPECT_TRUE(bitwise_equal(whole.attribution, tail.attribution));
  expect_report_consistent(whole, "blocks");
}

}  // namespace
}  // namespace pk::kernel::testing
