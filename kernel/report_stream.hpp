#pragma once
// A report built as the steps arrive, in memory that does not grow with the number of steps:
// every total the report files state (queries.csv, windows.csv, summary.json) is accumulated
// online from blocks of consecutive steps, in step order, with the same arithmetic as the
// in-memory report's functions, so both give the same bytes. The in-memory writers go through
// the same accumulator.

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <vector>

#include "io/text_file.hpp"
#include "kernel/accumulation.hpp"
#include "kernel/decomposition.hpp"
#include "kernel/report_writer.hpp"

namespace pk::kernel {

/// Everything the report files state besides the per-step rows.
struct ReportTotals {
  std::int64_t steps = 0, queries = 0, outputs = 0, training_points = 0;
  DecompositionOptions options;
  bool kernel_form = true;
  std::string optimizer;
  pk::nn::OptimizerConfig optimizer_config;

  std::vector<QuerySummary> summaries;    // per query and output, q * C + c
  std::vector<ComplexStepStats> complex;  // per query and output
  ComplexStepStats complex_pooled;
  std::int64_t steps_complex_for_some_query = 0;
  double run_identity_error = 0.0, exact_identity_error = 0.0, attribution_identity_error = 0.0;
  /// relative_error (kernel/sweep.hpp) with no correction, F2 on the complex steps, every F2.
  std::array<double, 3> relative_error{};

  std::int64_t sharpness_computed = 0, steps_beyond_two = 0;
  double max_lambda = std::numeric_limits<double>::quiet_NaN();
  double max_lr_times_lambda = std::numeric_limits<double>::quiet_NaN();
  double max_sharpness_residual = std::numeric_limits<double>::quiet_NaN();

  std::vector<WindowTotals> windows;
  std::int64_t window = 0;  // steps per window as used
  EdgeOfStability edge;

  /// The optimiser's stability: measurements of the sharpness its threshold applies to, how many
  /// exceed it, and the largest ratio.
  std::int64_t stability_computed = 0, stability_beyond = 0;
  double max_sharpness_over_threshold = std::numeric_limits<double>::quiet_NaN();

  std::int64_t max_exact_nodes = 0;
  double max_exact_error = 0.0;

  /// As in DecompositionReport (indexed (q * C + c) * M + m, or q * C + c for the regulariser's
  /// shares; empty when not computed).
  std::vector<double> attribution, path_kernel, attribution_regularizer, exact_attribution,
      exact_attribution_regularizer;
  std::string attribution_method;
  std::int64_t attribution_state_bytes = 0;
  AttributionPlan attribution_plan;      // forward or backward, and why (attribution_method.hpp)
  std::string exact_attribution_method;  // empty without the exact attribution
  double shares_closure_error = 0.0;
  double exact_attribution_identity_error = std::numeric_limits<double>::quiet_NaN();
  double exact_attribution_max_step_error = std::numeric_limits<double>::quiet_NaN();
  std::vector<F2Pair> top_pairs;
  double pair_total = 0.0;

  double seconds_first_order = 0.0, seconds_second_order = 0.0, seconds_exact = 0.0,
         seconds_attribution = 0.0, seconds_sharpness = 0.0;
};

/// Sums over a range of steps fed one step at a time: `sum_steps` without the per-step arrays.
class RangeSumAccumulator {
 public:
  RangeSumAccumulator() = default;
  RangeSumAccumulator(std::int64_t start, std::size_t cells, bool third);
  /// Adds step `k` (the range's next step), row `local` of `block`.
  void add(const DecompositionReport& block, std::int64_t local);
  /// The sums over [start, steps added so far).
  StepRangeSums result() const;
  bool active() const { return active_; }

 private:
  bool active_ = false, third_ = false;
  StepRangeSums s_;
  std::vector<double> remainder3_, previous_df_;
  std::int64_t pairs_ = 0, alternating_ = 0;
};

/// The online accumulator: `add` blocks of consecutive steps in order (each a report holding
/// only those steps' rows), then `finish` with the report of what follows the last step.
class ReportAccumulator {
 public:
  /// `layout` gives the sizes and options (its rows are not read); `total_steps` the run's N, which
  /// fixes the default window.
  ReportAccumulator(const DecompositionReport& layout, std::int64_t total_steps);
  /// Steps [first, first + block.steps) of the run; `first` must continue where the last ended.
  void add(const DecompositionReport& block, std::int64_t first);
  /// The totals, with f(x; w_0), f(x; w_N), the attribution and the timings taken from `tail`.
  ReportTotals finish(const DecompositionReport& tail);

 private:
  struct CellTotals {
    double f1 = 0, f2 = 0, r2 = 0, exact = 0;
    bool exact_everywhere = true;
    std::int64_t complex = 0;
    double df_complex = 0, df_all = 0, r1_c = 0, r2_c = 0, r1_o = 0, r2_o = 0;
    bool f2_c = false, f2_o = false;
    double predicted_complex = 0, predicted_every = 0;  // relative_error's running sums
  };
  ReportTotals t_;
  std::int64_t next_ = 0;
  std::size_t cells_ = 0;
  bool third_ = false;
  bool preconditioned_ = false;  // Adam's threshold applies to the preconditioned sharpness
  std::vector<CellTotals> cell_;
  CellTotals pooled_;
  RangeSumAccumulator window_;
  std::int64_t window_end_ = 0;
  // The edge of stability: the whole run so far, and the trailing streak of measurements in the
  // band with the sums before and from its start.
  RangeSumAccumulator prefix_, streak_after_;
  std::optional<StepRangeSums> streak_before_;
  std::int64_t streak_length_ = 0, streak_start_ = 0;
  double streak_lambda_ = 0.0, streak_threshold_ = 0.0;
};

/// The totals of an in-memory report: what the report files state about it.
ReportTotals report_totals(const DecompositionReport& report);

void write_queries_csv(std::ostream& out, const ReportTotals& totals);
void write_windows_csv(std::ostream& out, const ReportTotals& totals);
void write_summary_json(std::ostream& out, const ReportTotals& totals, const RunDescription& run);
void write_attribution_csv(std::ostream& out, const ReportTotals& totals);

/// The header line of steps.csv.
void write_steps_header(std::ostream& out, const DecompositionReport& layout);
/// The rows of steps.csv for the block's steps, numbered from `first`.
void write_steps_rows(std::ostream& out, const DecompositionReport& block, std::int64_t first);

/// How the attribution is written.
struct AttributionFormat {
  enum class Kind { automatic, csv, npy, top, none } kind = Kind::automatic;
  std::int64_t top = 0;  // K of top:K
  /// automatic: attribution.csv up to this many rows (Q x C x M), attribution.npy beyond.
  std::int64_t csv_rows = 1'000'000;
};
/// "auto", "csv", "npy", "none" or "top:K"; throws std::invalid_argument otherwise.
AttributionFormat parse_attribution_format(std::string_view text);

/// Writes the attribution as chosen: attribution.csv (every m, or the K largest |A_m| per query
/// point and output, largest first) or attribution.npy and path_kernel.npy of shape (Q, C, M),
/// float64, with the index arrays query_index.npy, output_index.npy and train_index.npy beside
/// them. Nothing without attribution. Returns the names of the files written.
std::vector<std::string> write_attribution(const std::filesystem::path& directory, const ReportTotals& totals,
                                           const AttributionFormat& format);

/// The report written as the decomposition runs: steps.csv row by row, the totals online, and the
/// rows of one query point kept for the plots. Pass `sink()` to `decompose_stream`.
class ReportStream {
 public:
  ReportStream(const std::filesystem::path& directory, std::int64_t total_steps, std::int64_t plot_query);
  /// The callable `decompose_stream` hands each block to.
  StepBlockSink sink();
  /// Writes queries.csv, windows.csv, summary.json and the attribution; returns the totals.
  ReportTotals finish(const DecompositionReport& tail, const RunDescription& run,
                      const AttributionFormat& format);
  /// Every step of the plot query (as query 0 of a one-query report), after `finish`.
  const DecompositionReport& plot_report() const { return plot_; }
  /// The attribution files `finish` wrote (write_attribution's names).
  const std::vector<std::string>& attribution_files() const { return attribution_files_; }

 private:
  void add(const DecompositionReport& block, std::int64_t first);
  std::filesystem::path directory_;
  std::int64_t total_steps_, plot_query_;
  pk::io::StreamedFile steps_;
  std::optional<ReportAccumulator> totals_;
  DecompositionReport plot_;
  std::vector<std::string> attribution_files_;
};

/// The bytes `decompose_stream` and a ReportStream hold at once, whatever the number of steps.
/// `per_point_state`: the optimiser's shares are carried (optimizer_shares.hpp: about 2 M x D
/// numbers in every piece of query points).
double streaming_memory_bytes(std::int64_t queries, std::int64_t outputs, std::int64_t training_points,
                              std::int64_t parameters, const DecompositionOptions& options,
                              std::int64_t windows, bool per_point_state = false);

}  // namespace pk::kernel
