// Query points decomposed in pieces: the result is one report whatever the thread count, online
// equals offline, and each piece agrees with decomposing its points alone.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "kernel/decomposition.hpp"
#include "kernel/report_writer.hpp"
#include "tests/kernel/kernel_test_support.hpp"

namespace pk::kernel::testing {
namespace {

DecompositionOptions everything(std::int64_t chunk, int threads) {
  DecompositionOptions o;
  o.second_order = SecondOrderMode::complex_steps;
  o.tau = 0.05;
  o.sharpness_every = 4;
  o.pair_query = 5;
  o.query_chunk = chunk;
  o.threads = threads;
  return o;
}

void expect_same(const DecompositionReport& a, const DecompositionReport& b) {
  ASSERT_EQ(a.queries, b.queries);
  EXPECT_TRUE(bitwise_equal(a.df, b.df));
  EXPECT_TRUE(bitwise_equal(a.first_order, b.first_order));
  EXPECT_TRUE(bitwise_equal(a.second_order, b.second_order));
  EXPECT_TRUE(bitwise_equal(a.exact_change, b.exact_change));
  EXPECT_TRUE(bitwise_equal(a.attribution, b.attribution));
  EXPECT_TRUE(bitwise_equal(a.path_kernel, b.path_kernel));
  EXPECT_TRUE(bitwise_equal(a.sharpness, b.sharpness));
  EXPECT_EQ(a.complex, b.complex);
  EXPECT_EQ(a.exact_nodes, b.exact_nodes);
  ASSERT_EQ(a.top_pairs.size(), b.top_pairs.size());
  for (std::size_t i = 0; i < a.top_pairs.size(); ++i)
    EXPECT_TRUE(same_bits(a.top_pairs[i].value, b.top_pairs[i].value));
}

// Every report file but the timings, concatenated.
std::string report_text(const DecompositionReport& r) {
  std::ostringstream out;
  RunDescription run;
  run.include_timings = false;
  write_summary_json(out, r, run);
  write_steps_csv(out, r);
  write_queries_csv(out, r);
  write_windows_csv(out, r);
  write_attribution_csv(out, r);
  return out.str();
}

TEST(QueryPieces, ThreadCountDoesNotChangeTheReport) {
  const pk::nn::Dataset data = regression_data(24, 2, 2, 3);
  const pk::nn::Model model = pk::nn::mlp("2-6-2", "tanh");
  pk::nn::TrainingConfig config;
  config.steps = 9;
  config.schedule = pk::nn::Schedule::constant(0.4);
  const TrainedRun run = train(model, pk::nn::LossKind::mse, data, config, init(model, 5));
  const Tensor queries = query_points(11, 2, 8);
  const DecompositionReport one = decompose(model, run.trajectory, queries, everything(3, 1));
  const DecompositionReport three = decompose(model, run.trajectory, queries, everything(3, 3));
  expect_same(one, three);
  expect_report_consistent(one, "pieces of 3");
  EXPECT_EQ(one.queries, 11);
  EXPECT_FALSE(one.top_pairs.empty());  // the pair query sits in the second piece
  EXPECT_FALSE(std::isnan(one.sharpness[0]));
}

// Regression: F2 in complex mode was kept for every point of a piece that had some complex
// entry, and the quadrature's tolerance and rounding floor were the piece's, so cutting the
// query points differently changed the report. Every cut must give the same bytes.
TEST(QueryPieces, QueryChunkDoesNotChangeTheReport) {
  const pk::nn::Dataset data = regression_data(24, 2, 2, 3);
  const pk::nn::Model model = pk::nn::mlp("2-6-2", "tanh");
  pk::nn::TrainingConfig config;
  config.steps = 9;
  config.schedule = pk::nn::Schedule::constant(0.4);
  const TrainedRun run = train(model, pk::nn::LossKind::mse, data, config, init(model, 5));
  const Tensor queries = query_points(11, 2, 8);
  const DecompositionReport whole = decompose(model, run.trajectory, queries, everything(64, 1));
  // The run must put complex and other entries on the same step, or the test proves nothing.
  bool mixed = false;
  for (std::int64_t k = 0; k < whole.steps; ++k) {
    int flagged = 0;
    for (std::int64_t i = 0; i < whole.queries * whole.outputs; ++i)
      flagged += whole.complex[static_cast<std::size_t>(k * whole.queries * whole.outputs + i)];
    mixed = mixed || (flagged > 0 && flagged < whole.queries * whole.outputs);
  }
  ASSERT_TRUE(mixed);
  const std::string files = report_text(whole);
  for (std::int64_t chunk : {1, 2, 3, 5, 10}) {
    SCOPED_TRACE("query_chunk " + std::to_string(chunk));
    const DecompositionReport cut = decompose(model, run.trajectory, queries, everything(chunk, 2));
    expect_same(whole, cut);
    EXPECT_EQ(whole.second_order_computed, cut.second_order_computed);
    EXPECT_TRUE(files == report_text(cut));
  }
}

TEST(QueryPieces, OnlineEqualsOfflineAndEachPieceEqualsItsPointsAlone) {
  const pk::nn::Dataset data = regression_data(20, 2, 1, 4);
  const pk::nn::Model model = pk::nn::mlp("2-5-5-1", "tanh");
  pk::nn::TrainingConfig config;
  config.steps = 7;
  config.schedule = pk::nn::Schedule::constant(0.3);
  const Tensor queries = query_points(7, 2, 2);
  const DecompositionOptions options = everything(4, 2);

  pk::nn::Trainer trainer(model, pk::nn::Loss(pk::nn::LossKind::mse), data, config);
  DecompositionObserver online(model, pk::nn::Loss(pk::nn::LossKind::mse), queries, options);
  pk::nn::TrajectoryRecorder recorder;
  trainer.add_observer(online);
  trainer.add_observer(recorder);
  trainer.run(init(model, 9));
  const DecompositionReport offline = decompose(model, recorder.trajectory(), queries, options);
  expect_same(online.report(), offline);

  // The second piece (points 4..6) alone, as its own batch of queries.
  Tensor tail(Shape::matrix(3, 2));
  std::copy_n(queries.data() + 8, 6, tail.data());
  DecompositionOptions alone = options;
  alone.pair_query = 1;
  alone.sharpness_every = 0;
  const DecompositionReport piece = decompose(model, recorder.trajectory(), tail, alone);
  for (std::int64_t k = 0; k < piece.steps; ++k)
    for (std::int64_t q = 0; q < 3; ++q) {
      EXPECT_TRUE(same_bits(piece.first_order[piece.index(k, q, 0)],
                            offline.first_order[offline.index(k, q + 4, 0)]));
      EXPECT_TRUE(same_bits(piece.second_order[piece.index(k, q, 0)],
                            offline.second_order[offline.index(k, q + 4, 0)]));
    }
}

}  // namespace
}  // namespace pk::kernel::testing
