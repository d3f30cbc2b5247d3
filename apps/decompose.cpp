// pathkernel decompose: the per-step decomposition of a recorded run into a report directory.
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "apps/commands.hpp"
#include "apps/mpi_ranks.hpp"
#include "apps/progress.hpp"
#include "apps/report_page.hpp"
#include "apps/resources.hpp"
#include "apps/setup.hpp"
#include "apps/streamed_report.hpp"
#include "io/staged_directory.hpp"
#include "kernel/report_merge.hpp"
#include "kernel/report_stream.hpp"
#include "kernel/sweep.hpp"

namespace pk::app {

namespace {
// "200M", "1.5G", "4096": bytes, with K, M, G, T (powers of 1024).
double parse_bytes(const std::string& text) {
  std::size_t used = 0;
  double value = 0.0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  const std::string unit = text.substr(used);
  double scale = 1.0;
  if (unit == "K" || unit == "KiB")
    scale = 1024.0;
  else if (unit == "M" || unit == "MiB")
    scale = 1024.0 * 1024.0;
  else if (unit == "G" || unit == "GiB")
    scale = 1024.0 * 1024.0 * 1024.0;
  else if (unit == "T" || unit == "TiB")
    scale = 1024.0 * 1024.0 * 1024.0 * 1024.0;
  else if (!unit.empty() && unit != "B")
    used = 0;
  if (used == 0 || !(value > 0) || !std::isfinite(value))
    throw UsageError("--memory-limit " + text + ": expected a size such as 512M or 2G");
  return value * scale;
}

}  // namespace

int decompose_command(const Args& args) {
  Options o("decompose",
            "Splits every step's change of the predictions at query points into the\n"
            "path-kernel term F1, the second-order term F2 and the remainders, sums them\n"
            "over windows of steps and before and after the edge of stability, and writes\n"
            "a report directory (summary.json, steps.csv, queries.csv, windows.csv,\n"
            "attribution.csv, plots and index.html).");
  o.value("run", "DIR", "a run directory written by `pathkernel train`", std::nullopt, true);
  o.value("queries", "FILE.csv",
          "query points, one per row, every column an input [default: the training inputs]");
  o.value("out", "DIR", "the report directory to create [default: RUN/report]");
  declare_decomposition_options(o);
  o.value("attribution-method", "auto|forward|backward",
          "attribution through the optimiser's shares: forward in time (M x D state), backward "
          "(Q x C x D state) or auto, the smaller; same result to rounding",
          "auto");
  o.value("plot-query", "Q", "the query point whose steps are plotted", "0");
  o.value("threads", "N", "pieces of query points decomposed at once (results do not depend on it)", "1");
  o.value("query-chunk", "P", "query points per independent piece of work (results do not depend on it)",
          "64");
  o.value("steps", "A:B",
          "decompose steps [A, B) only, into a partial report for `pathkernel merge` (A a multiple of 64; "
          "with optimiser state the shares are first replayed over steps 0 to A - 1)");
  o.value("memory-limit", "BYTES",
          "memory the decomposition may hold, e.g. 512M or 4G; refused up front when one block of steps does "
          "not fit [default: 80% of the available memory]");
  o.value("attribution-format", "FORMAT",
          "auto (attribution.csv up to 10^6 rows, attribution.npy beyond), csv, npy, none, or top:K (the K "
          "largest |A_m| per query point and output)",
          "auto");
  o.flag("no-timings", "leave timings out of summary.json, so reports compare byte for byte");
  o.flag("quiet", "no progress bar");
  if (!o.parse(args)) return 0;
  const std::filesystem::path run_dir = o.text("run");
  // Read step by step, so a run longer than memory can be decomposed.
  const pk::nn::TrajectoryReader reader(run_dir);
  const pk::nn::Trajectory& run = reader.facts();
  const pk::nn::Model& model = reader.model();
  const pk::ad::Tensor queries =
      o.given("queries") ? load_run_points(o, "queries", run) : pk::ad::Tensor(run.training_inputs());
  pk::kernel::DecompositionOptions options = make_decomposition_options(o);
  options.threads = thread_count(o);
  options.query_chunk = o.integer("query-chunk", 1);
  try {
    options.attribution_method = pk::kernel::parse_attribution_method(o.text("attribution-method"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--attribution-method: ") + e.what());
  }
  const std::int64_t plot_query = o.integer("plot-query", 0);
  if (plot_query >= queries.shape().dim(0))
    throw UsageError("--plot-query " + std::to_string(plot_query) + ": there are " +
                     std::to_string(queries.shape().dim(0)) + " query points");
  const std::filesystem::path out =
      o.given("out") ? std::filesystem::path(o.text("out")) : run_dir / "report";
  pk::kernel::AttributionFormat attribution_format;
  try {
    attribution_format = pk::kernel::parse_attribution_format(o.text("attribution-format"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--attribution-format: ") + e.what());
  }
  {
    // Streamed: a block of steps, the online totals, the attribution and one step's working set
    // (kernel/report_stream.hpp), whatever the number of steps; plus the plotted query's rows.
    const std::int64_t q = queries.shape().dim(0), c = run.output_count, n = reader.steps();
    const std::int64_t window = options.window == 0 ? pk::kernel::default_window(n) : options.window;
    const std::int64_t windows = window > 0 ? (n + window - 1) / window : 0;
    const double bytes =
        pk::kernel::streaming_memory_bytes(q, c, run.sample_count, run.parameter_count, options, windows,
                                           pk::kernel::carries_optimizer_state(options, run.optimizer)) +
        static_cast<double>(n) * (static_cast<double>(c) * 7.0 + 8.0) * 8.0;
    const std::string what =
        "decomposing " + std::to_string(n) + " steps at " + std::to_string(q) + " query points";
    if (o.given("memory-limit")) {
      const double limit = parse_bytes(o.text("memory-limit"));
      if (bytes > limit)
        throw UsageError(what + " needs about " + byte_text(bytes) + " of memory, more than --memory-limit " +
                         byte_text(limit) +
                         "; fewer query points or training points, or a smaller --query-chunk");
    } else {
      require_memory(bytes, what);
    }
  }
  std::int64_t first = 0, end = reader.steps();
  if (o.given("steps")) {
    const std::string range = o.text("steps");
    const std::size_t colon = range.find(':');
    try {
      std::size_t used_a = 0, used_b = 0;
      if (colon == std::string::npos) throw std::invalid_argument("no colon");
      first = std::stoll(range.substr(0, colon), &used_a);
      end = std::stoll(range.substr(colon + 1), &used_b);
      if (used_a != colon || used_b != range.size() - colon - 1) throw std::invalid_argument("trailing text");
    } catch (const std::exception&) {
      throw UsageError("--steps " + range + ": expected A:B, the steps A to B - 1");
    }
    if (first < 0 || end < first || end > reader.steps() || first % pk::kernel::kStepBlock != 0)
      throw UsageError("--steps " + range + ": a range of the run's " + std::to_string(reader.steps()) +
                       " steps starting at a multiple of " + std::to_string(pk::kernel::kStepBlock));
    if (options.pair_query >= 0)
      throw UsageError("--steps: --pair-query keeps only the largest pairs, which cannot be merged");
  }
  Progress progress("decomposing", 0, !o.flag_set("quiet") && Progress::stderr_is_terminal());
  auto show = [&](std::int64_t done, std::int64_t total) {
    if (done % 10 == 0 || done == total)
      progress.update(static_cast<std::size_t>(done), static_cast<std::size_t>(total));
  };
  pk::kernel::RunDescription description;
  description.data = "the training set of run directory " + run_dir.string();
  description.architecture = run.model;
  description.loss = std::string(pk::nn::Loss(run.loss).name());
  description.optimizer = std::string(pk::nn::optimizer_name(run.optimizer.kind));
  description.schedule = run.schedule_description();
  description.steps = reader.steps();
  description.seed = run.batches.seed;
  description.status = std::string(pk::nn::status_name(run.status));
  description.include_timings = !o.flag_set("no-timings");
  description.extra.emplace_back("query_space", point_space(o, "queries", run));
  if (run.status == pk::nn::TrainingStatus::diverged)
    description.extra.emplace_back("diverged", "the run diverged; this report covers its " +
                                                   std::to_string(reader.steps()) + " finite steps");
  if (o.given("steps")) {
    pk::io::StagedDirectory dir(o.given("out") ? out : run_dir / ("part-" + std::to_string(first)));
    pk::kernel::PartWriter part(dir.path(), first, end, reader.steps());
    const pk::kernel::DecompositionReport tail =
        pk::kernel::decompose_stream(model, reader, queries, options, first, end, part.sink(), show);
    progress.finish();
    part.finish(tail, description, plot_query, &queries);
    dir.commit();
    std::printf(
        "steps %lld:%lld of %lld, %lld query points: partial report %s (combine with `pathkernel merge`)\n",
        static_cast<long long>(first), static_cast<long long>(end), static_cast<long long>(reader.steps()),
        static_cast<long long>(queries.shape().dim(0)), dir.target().string().c_str());
    return 0;
  }
  // --- ranks: under mpirun every rank decomposes a share of the blocks of steps into a partial
  // report beside the output (on the shared file system), and rank 0 merges them ---
  if (const Ranks ranks = mpi_ranks(); ranks.size > 1) {
    const std::int64_t n = reader.steps(), blocks = (n + pk::kernel::kStepBlock - 1) / pk::kernel::kStepBlock;
    auto cut = [&](int r) { return std::min(n, blocks * r / ranks.size * pk::kernel::kStepBlock); };
    const std::filesystem::path parts = out.parent_path() / ("." + out.filename().string() + ".ranks");
    auto part_of = [&](int r) { return parts / ("rank-" + std::to_string(r)); };
    std::string failure;
    try {
      std::filesystem::create_directories(part_of(ranks.rank));
      pk::kernel::PartWriter part(part_of(ranks.rank), cut(ranks.rank), cut(ranks.rank + 1), n);
      const pk::kernel::DecompositionReport tail = pk::kernel::decompose_stream(
          model, reader, queries, options, cut(ranks.rank), cut(ranks.rank + 1), part.sink(),
          ranks.root() ? std::function<void(std::int64_t, std::int64_t)>(show) : nullptr);
      part.finish(tail, description, plot_query, &queries);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!failure.empty()) std::fprintf(stderr, "pathkernel: rank %d: %s\n", ranks.rank, failure.c_str());
    const int failed = mpi_failures(failure.empty());
    if (!ranks.root()) return failed ? 1 : 0;
    progress.finish();
    std::error_code ignored;
    if (failed) {
      std::filesystem::remove_all(parts, ignored);
      throw std::runtime_error(std::to_string(failed) + " of " + std::to_string(ranks.size) +
                               " ranks failed");
    }
    std::vector<std::filesystem::path> dirs;
    for (int r = 0; r < ranks.size; ++r) dirs.push_back(part_of(r));
    pk::io::StagedDirectory dir(out);
    pk::kernel::ReportStream stream(dir.path(), n, plot_query);
    const pk::kernel::DecompositionReport tail = pk::kernel::replay_parts(dirs, stream.sink());
    finish_streamed_report(dir, stream, tail, description, attribution_format, plot_query, &queries);
    std::filesystem::remove_all(parts, ignored);
    std::printf("%d ranks, steps split at multiples of %lld; report: %s\n", ranks.size,
                static_cast<long long>(pk::kernel::kStepBlock), dir.target().string().c_str());
    return 0;
  }
  // --- end ranks ---
  pk::io::StagedDirectory dir(out);
  pk::kernel::ReportStream stream(dir.path(), reader.steps(), plot_query);
  const pk::kernel::DecompositionReport tail =
      pk::kernel::decompose_stream(model, reader, queries, options, 0, reader.steps(), stream.sink(), show);
  progress.finish();
  finish_streamed_report(dir, stream, tail, description, attribution_format, plot_query, &queries);
  if (run.status == pk::nn::TrainingStatus::diverged)
    std::printf("the run diverged (%s): this report covers its %lld finite steps\n", run.message.c_str(),
                static_cast<long long>(reader.steps()));
  std::printf("report: %s\n", dir.target().string().c_str());
  return 0;
}

void finish_streamed_report(pk::io::StagedDirectory& dir, pk::kernel::ReportStream& stream,
                            const pk::kernel::DecompositionReport& tail,
                            const pk::kernel::RunDescription& description,
                            const pk::kernel::AttributionFormat& format, std::int64_t plot_query,
                            const pk::ad::Tensor* queries) {
  const pk::kernel::ReportTotals totals = stream.finish(tail, description, format);
  // The page plots the chosen query point from the rows kept for it (row 0 of the plot report);
  // its numbers and tables come from the totals, as for a report held in memory.
  write_run_page(dir.path(), totals, stream.plot_report(), 0, description, plot_query, queries,
                 stream.attribution_files());
  dir.commit();
  std::printf(
      "%lld steps, %lld query points: run identity holds to %.2e; first-order kernel misses %.3g of the "
      "learned change\n",
      static_cast<long long>(totals.steps), static_cast<long long>(totals.queries), totals.run_identity_error,
      totals.relative_error[0]);
  std::fputs(accumulation_text(totals).c_str(), stdout);
}

}  // namespace pk::app
