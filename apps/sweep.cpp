// pathkernel sweep: the learning-rate study of the default job on the user's data and network.
#include <algorithm>
#include <cstdio>
#include <sstream>

#include "apps/commands.hpp"
#include "apps/progress.hpp"
#include "apps/report_page.hpp"
#include "apps/setup.hpp"
#include "apps/sweep_study.hpp"
#include "io/staged_directory.hpp"

namespace pk::app {

int sweep_command(const Args& args) {
  Options o("sweep",
            "Trains the same network from the same weights at learning rates from small to\n"
            "near the stability limit 2/lambda_max (alpha * N fixed), decomposes every run and\n"
            "reports how the kernel prediction's error grows with the learning rate.");
  declare_data_options(o);
  declare_model_options(o);
  o.value("fractions", "LIST",
          "learning rates as fractions of the stability limit (2/lambda_max for gd), comma-separated",
          "0.015625,0.03125,0.0625,0.125,0.25,0.5,0.9");
  o.value("min-steps", "N", "steps of the run at the largest learning rate (fixes alpha * N)", "40");
  declare_optimizer_options(o);
  o.value("queries", "FILE.csv", "query points [default: the training inputs]");
  // F2 at every step by default: the "with every F2" column and its slope need it.
  declare_decomposition_options(o, "every");
  o.value("out", "DIR", "the report directory to create", "pathkernel-sweep");
  o.value("threads", "N", "runs trained and decomposed at once (results do not depend on it)", "1");
  o.flag("no-timings", "leave timings out of the reports, so they compare byte for byte");
  o.flag("quiet", "no progress bar");
  if (!o.parse(args)) return 0;
  const LoadedData data = load_data(o);
  const pk::nn::Model model = make_model(o, data.data);
  StudyInputs in{model,
                 make_loss(o),
                 data.data,
                 load_queries(o, data.data.inputs(), model.input_dim()),
                 initial_weights(o, model),
                 data.description};
  pk::kernel::SweepOptions sweep;
  sweep.lr_fractions.clear();
  std::istringstream list(o.text("fractions"));
  for (std::string item; std::getline(list, item, ',');)
    sweep.lr_fractions.push_back(parse_number(item, "--fractions"));
  sweep.min_steps = o.integer("min-steps", 1, 1'000'000);
  {
    // alpha * N is fixed, so the smallest fraction runs longest: refuse a sweep that would not end.
    double largest = 0.0, steps = 0.0;
    for (const double f : sweep.lr_fractions) largest = std::max(largest, f);
    for (const double f : sweep.lr_fractions)
      steps += f > 0.0 ? static_cast<double>(sweep.min_steps) * largest / f : 0.0;
    if (steps > 1e8)
      throw UsageError("--fractions and --min-steps: the sweep would train " +
                       std::to_string(static_cast<long long>(steps)) +
                       " steps in all (the smallest fraction runs longest); at most 10^8");
  }
  sweep.decomposition = make_decomposition_options(o);
  sweep.optimizer = make_optimizer_config(o);
  sweep.threads = thread_count(o);
  pk::io::StagedDirectory dir(o.text("out"));
  const bool progress = !o.flag_set("quiet") && Progress::stderr_is_terminal();
  const StudyResult result = run_sweep_study(dir.path(), "", in, sweep, progress, !o.flag_set("no-timings"));
  ReportPage page;
  page.title = "pathkernel sweep: " + model.name() + " on " + data.description;
  page.question =
      "How far does the path-kernel picture of this network's training hold as the learning rate grows?";
  page.answer = sweep_answer(result.sweep);
  page.configuration = {
      {"data", data.description},
      {"model", model.name() + ", initialisation " +
                    (o.given("init-weights") ? o.text("init-weights") : o.text("init")) + ", seed " +
                    o.text("seed")},
      {"loss", std::string(in.loss.name())},
      {"query points", std::to_string(in.queries.shape().dim(0)) +
                           (o.given("queries") ? " from " + o.text("queries") : ", the training inputs")}};
  for (auto& row : sweep_configuration(result.sweep, sweep)) page.configuration.push_back(std::move(row));
  page.configuration.emplace_back("pathkernel version", pk::kernel::version());
  page.sections = {result.section};
  page.files = {{result.csv, "one row per learning rate: steps, errors, complex-step share, identities"}};
  write_page(dir.path() / "index.html", page);
  dir.commit();
  std::fputs(result.table.c_str(), stdout);
  std::printf("report: %s\n", dir.target().string().c_str());
  return 0;
}

}  // namespace pk::app
