#include "apps/sweep_study.hpp"

#include <algorithm>
#include <memory>

#include "apps/progress.hpp"
#include "apps/svg_plot.hpp"

namespace pk::app {

StudyResult run_sweep_study(const std::filesystem::path& dir, const std::string& name, const StudyInputs& in,
                            pk::kernel::SweepOptions options, bool show_progress, bool include_timings) {
  auto progress = std::make_shared<Progress>("sweep " + name, options.lr_fractions.size(), show_progress);
  options.progress = [progress](std::size_t done, std::size_t) { progress->update(done); };
  StudyResult result;
  result.sweep =
      pk::kernel::learning_rate_sweep(in.model, in.loss, in.data, in.queries, in.initial_weights, options);
  progress->finish();
  result.table = sweep_table(result.sweep);
  const std::string stem = name.empty() ? "lr_sweep" : "lr_sweep_" + name;
  const std::string run_prefix = name.empty() ? "lr" : name + "-lr";
  result.csv = stem + ".csv";
  result.plot = stem + ".svg";
  write_sweep_csv(dir / result.csv, result.sweep);
  std::string legend = name.empty() ? "this sweep" : name;
  std::replace(legend.begin(), legend.end(), '_', ' ');
  write_text(dir / result.plot, sweep_plot({{legend, &result.sweep}}));

  std::filesystem::create_directories(dir / "runs");
  std::string links = "<ul>";
  for (std::size_t i = 0; i < result.sweep.runs.size(); ++i) {
    const pk::kernel::SweepRun& run = result.sweep.runs[i];
    const std::string sub = run_prefix + std::to_string(i);
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
    write_run_report(run_dir, run.report, d, 0, &in.queries);
    links += "<li><a href=\"runs/" + sub + "/index.html\">learning rate " + std::string(lr + 9) + "</a> (" +
             std::to_string(run.steps) + " steps, lr*lambda = " + format_number(run.lr_times_lambda) +
             "): its own report</li>";
  }
  links += "</ul>";
  result.section.heading = "Learning-rate sweep: " + in.model.name() + " on " + in.data_description;
  result.section.images = {result.plot};
  // The run at the largest learning rate, where the picture is most strained, step by step.
  if (!result.sweep.runs.empty()) {
    const std::string last = "runs/" + run_prefix + std::to_string(result.sweep.runs.size() - 1) + "/";
    result.section.html = "<p>Below the error plot: the run at the largest learning rate (lr*lambda = " +
                          format_number(result.sweep.runs.back().lr_times_lambda) + ") step by step at " +
                          xml_escape(query_label(0, &in.queries)) + ".</p>";
    for (const char* plot : {"steps.svg", "sharpness.svg"})
      if (std::filesystem::exists(dir / last / plot)) result.section.images.push_back(last + plot);
  }
  result.section.tables = "<pre>" + xml_escape(result.table) + "</pre>\n<p>Download: <a href=\"" +
                          result.csv + "\">" + result.csv + "</a> (one row per learning rate).</p>\n" +
                          folded("Each run's own report", links);
  return result;
}

std::string sweep_answer(const pk::kernel::SweepResult& sweep) {
  if (sweep.runs.empty()) return "The sweep has no runs.";
  const pk::kernel::SweepRun &lo = sweep.runs.front(), &hi = sweep.runs.back();
  const auto num = [](double v) { return format_number(v, "%.2g"); };
  std::string a = "From lr*lambda_max = " + format_number(lo.lr_times_lambda) + " to " +
                  format_number(hi.lr_times_lambda) +
                  " (stable below 2; alpha*N fixed), the first-order path "
                  "kernel's relative error grows from <b>" +
                  num(lo.rel_error_first) + "</b> to <b>" + num(hi.rel_error_first) + "</b> (log-log slope " +
                  format_number(sweep.slope_first_small, "%.2f") +
                  " at lr*lambda &lt;= " + format_number(sweep.small_lr_limit, "%g") +
                  ", where theory predicts 1)";
  if (lo.report.options.second_order != pk::kernel::SecondOrderMode::none)
    a += "; with the second-order terms, from " + num(lo.rel_error_second) + " to <b>" +
         num(hi.rel_error_second) + "</b> (slope " + format_number(sweep.slope_second_small, "%.2f") +
         ", predicted 2)";
  return a + ".";
}

std::vector<std::pair<std::string, std::string>> sweep_configuration(
    const pk::kernel::SweepResult& sweep, const pk::kernel::SweepOptions& options) {
  std::string rates, fractions;
  for (std::size_t i = 0; i < sweep.runs.size(); ++i) {
    // Appended piece by piece: GCC 12 at -O3 warns falsely (-Wrestrict) on "..." + std::string.
    if (i) rates += ", ", fractions += ", ";
    rates += format_number(sweep.runs[i].learning_rate, "%.4g");
    fractions += format_number(options.lr_fractions[i], "%g");
  }
  std::string steps =
      sweep.runs.empty()
          ? "-"
          : std::to_string(sweep.runs.front().steps) + " down to " + std::to_string(sweep.runs.back().steps) +
                " (alpha * N = " + format_number(sweep.lr_times_steps, "%.4g") + " for every run)";
  const pk::kernel::DecompositionOptions& d = options.decomposition;
  return {
      {"optimiser", "gradient descent, full batch, constant learning rate per run"},
      {"learning rates", rates + ": fractions " + fractions + " of the stability limit 2/lambda_max(w_0) = " +
                             format_number(sweep.stability_limit, "%.4g")},
      {"steps", steps},
      {"decomposition", "F2 " + std::string(pk::kernel::second_order_mode_name(d.second_order)) + ", tau = " +
                            format_number(d.tau, "%g") + ", exact kernel " + (d.exact_kernel ? "on" : "off") +
                            ", sharpness every " + std::to_string(d.sharpness_every) + " steps"},
  };
}

}  // namespace pk::app
