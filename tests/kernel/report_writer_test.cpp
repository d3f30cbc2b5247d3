// The report files of docs/conventions.md: exact columns, values that read back to the
// report's, empty cells for what was not computed, a summary.json that parses and states the run
// identity, and a staged directory that appears complete or not at all.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "io/staged_directory.hpp"
#include "kernel/decomposition.hpp"
#include "kernel/report_writer.hpp"
#include "kernel_test_support.hpp"

namespace pk::kernel {
namespace {

using namespace testing;
using io::StagedDirectory;

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A report with a bit of everything: complex and plain steps (F2 only on some), the exact kernel,
// attribution, sharpness on some steps, pairs, two outputs.
struct Fixture {
  pk::nn::Dataset data = regression_data(6, 2, 2, 81);
  pk::nn::Model model = pk::nn::mlp("2-4-4-2", "tanh");
  Tensor queries = query_points(3, 2, 82);
  DecompositionReport report;
  RunDescription run;

  explicit Fixture(pk::nn::OptimizerKind kind = pk::nn::OptimizerKind::gradient_descent) {
    const TrainedRun r = train(model, pk::nn::LossKind::mse, data,
                               {.steps = 5,
                                .schedule = pk::nn::Schedule::explicit_steps({0.01, 1.5, 0.02, 2.0, 0.01}),
                                .optimizer = {.kind = kind}},
                               init(model, 27));
    DecompositionOptions o;
    o.second_order = SecondOrderMode::complex_steps;
    o.tau = 0.05;
    o.sharpness_every = 2;
    o.pair_query = 0;
    o.pair_count = 4;
    report = decompose(model, r.trajectory, queries, o);
    expect_report_consistent(report);
    run.data = "synthetic \"regression\"\n(seeded)";  // needs escaping in JSON
    run.architecture = model.name();
    run.loss = "mse";
    run.optimizer = std::string(pk::nn::optimizer_name(kind));
    run.schedule = "explicit";
    run.steps = 5;
    run.seed = 27;
    run.seconds_training = 0.25;
    run.extra = {{"note", "a test"}};
  }
};

// A value as printed (shortest round trip) compared with the report's, NaN with an empty cell.
void expect_cell(const std::string& cell, double want, const std::string& where) {
  if (std::isnan(want)) {
    EXPECT_TRUE(cell.empty()) << where << ": '" << cell << "' where nothing was computed";
  } else {
    ASSERT_FALSE(cell.empty()) << where;
    EXPECT_TRUE(same_bits(cell_value(cell), want)) << where << ": " << cell << " vs " << want;
  }
}

TEST(ReportWriter, StepsCsvHasDesignColumnsAndReadsBackExactly) {
  const Fixture fx;
  const DecompositionReport& r = fx.report;
  expect_report_consistent(r);
  std::ostringstream out;
  write_steps_csv(out, r);
  const auto rows = split_csv(out.str());
  ASSERT_FALSE(rows.empty());
  const std::vector<std::string> header{"step",
                                        "query",
                                        "output",
                                        "lr",
                                        "df",
                                        "first_order",
                                        "second_order",
                                        "remainder1",
                                        "remainder2",
                                        "complex",
                                        "exact_error",
                                        "sharpness",
                                        "stability_threshold",
                                        "preconditioned_sharpness"};
  EXPECT_EQ(rows.front(), header);
  // One row per step x query x output after the header, each ended by a newline.
  ASSERT_EQ(rows.size(), static_cast<std::size_t>(r.steps * r.queries * r.outputs) + 1);
  EXPECT_EQ(out.str().back(), '\n');
  bool some_f2 = false, some_without_f2 = false, some_sharpness = false, some_complex = false;
  std::size_t line = 1;
  for (std::int64_t k = 0; k < r.steps; ++k)
    for (std::int64_t q = 0; q < r.queries; ++q)
      for (std::int64_t c = 0; c < r.outputs; ++c, ++line) {
        const auto& row = rows[line];
        const std::string where = "steps.csv line " + std::to_string(line + 1);
        ASSERT_EQ(row.size(), header.size()) << where;
        const std::size_t i = r.index(k, q, c);
        EXPECT_EQ(row[0], std::to_string(k));
        EXPECT_EQ(row[1], std::to_string(q));
        EXPECT_EQ(row[2], std::to_string(c));
        expect_cell(row[3], r.learning_rate[static_cast<std::size_t>(k)], where + " lr");
        expect_cell(row[4], r.df[i], where + " df");
        expect_cell(row[5], r.first_order[i], where + " first_order");
        expect_cell(row[6], r.second_order[i], where + " second_order");
        expect_cell(row[7], r.remainder1(i), where + " remainder1");
        // R2 only where F2 was computed.
        expect_cell(row[8], std::isnan(r.second_order[i]) ? std::nan("") : r.remainder2(i),
                    where + " remainder2");
        EXPECT_EQ(row[9], r.complex[i] ? "1" : "0") << where;
        expect_cell(row[10], r.exact_error[i], where + " exact_error");
        expect_cell(row[11], r.sharpness[static_cast<std::size_t>(k)], where + " sharpness");
        some_f2 = some_f2 || !row[6].empty();
        some_without_f2 = some_without_f2 || row[6].empty();
        some_sharpness = some_sharpness || !row[11].empty();
        some_complex = some_complex || row[9] == "1";
      }
  // The fixture covers both kinds of cell.
  EXPECT_TRUE(some_f2 && some_without_f2 && some_sharpness && some_complex);
}

TEST(ReportWriter, QueriesAndAttributionCsvHaveDesignColumnsAndReadBackExactly) {
  const Fixture fx;
  const DecompositionReport& r = fx.report;
  std::ostringstream queries, attribution;
  write_queries_csv(queries, r);
  write_attribution_csv(attribution, r);
  const auto q_rows = split_csv(queries.str());
  const std::vector<std::string> q_header{"query",           "output",          "f_initial",
                                          "f_final",         "sum_first_order", "sum_second_order",
                                          "sum_remainder2",  "kernel_machine",  "rel_error_first",
                                          "rel_error_second"};
  EXPECT_EQ(q_rows.front(), q_header);
  ASSERT_EQ(q_rows.size(), static_cast<std::size_t>(r.queries * r.outputs) + 1);
  std::size_t line = 1;
  for (std::int64_t q = 0; q < r.queries; ++q)
    for (std::int64_t c = 0; c < r.outputs; ++c, ++line) {
      const auto& row = q_rows[line];
      ASSERT_EQ(row.size(), q_header.size());
      const QuerySummary s = r.summary(q, c);
      EXPECT_EQ(row[0], std::to_string(q));
      EXPECT_EQ(row[1], std::to_string(c));
      const double want[] = {s.f_initial,      s.f_final,        s.sum_first_order, s.sum_second_order,
                             s.sum_remainder2, s.kernel_machine, s.rel_error_first, s.rel_error_second};
      for (std::size_t j = 0; j < 8; ++j) expect_cell(row[j + 2], want[j], "queries.csv " + q_header[j + 2]);
      // The columns mean what they say.
      EXPECT_NEAR(cell_value(row[2]) + cell_value(row[4]) + cell_value(row[5]) + cell_value(row[6]),
                  cell_value(row[3]), 1e-12 * (1 + std::abs(cell_value(row[3]))));
    }
  const auto a_rows = split_csv(attribution.str());
  const std::vector<std::string> a_header{"query", "output", "train_index", "contribution", "path_kernel"};
  EXPECT_EQ(a_rows.front(), a_header);
  const std::int64_t m_all = r.training_points;
  ASSERT_EQ(a_rows.size(), static_cast<std::size_t>(r.queries * r.outputs * m_all) + 1);
  line = 1;
  for (std::int64_t q = 0; q < r.queries; ++q)
    for (std::int64_t c = 0; c < r.outputs; ++c)
      for (std::int64_t m = 0; m < m_all; ++m, ++line) {
        const auto& row = a_rows[line];
        ASSERT_EQ(row.size(), a_header.size());
        EXPECT_EQ(row[0], std::to_string(q));
        EXPECT_EQ(row[1], std::to_string(c));
        EXPECT_EQ(row[2], std::to_string(m));
        const auto i = static_cast<std::size_t>((q * r.outputs + c) * m_all + m);
        expect_cell(row[3], r.attribution[i], "attribution.csv contribution");
        expect_cell(row[4], r.path_kernel[i], "attribution.csv path_kernel");
      }
}

TEST(ReportWriter, SummaryJsonParsesAndStatesTheRunIdentity) {
  const Fixture fx;
  const DecompositionReport& r = fx.report;
  std::ostringstream out;
  write_summary_json(out, r, fx.run);
  const Json j = Json::parse(out.str());
  ASSERT_EQ(j.kind, Json::Kind::object);
  EXPECT_EQ(j["version"].string, std::string(version()));
  const Json& config = j["configuration"];
  EXPECT_EQ(config["data"].string, fx.run.data);  // escaped and read back
  EXPECT_EQ(config["architecture"].string, fx.run.architecture);
  EXPECT_EQ(config["loss"].string, "mse");
  EXPECT_EQ(config["optimizer"].string, "gradient_descent");
  EXPECT_EQ(config["schedule"].string, "explicit");
  EXPECT_EQ(config["steps"].number, 5);
  EXPECT_EQ(config["seed"].number, 27);
  EXPECT_EQ(config["second_order"].string, "complex");
  EXPECT_EQ(config["tau"].number, 0.05);
  EXPECT_EQ(config["note"].string, "a test");
  EXPECT_EQ(j["steps"].number, static_cast<double>(r.steps));
  EXPECT_EQ(j["queries"].number, static_cast<double>(r.queries));
  EXPECT_EQ(j["outputs"].number, static_cast<double>(r.outputs));
  EXPECT_EQ(j["training_points"].number, static_cast<double>(r.training_points));
  ASSERT_EQ(j["query_totals"].kind, Json::Kind::array);
  EXPECT_EQ(j["query_totals"].array.size(), static_cast<std::size_t>(r.queries * r.outputs));
  EXPECT_TRUE(j["kernel_form"].boolean);
  const Json& identity = j["run_identity"];
  EXPECT_TRUE(same_bits(identity["max_relative_error"].number, r.run_identity_error()));
  EXPECT_LE(identity["max_relative_error"].number, 1e-10);
  EXPECT_TRUE(same_bits(identity["exact_kernel_max_relative_error"].number, r.exact_identity_error()));
  EXPECT_TRUE(same_bits(identity["attribution_max_relative_error"].number, r.attribution_identity_error()));
  const ComplexStepStats stats = r.complex_stats();
  const Json& complex = j["complex_steps"];
  EXPECT_TRUE(same_bits(complex["fraction"].number, stats.fraction));
  EXPECT_TRUE(same_bits(complex["change_share"].number, stats.change_share));
  EXPECT_TRUE(j["sharpness"].has("max_lambda"));
  EXPECT_GE(j["sharpness"]["steps_computed"].number, 1);
  EXPECT_TRUE(j.has("exact_kernel"));
  EXPECT_TRUE(j.has("timings_seconds"));
  EXPECT_EQ(j["second_order_pairs"]["largest"].array.size(), r.top_pairs.size());
  for (std::size_t i = 0; i < j["query_totals"].array.size(); ++i) {
    const Json& q = j["query_totals"].array[i];
    const QuerySummary s = r.summary(static_cast<std::int64_t>(q["query"].number),
                                     static_cast<std::int64_t>(q["output"].number));
    EXPECT_TRUE(same_bits(q["f_final"].number, s.f_final));
    EXPECT_TRUE(same_bits(q["sum_first_order"].number, s.sum_first_order));
    EXPECT_TRUE(same_bits(q["sum_exact"].number, s.sum_exact));
  }
}

TEST(ReportWriter, MomentumSummaryAttributesByShareAndLeavesDomingosKernelEmpty) {
  const Fixture fx(pk::nn::OptimizerKind::momentum);
  const DecompositionReport& r = fx.report;
  EXPECT_FALSE(r.kernel_form);
  std::ostringstream out;
  write_summary_json(out, r, fx.run);
  const Json j = Json::parse(out.str());
  EXPECT_FALSE(j["kernel_form"].boolean);
  EXPECT_EQ(j["kernel_form"].kind, Json::Kind::boolean);
  EXPECT_TRUE(j.has("note"));
  EXPECT_EQ(j["optimizer"]["name"].string, "momentum");
  EXPECT_EQ(j["optimizer"]["momentum"].number, 0.9);
  EXPECT_LT(j["run_identity"]["attribution_max_relative_error"].number, 1e-12);
  EXPECT_EQ(j["attribution_method"]["method"].string, "per_point_state");
  EXPECT_GT(j["attribution_method"]["peak_state_bytes"].number, 0);
  // Domingos' column is left empty, with the reason, never filled with another quantity.
  EXPECT_EQ(j["attribution_method"]["path_kernel"].kind, Json::Kind::null);
  EXPECT_TRUE(j["attribution_method"].has("path_kernel_reason"));
  EXPECT_TRUE(j.has("second_order_pairs"));
  EXPECT_EQ(j["stability"]["threshold"].string, "2 (1 + mu) / alpha_k - lambda");
  EXPECT_EQ(j["stability"]["steps_computed"].number, 3);
  std::ostringstream attribution;
  write_attribution_csv(attribution, r);
  const auto rows = split_csv(attribution.str());
  ASSERT_EQ(rows.size(), static_cast<std::size_t>(r.queries * r.outputs * r.training_points) + 1);
  for (std::size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), 5u);
    EXPECT_EQ(rows[i][4], "");
  }
  const ScratchDir scratch;
  write_report_files(scratch.path(), r, fx.run);
  EXPECT_TRUE(std::filesystem::exists(scratch / "attribution.csv"));
}

TEST(ReportWriter, ReportFilesMatchTheStreamWriters) {
  const Fixture fx;
  const ScratchDir scratch;
  write_report_files(scratch.path(), fx.report, fx.run);
  for (const auto& [name, writer] :
       std::vector<std::pair<std::string, void (*)(std::ostream&, const DecompositionReport&)>>{
           {"steps.csv", write_steps_csv},
           {"queries.csv", write_queries_csv},
           {"attribution.csv", write_attribution_csv}}) {
    std::ostringstream s;
    writer(s, fx.report);
    EXPECT_EQ(read_text(scratch / name), s.str()) << name;
  }
  EXPECT_NO_THROW(Json::parse(read_text(scratch / "summary.json")));
  EXPECT_THROW(write_report_files(scratch / "missing", fx.report, fx.run), std::runtime_error);
}

TEST(StagedDirectory, LeavesNothingBehindWithoutCommit) {
  const ScratchDir scratch;
  const std::filesystem::path target = scratch / "report";
  {
    StagedDirectory staged(target);
    EXPECT_TRUE(std::filesystem::is_directory(staged.path()));
    EXPECT_EQ(staged.target(), target);
    EXPECT_EQ(staged.path().parent_path(), target.parent_path());  // a sibling: rename is atomic
    std::ofstream(staged.path() / "steps.csv") << "half a report";
    EXPECT_FALSE(std::filesystem::exists(target));
  }
  EXPECT_FALSE(std::filesystem::exists(target));
  EXPECT_TRUE(std::filesystem::is_empty(scratch.path())) << "the staging directory was left behind";
  // The same when an exception unwinds through it.
  try {
    StagedDirectory staged(target);
    std::ofstream(staged.path() / "summary.json") << "{";
    throw std::runtime_error("training failed");
  } catch (const std::runtime_error&) {}
  EXPECT_TRUE(std::filesystem::is_empty(scratch.path()));
}

TEST(StagedDirectory, CommitMovesTheCompleteReportIntoPlaceAndRefusesAnExistingTarget) {
  const Fixture fx;
  const ScratchDir scratch;
  const std::filesystem::path target = scratch / "nested" / "report";
  {
    StagedDirectory staged(target);
    write_report_files(staged.path(), fx.report, fx.run);
    EXPECT_FALSE(std::filesystem::exists(target));
    staged.commit();
    EXPECT_TRUE(std::filesystem::exists(target / "summary.json"));
    EXPECT_FALSE(std::filesystem::exists(staged.path()));
  }
  // Committed: the destructor keeps it, and nothing else is left in the parent.
  EXPECT_TRUE(std::filesystem::exists(target / "steps.csv"));
  EXPECT_TRUE(std::filesystem::exists(target / "attribution.csv"));
  std::int64_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(target.parent_path())) ++entries;
  EXPECT_EQ(entries, 1);
  // An existing target is refused, and left as it was.
  try {
    StagedDirectory again(target);
    ADD_FAILURE() << "an existing report directory was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(target.string()), std::string::npos) << e.what();
  }
  EXPECT_TRUE(std::filesystem::exists(target / "summary.json"));
  entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(target.parent_path())) ++entries;
  EXPECT_EQ(entries, 1);
  EXPECT_THROW(StagedDirectory(""), std::runtime_error);
}

TEST(StagedDirectory, ATargetWrittenWithATrailingSlashIsTheSameDirectory) {
  const ScratchDir scratch;
  const std::filesystem::path target = scratch / "report";
  {
    StagedDirectory staged(target.string() + "/");
    EXPECT_EQ(staged.target(), target);
    EXPECT_EQ(staged.path().parent_path(), scratch.path());  // beside the target, not inside it
    std::ofstream(staged.path() / "summary.json") << "{}";
    staged.commit();
  }
  EXPECT_TRUE(std::filesystem::exists(target / "summary.json"));
  EXPECT_THROW(StagedDirectory(target.string() + "/"), std::runtime_error);
  // Not committed: nothing is left, not even an empty target.
  { StagedDirectory staged(scratch / "other/"); }
  EXPECT_FALSE(std::filesystem::exists(scratch / "other"));
}

}  // namespace
}  // namespace pk::kernel
