#include "apps/sweep_study.hpp"

#include <memory>

#include "apps/progress.hpp"
#include "apps/svg_plot.hpp"

namespace pk::app {

StudyResult run_sweep_study(const std::filesystem::path& dir, const std::string& name,
                            const StudyInputs& in, pk::kernel::SweepOptions options,
                            bool show_progress, bool include_timings) {
  auto progress = std::make_shared<Progress>("sweep " + name, options.lr_fractions.size(), show_progress);
  options.progress = [progress](std::size_t done, std::size_t) { progress->update(done); };
  StudyResult result;
  result.sweep = pk::kernel::learning_rate_sweep(in.model, in.loss, in.data, in.queries,
                                                 in.initial_weights, options);
  progress->finish();
  result.table = sweep_table(result.sweep);
  write_sweep_csv(dir / ("sweep_" + name + ".csv"), result.sweep);
  write_text(dir / ("sweep_" + name + ".svg"), sweep_plot({{name, &result.sweep}}));

  std::filesystem::create_directories(dir / "runs");
  std::string links = "<ul>";
  for (std::size_t i = 0; i < result.sweep.runs.size(); ++i) {
    const pk::kernel::SweepRun& run = result.sweep.runs[i];
    const std::string sub = name + "-lr" + std::to_string(i);
    const std::filesystem::path run_dir = dir / "runs" / sub;
    std::filesystem::create_directory(run_dir);
    pk::kernel::RunDescription d;
    d.data = in.data_description;
    d.architecture = in.model.name();
    d.loss = std::string(in.loss.name());
    d.optimizer = std::string(pk::nn::optimizer_name(options.optimizer.kind));
    char lr[64];
    std::snprintf(lr, sizeof lr, "constant %.6g", run.learning_rate);
    d.schedule = lr;
    d.steps = run.steps;
    d.status = std::string(pk::nn::status_name(run.status));
    d.include_timings = include_timings;
    write_run_report(run_dir, run.report, d, 0);
    links += "<li><a href=\"runs/" + sub + "/index.html\">learning rate " + std::string(lr + 9) +
             "</a> (" + std::to_string(run.steps) + " steps)</li>";
  }
  links += "</ul>";
  result.section.heading = "Learning-rate sweep: " + in.model.name() + " on " + in.data_description;
  result.section.html = "<pre>" + xml_escape(result.table) + "</pre>\n" + links;
  result.section.images = {"sweep_" + name + ".svg"};
  return result;
}

}  // namespace pk::app
