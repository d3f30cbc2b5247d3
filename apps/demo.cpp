// pathkernel demo (the default job): how far the path-kernel picture holds as the learning rate
// grows, on built-in data, in three studies:
//   1. a learning-rate sweep from small to near the stability limit, alpha * N fixed;
//   2. the double well, where one large step jumps the barrier between two basins;
//   3. the same sweep started near a trained network's weights, beside the random start;
//   4. the edge of stability, where every step looks linear and the sum over the steps does not;
//   5. one learning rate under each optimiser;
//   6. the sweep of part 1 for a small conv net on 8x8 digits, so the answer is not an MLP's alone.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "apps/builtin_data.hpp"
#include "apps/commands.hpp"
#include "apps/progress.hpp"
#include "apps/report_page.hpp"
#include "apps/setup.hpp"
#include "apps/svg_plot.hpp"
#include "apps/sweep_study.hpp"
#include "io/staged_directory.hpp"
#include "kernel/accumulation.hpp"
#include "kernel/decomposition.hpp"
#include "kernel/optimizer_comparison.hpp"
#include "nn/architecture.hpp"
#include "nn/csv_dataset.hpp"

namespace pk::app {

namespace {
namespace fs = std::filesystem;
using pk::ad::Shape;
using pk::ad::Tensor;

fs::path default_report_dir() {
  fs::path dir = "pathkernel-report";
  for (int i = 2; fs::exists(dir); ++i) dir = "pathkernel-report-" + std::to_string(i);
  return dir;
}

// Query points on an even grid over the training inputs' range (1-D problems).
Tensor grid(double lo, double hi, std::int64_t n) {
  Tensor q(Shape::matrix(n, 1));
  for (std::int64_t i = 0; i < n; ++i)
    q[i] = lo + (hi - lo) * (static_cast<double>(i) + 0.5) / static_cast<double>(n);
  return q;
}

struct DoubleWellStudy {
  std::string text;
  PageSection section;
  std::string answer;  // one sentence for the page's answer
};

// Starts outside the shallow basin, on its steep far wall, with the learning rate whose first
// step lands halfway between the barrier and the deep minimum: a jump no first-order picture
// sees coming. Later steps use 1 / L''(deep minimum), a stable rate, so the run settles there;
// the path-kernel form allows any alpha_k.
DoubleWellStudy double_well_study(const fs::path& dir, bool include_timings) {
  const pk::nn::DoubleWell well = pk::nn::double_well(41, 0.25);
  const double start = well.local_minimum + 0.6 * (well.local_minimum - well.barrier);
  const double target = 0.5 * (well.barrier + well.global_minimum);
  const double lr = (start - target) / well.gradient(start);
  const Tensor queries(Shape::matrix(4, 1), {-1.0, -0.5, 0.5, 1.0});
  const std::int64_t shown = 3;  // x = 1
  pk::kernel::DecompositionOptions options;
  options.second_order = pk::kernel::SecondOrderMode::every_step;
  options.sharpness_every = 1;
  options.pair_query = shown;
  pk::nn::TrainingConfig config;
  config.steps = 12;
  const double w = well.global_minimum;
  const double settle = 1.0 / (2.0 * well.mu2 * (3.0 * w * w - 1.0) + well.mu4);
  std::vector<double> rates(static_cast<std::size_t>(config.steps), settle);
  rates[0] = lr;
  config.schedule = pk::nn::Schedule::explicit_steps(rates);
  const pk::nn::Loss loss(pk::nn::LossKind::mse);
  pk::nn::Trainer trainer(well.model, loss, well.data, config);
  pk::kernel::DecompositionObserver decomposition(well.model, loss, queries, options);
  pk::nn::TrajectoryRecorder recorder;
  trainer.add_observer(decomposition);
  trainer.add_observer(recorder);
  const pk::nn::TrainingResult result = trainer.run(Tensor(Shape::vector(1), start));
  const pk::kernel::DecompositionReport& r = decomposition.report();

  std::ostringstream t;
  char line[256];
  std::snprintf(line, sizeof line,
                "loss L(w) = mu2/2 (w^2-1)^2 + mu4/2 (w-%.2f)^2: shallow basin at w = %.4f, barrier at %.4f, "
                "deep basin at %.4f\nstart w_0 = %.4f, learning rate %.4f for the first step and %.4f after; "
                "%lld steps, final w = %.6f, loss %.3g\n",
                well.tilt, well.local_minimum, well.barrier, well.global_minimum, start, lr, settle,
                static_cast<long long>(result.steps), result.final_weights[0], result.final_loss);
  t << line;
  const std::string label = query_label(shown, &queries);
  t << "df, F1, F2, R1, R2 and the exact kernel's error at " << label << ":\n";
  t << "step  w_k       w_k+1     lr*lam   df           F1           F2           R1           R2          "
       "exact err  complex\n";
  for (std::int64_t k = 0; k < r.steps; ++k) {
    const std::size_t i = r.index(k, shown, 0);
    std::snprintf(line, sizeof line,
                  "%4lld %9.4f %9.4f %7.3f %12.4e %12.4e %12.4e %12.4e %12.4e %10.2e  %s\n",
                  static_cast<long long>(k), recorder.trajectory().weights(k)[0],
                  recorder.trajectory().weights(k + 1)[0],
                  r.learning_rate[static_cast<std::size_t>(k)] * r.sharpness[static_cast<std::size_t>(k)],
                  r.df[i], r.first_order[i], r.second_order[i], r.remainder1(i), r.remainder2(i),
                  r.exact_error[i], r.complex[i] ? "yes" : "");
    t << line;
  }
  std::snprintf(line, sizeof line, "run identity %.2e, exact path kernel rebuilds f(x; w_N) to %.2e\n",
                r.run_identity_error(), r.exact_identity_error());
  t << line;

  const fs::path sub = dir / "double_well";
  fs::create_directory(sub);
  pk::kernel::RunDescription d;
  d.data = "double well (41 points, tilt 0.25)";
  d.architecture = well.model.name();
  d.loss = "mse";
  d.optimizer = "gradient_descent";
  d.schedule = "explicit: " + std::to_string(lr) + " then " + std::to_string(settle);
  d.steps = result.steps;
  d.include_timings = include_timings;
  write_run_report(sub, r, d, shown, &queries);
  DoubleWellStudy s;
  s.text = t.str();
  s.section.heading = "Double well: one step jumps the barrier";
  s.section.html =
      "<p>One scalar weight, a loss with two basins; the first step jumps the barrier. Plots at " +
      xml_escape(label) + "; <a href=\"double_well/index.html\">the study's own report</a>.</p>";
  for (const char* plot : {"steps.svg", "sharpness.svg", "attribution.svg"})
    if (fs::exists(sub / plot)) s.section.images.push_back(std::string("double_well/") + plot);
  s.section.tables = "<pre>" + xml_escape(s.text) + "</pre>\n";
  const std::size_t jump = r.index(0, shown, 0);
  const double scale = std::max(std::abs(r.df[jump]), 1e-300);
  s.answer = "in the double well the step that jumps the barrier has R1 = " +
             format_number(std::abs(r.remainder1(jump)) / scale, "%.2g") + " times its change at " +
             xml_escape(label) + "; with F2 the remainder R2 is " +
             format_number(std::abs(r.remainder2(jump)) / scale, "%.2g") + " times it.";
  return s;
}
struct EdgeOfStabilityStudy {
  std::string text;
  PageSection section;
};

// Progressive sharpening, then the edge of stability (Cohen et al. 2021): at a constant alpha the
// sharpness climbs to 2 / alpha and hovers there while the predictions swing back and forth. Each
// step's remainder stays a small fraction of its change, so T_c flags almost nothing, but the
// swings cancel in df and not in R1: summed over the steps after the onset, the first-order error
// exceeds the net change. The second- and third-order terms show how much of it is curvature.
EdgeOfStabilityStudy edge_of_stability_study(const fs::path& dir, bool include_timings) {
  const pk::nn::Dataset data = pk::nn::sine_regression(32, 7);
  const pk::nn::Model model = pk::nn::mlp("1-32-32-1", "tanh");
  const pk::nn::Loss loss(pk::nn::LossKind::mse);
  const Tensor queries = grid(-3.0, 3.0, 16);
  const double lr = 0.1;
  pk::kernel::DecompositionOptions options;
  options.second_order = pk::kernel::SecondOrderMode::every_step;
  options.order = 3;
  options.tau = 0.01;
  options.sharpness_every = 10;
  options.attribution = false;
  pk::nn::TrainingConfig config;
  config.steps = 2000;
  config.schedule = pk::nn::Schedule::constant(lr);
  pk::nn::Trainer trainer(model, loss, data, config);
  pk::kernel::DecompositionObserver decomposition(model, loss, queries, options);
  trainer.add_observer(decomposition);
  const pk::nn::TrainingResult result =
      trainer.run(pk::nn::initialise(model.layout(), pk::nn::InitScheme::pytorch_default, 1));
  const pk::kernel::DecompositionReport& r = decomposition.report();
  const pk::kernel::EdgeOfStability eos = pk::kernel::edge_of_stability(r, options.eos_band);

  // The per-step view after the onset: the median |R1| / |df| and the entries T_c flags.
  const std::int64_t from = eos.onset_step.value_or(r.steps);
  std::vector<double> step_ratio;
  std::int64_t flagged = 0;
  for (std::size_t i = static_cast<std::size_t>(from * r.queries * r.outputs); i < r.df.size(); ++i) {
    if (r.df[i] != 0.0) step_ratio.push_back(std::abs(r.remainder1(i)) / std::abs(r.df[i]));
    flagged += r.complex[i];
  }
  double median = std::nan("");
  if (!step_ratio.empty()) {
    std::nth_element(step_ratio.begin(),
                     step_ratio.begin() + static_cast<std::ptrdiff_t>(step_ratio.size() / 2),
                     step_ratio.end());
    median = step_ratio[step_ratio.size() / 2];
  }
  // The plotted point: the one the first-order kernel misses most.
  std::int64_t plot_query = 0;
  double worst = -1.0;
  for (std::int64_t q = 0; q < r.queries; ++q) {
    const pk::kernel::QuerySummary s = r.summary(q, 0);
    const double miss = std::abs(s.f_final - s.f_initial - s.sum_first_order);
    if (miss > worst) {
      worst = miss;
      plot_query = q;
    }
  }
  const pk::kernel::StepRangeSums run = pk::kernel::sum_steps(r, 0, r.steps);

  std::ostringstream t;
  char line[400];
  std::snprintf(
      line, sizeof line,
      "%s, sine regression (32 points), gradient descent at alpha = %g for %lld steps, final loss %.3g; "
      "%lld query points on [-3, 3]\n",
      model.name().c_str(), lr, static_cast<long long>(result.steps), result.final_loss,
      static_cast<long long>(r.queries));
  t << line;
  std::snprintf(
      line, sizeof line,
      "sharpness lambda_max climbs from %.4g at step 0 to 2/alpha = %g (largest alpha*lambda_max %.4g)\n",
      r.sharpness.empty() ? std::nan("") : r.sharpness[0],
      pk::kernel::sharpness_threshold(pk::nn::OptimizerConfig{}, lr), eos.max_lr_times_lambda);
  t << line;
  t << accumulation_text(r);
  std::snprintf(line, sizeof line,
                "per step after the onset: median |R1|/|df| %.2g, %lld of %lld entries complex (tau %g)\n",
                median, static_cast<long long>(flagged),
                static_cast<long long>((r.steps - from) * r.queries * r.outputs), options.tau);
  t << line;
  std::snprintf(
      line, sizeof line,
      "whole run: the first-order kernel misses %.3g of the learned change, with F2 %.3g, with F3 %.3g\n",
      run.rel_error_first, run.rel_error_second, run.rel_error_third);
  t << line;

  const fs::path sub = dir / "edge_of_stability";
  fs::create_directory(sub);
  pk::kernel::RunDescription d;
  d.data = "sine regression (32 points)";
  d.architecture = model.name();
  d.loss = "mse";
  d.optimizer = "gradient_descent";
  d.schedule = "constant " + std::to_string(lr);
  d.steps = result.steps;
  d.include_timings = include_timings;
  write_run_report(sub, r, d, plot_query);
  EdgeOfStabilityStudy s;
  s.text = t.str();
  s.section.heading = "Edge of stability: every step looks linear, the sum does not";
  s.section.html =
      "<pre>" + xml_escape(s.text) +
      "</pre><p><a href=\"edge_of_stability/index.html\">full report</a> (the cumulative plot is "
      "for query " +
      std::to_string(plot_query) + ")</p>";
  s.section.images = {"edge_of_stability/cumulative.svg", "edge_of_stability/sharpness.svg"};
  return s;
}
// The learning-rate question of part 1 for a conv net on images: a small tanh conv net on the
// first 128 digits (full batch, cross-entropy), predictions decomposed at the next 8 images,
// which it does not train on. Six learning rates and 20 steps at the largest keep it to about two
// seconds of one core: the Jacobian-heavy extras (attribution to training points) are off.
struct ConvStudy {
  StudyResult result;
  std::string text;  // the heading's second line, as printed
  std::string data_description;
  pk::nn::Model model;
};

ConvStudy conv_net_study(const fs::path& dir, pk::kernel::SweepOptions sweep, bool progress, bool timings) {
  pk::nn::CsvOptions csv;
  csv.targets = {pk::nn::ColumnRef("label")};
  const pk::nn::Dataset digits = pk::nn::read_csv(builtin_data_file("digits"), csv);
  std::vector<std::int64_t> train_rows(128), query_rows(8);
  for (std::size_t i = 0; i < train_rows.size(); ++i) train_rows[i] = static_cast<std::int64_t>(i);
  for (std::size_t i = 0; i < query_rows.size(); ++i)
    query_rows[i] = static_cast<std::int64_t>(train_rows.size() + i);
  pk::nn::Dataset data = digits.rows(train_rows);
  data.set_source("digits");
  const pk::nn::Model model = pk::nn::sequential(
      pk::nn::parse_architecture("conv2d(4,3,padding=1),tanh,avg_pool2d(2),flatten,linear(10)", {1, 8, 8}));
  const pk::nn::Loss loss(pk::nn::LossKind::softmax_cross_entropy);
  const Tensor w0 = pk::nn::initialise(model.layout(), pk::nn::InitScheme::pytorch_default, 1);
  const Tensor queries(digits.rows(query_rows).inputs());
  const StudyInputs in{model, loss, data, queries, w0, "digits (images 0-127 of the built-in set)"};
  sweep.lr_fractions = {1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0 / 2, 0.9};
  sweep.min_steps = 20;
  sweep.decomposition.attribution = false;
  ConvStudy s{run_sweep_study(dir, "conv_digits", in, sweep, progress, timings), "", in.data_description,
              model};
  s.text = "   " + model.name() + ", " + in.data_description + ", cross-entropy, " +
           std::string(pk::nn::optimizer_name(sweep.optimizer.kind)) +
           "; queries: images 128-135, not trained on\n";
  return s;
}
// The conv sweep's sentence for the page's answer: its errors at both ends and the slopes.
std::string conv_answer(const pk::kernel::SweepResult& sweep) {
  if (sweep.runs.empty()) return "the conv sweep has no runs.";
  const auto num = [](double v) { return format_number(v, "%.2g"); };
  return "its first-order error grows from " + num(sweep.runs.front().rel_error_first) + " to <b>" +
         num(sweep.runs.back().rel_error_first) + "</b> (slope " +
         format_number(sweep.slope_first_small, "%.2f") + "), with every F2 from " +
         num(sweep.runs.front().rel_error_second) + " to <b>" + num(sweep.runs.back().rel_error_second) +
         "</b> (slope " + format_number(sweep.slope_second_small, "%.2f") + ").";
}
}  // namespace

int demo_command(const Args& args) {
  Options o("demo",
            "The default job: on built-in data, how far the path-kernel picture holds as the\n"
            "learning rate grows (a sweep up to the stability limit with alpha * N fixed),\n"
            "the double well where one step jumps a barrier, the same sweep started near\n"
            "a trained network, the edge of stability, where every step looks linear but\n"
            "the sum over the steps does not, one rate under each optimiser, and the sweep for\n"
            "a small conv net on 8x8 digits. Prints the tables and writes a report directory.");
  o.value("out", "DIR", "the report directory [default: pathkernel-report, or -2, -3, ... if taken]");
  o.value("threads", "N", "sweep runs trained and decomposed at once (results do not depend on it)", "2");
  o.value("min-steps", "N", "steps of each sweep's run at the largest learning rate", "30");
  o.flag("no-timings", "leave timings out of the reports, so they compare byte for byte");
  o.flag("quiet", "no progress bars");
  declare_optimizer_options(o);  // the rule of the sweeps (1, 3 and 6)
  if (!o.parse(args)) return 0;
  const fs::path out = o.given("out") ? fs::path(o.text("out")) : default_report_dir();
  if (!o.given("out") && out != "pathkernel-report")
    std::printf("pathkernel-report already exists: this report goes to %s (choose with --out)\n\n",
                out.string().c_str());
  const bool progress = !o.flag_set("quiet") && Progress::stderr_is_terminal();
  const bool timings = !o.flag_set("no-timings");
  pk::io::StagedDirectory dir(out);

  // The network and data of both sweeps: a 1-32-32-1 tanh network regressing sin x from 64
  // points, predictions decomposed at 16 points on a grid.
  const pk::nn::Dataset data = pk::nn::sine_regression(64, 7);
  const pk::nn::Model model = pk::nn::mlp("1-32-32-1", "tanh");
  const pk::nn::Loss loss(pk::nn::LossKind::mse);
  const Tensor w0 = pk::nn::initialise(model.layout(), pk::nn::InitScheme::pytorch_default, 1);
  StudyInputs random_start{model, loss, data, grid(-3.0, 3.0, 16), w0, "sine regression (64 points)"};

  pk::kernel::SweepOptions sweep;
  sweep.min_steps = o.integer("min-steps", 1, 100'000);
  sweep.threads = thread_count(o);
  sweep.optimizer = make_optimizer_config(o);
  // Learning rates from 1/128 of the stability limit to 0.9 of it; alpha * N fixed.
  sweep.lr_fractions = {1.0 / 128, 1.0 / 64, 1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0 / 2, 0.9};
  // F2 at every step, so the table shows both corrections: on the complex steps only (the T_c
  // picture) and everywhere (the next order of the expansion).
  sweep.decomposition.second_order = pk::kernel::SecondOrderMode::every_step;
  sweep.decomposition.tau = 0.01;
  sweep.decomposition.sharpness_every = 10;

  std::printf("1. How far does the path-kernel picture hold as the learning rate grows?\n");
  std::printf("   %s, %s, %s from one initialisation\n", model.name().c_str(),
              random_start.data_description.c_str(),
              std::string(pk::nn::optimizer_name(sweep.optimizer.kind)).c_str());
  const StudyResult random =
      run_sweep_study(dir.path(), "random_start", random_start, sweep, progress, timings);
  std::fputs(random.table.c_str(), stdout);

  std::printf("\n2. A local minimum: the double well, where one large step jumps the barrier\n");
  const DoubleWellStudy well = double_well_study(dir.path(), timings);
  std::fputs(well.text.c_str(), stdout);

  std::printf(
      "\n3. Started near the solution: the same sweep from trained weights plus a small perturbation\n");
  pk::nn::TrainingConfig pretrain;
  pretrain.steps = 3000;
  pretrain.schedule = pk::nn::Schedule::constant(0.5 * random.sweep.stability_limit);
  pretrain.optimizer = sweep.optimizer;
  pk::nn::Trainer trainer(model, loss, data, pretrain);
  const pk::nn::TrainingResult trained = trainer.run(w0);
  Tensor near(trained.final_weights);
  pk::nn::Rng rng(11);
  for (double& v : near.span()) v += 0.01 * rng.normal();
  std::printf("   pretrained %lld steps to loss %.3g; perturbation N(0, 0.01^2) per weight\n",
              static_cast<long long>(trained.steps), trained.final_loss);
  StudyInputs near_start = random_start;
  near_start.initial_weights = near;
  const StudyResult near_result =
      run_sweep_study(dir.path(), "near_solution", near_start, sweep, progress, timings);
  std::fputs(near_result.table.c_str(), stdout);

  std::printf("\n4. The edge of stability: every step looks linear, the sum over the steps does not\n");
  const EdgeOfStabilityStudy eos = edge_of_stability_study(dir.path(), timings);
  std::fputs(eos.text.c_str(), stdout);

  // --- one line per optimiser (kernel/optimizer_comparison.hpp) ---
  const double moderate_lr = 0.25 / random.sweep.lambda_max;  // 1/8 of gradient descent's limit
  const std::int64_t compare_steps = 100;
  std::printf("\n5. One learning rate (alpha lambda_max(w_0) = 0.25), %lld steps, under each optimiser\n",
              static_cast<long long>(compare_steps));
  pk::kernel::DecompositionOptions per_optimizer = sweep.decomposition;
  per_optimizer.sharpness_every = 0;
  const std::string optimizers = pk::kernel::optimizer_comparison_table(pk::kernel::compare_optimizers(
      model, loss, data, random_start.queries, w0,
      {{}, {.kind = pk::nn::OptimizerKind::momentum, .momentum = 0.9}, {.kind = pk::nn::OptimizerKind::adam}},
      moderate_lr, compare_steps, per_optimizer));
  std::fputs(optimizers.c_str(), stdout);
  PageSection fifth;
  fifth.heading = "5. Gradient descent, momentum and Adam at one learning rate";
  fifth.html = "<pre>" + xml_escape(optimizers) + "</pre>";
  // --- end one line per optimiser ---

  std::printf("\n6. Beyond MLPs: the same learning-rate question for a small conv net on 8x8 digits\n");
  const ConvStudy conv = conv_net_study(dir.path(), sweep, progress, timings);
  std::fputs(conv.text.c_str(), stdout);
  std::fputs(conv.result.table.c_str(), stdout);

  write_text(dir.path() / "lr_sweep_comparison.svg",
             sweep_plot({{"random start", &random.sweep}, {"near the solution", &near_result.sweep}}));

  ReportPage page;
  page.title = "pathkernel: how far the path-kernel picture holds";
  page.question =
      "Gradient descent makes every trained network approximately a kernel machine (Domingos 2020): "
      "how far does that first-order picture hold as the learning rate grows, and where does it break?";
  const double near_ratio =
      random.sweep.runs.empty() || near_result.sweep.runs.empty()
          ? std::nan("")
          : random.sweep.runs.back().rel_error_first / near_result.sweep.runs.back().rel_error_first;
  page.answer = sweep_answer(random.sweep) + " Started near a trained network that error is " +
                format_number(near_ratio, "%.2g") + " times smaller at the largest rate; " + well.answer +
                " A conv net on digits behaves alike: " + conv_answer(conv.result.sweep);
  page.configuration = {
      {"data", random_start.data_description + "; 16 query points on an even grid over [-3, 3]"},
      {"model", model.name() + ", PyTorch's default initialisation, seed 1"},
      {"loss", "mse: 1/2 ||f(x) - y||^2 per point, averaged over the batch"}};
  for (auto& row : sweep_configuration(random.sweep, sweep)) page.configuration.push_back(std::move(row));
  page.configuration.emplace_back(
      "near-solution start", "pretrained " + std::to_string(trained.steps) + " steps at learning rate " +
                                 format_number(0.5 * random.sweep.stability_limit, "%.4g") +
                                 ", then N(0, 0.01^2) added to each weight (seed 11); its own lambda_max, "
                                 "learning rates and steps are in part 3's table");
  page.configuration.emplace_back("double well",
                                  "loss mu2/2 (w^2-1)^2 + mu4/2 (w-tilt)^2 on 41 points, tilt 0.25, "
                                  "12 steps, F2 and sharpness at every step");
  page.configuration.emplace_back(
      "conv net (part 6)",
      conv.model.name() + " on " + conv.data_description +
          ", cross-entropy, PyTorch's default initialisation (seed 1); images 128-135 as "
          "query points; learning rates and steps in part 6's table; no attribution");
  page.configuration.emplace_back("pathkernel version", pk::kernel::version());
  PageSection first = random.section, third = near_result.section;
  first.heading = "1. " + first.heading;
  third.heading = "3. The same sweep started near the solution";
  PageSection second = well.section;
  second.heading = "2. " + second.heading;
  PageSection fourth = eos.section;
  fourth.heading = "4. " + fourth.heading;
  PageSection compare;
  compare.heading = "Random start and near-solution start";
  compare.html =
      "<p>Both sweeps' errors against the learning rate (solid: first order; dashed: with every F2).</p>";
  compare.images = {"lr_sweep_comparison.svg"};
  PageSection sixth = conv.result.section;
  sixth.heading = "6. Beyond MLPs: " + sixth.heading;
  page.sections = {first, second, third, compare, fourth, fifth, sixth};
  page.files = {{random.csv, "part 1: one row per learning rate"},
                {near_result.csv, "part 3: one row per learning rate"},
                {"double_well/steps.csv", "part 2: one row per step and query point"},
                {"double_well/summary.json", "part 2: configuration, identities, statistics"}};
  page.files.emplace_back("edge_of_stability/windows.csv", "part 4: sums over windows of steps");
  page.files.emplace_back(conv.result.csv, "part 6: one row per learning rate");
  write_page(dir.path() / "index.html", page);
  dir.commit();
  std::printf("\nreport: %s/index.html\n", dir.target().string().c_str());
  return 0;
}

}  // namespace pk::app
