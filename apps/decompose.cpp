// pathkernel decompose: the per-step decomposition of a recorded run into a report directory.
#include <cstdio>

#include "apps/commands.hpp"
#include "apps/progress.hpp"
#include "apps/report_page.hpp"
#include "apps/resources.hpp"
#include "apps/setup.hpp"
#include "io/staged_directory.hpp"
#include "kernel/sweep.hpp"

namespace pk::app {

int decompose_command(const Args& args) {
  Options o("decompose", "Splits every step's change of the predictions at query points into the\n"
                         "path-kernel term F1, the second-order term F2 and the remainders, sums them\n"
                         "over windows of steps and before and after the edge of stability, and writes\n"
                         "a report directory (summary.json, steps.csv, queries.csv, windows.csv,\n"
                         "attribution.csv, plots and index.html).");
  o.value("run", "DIR", "a run directory written by `pathkernel train`", std::nullopt, true);
  o.value("queries", "FILE.csv", "query points, one per row, every column an input [default: the training inputs]");
  o.value("out", "DIR", "the report directory to create [default: RUN/report]");
  declare_decomposition_options(o);
  o.value("attribution-method", "auto|forward|backward",
          "attribution through the optimiser's shares: forward in time (M x D state), backward "
          "(Q x C x D state) or auto, the smaller; same result to rounding", "auto");
  o.value("plot-query", "Q", "the query point whose steps are plotted", "0");
  o.value("threads", "N", "pieces of query points decomposed at once (results do not depend on it)", "1");
  o.value("query-chunk", "P", "query points per independent piece of work (results do not depend on it)", "64");
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
  const std::filesystem::path out = o.given("out") ? std::filesystem::path(o.text("out")) : run_dir / "report";
  {
    // The report holds about a dozen numbers per step, query and output, and the attribution one
    // per query, output and training point (twice, with Domingos' kernel).
    const double q = static_cast<double>(queries.shape().dim(0)), c = static_cast<double>(run.output_count);
    const double bytes = 8.0 * (12.0 * static_cast<double>(reader.steps()) * q * c +
                                2.0 * q * c * static_cast<double>(run.sample_count));
    require_memory(bytes, "decomposing " + std::to_string(reader.steps()) + " steps at " +
                              std::to_string(queries.shape().dim(0)) + " query points");
  }
  pk::io::StagedDirectory dir(out);
  Progress progress("decomposing", 0, !o.flag_set("quiet") && Progress::stderr_is_terminal());
  const pk::kernel::DecompositionReport report = pk::kernel::decompose(
      model, reader, queries, options, [&](std::int64_t done, std::int64_t total) {
        if (done % 10 == 0 || done == total) progress.update(static_cast<std::size_t>(done), static_cast<std::size_t>(total));
      });
  progress.finish();
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
  write_run_report(dir.path(), report, description, plot_query, &queries);
  dir.commit();
  std::printf("%lld steps, %lld query points: run identity holds to %.2e; first-order kernel misses %.3g of the learned change\n",
              static_cast<long long>(report.steps), static_cast<long long>(report.queries),
              report.run_identity_error(), pk::kernel::relative_error(report, pk::kernel::Correction::none));
  std::fputs(accumulation_text(report).c_str(), stdout);
  if (run.status == pk::nn::TrainingStatus::diverged)
    std::printf("the run diverged (%s): this report covers its %lld finite steps\n", run.message.c_str(),
                static_cast<long long>(reader.steps()));
  std::printf("report: %s\n", dir.target().string().c_str());
  return 0;
}

}  // namespace pk::app
