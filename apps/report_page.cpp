#include "apps/report_page.hpp"
// The report page (a little over 500 lines, on purpose): its sections share one HTML vocabulary
// and one set of plot helpers, and the page must read as one document from the answer down.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "apps/svg_plot.hpp"
#include "io/text_file.hpp"
#include "kernel/accumulation.hpp"

namespace pk::app {

namespace fs = std::filesystem;
using pk::kernel::DecompositionReport;
using pk::kernel::SweepResult;

void write_text(const fs::path& path, const std::string& text) { pk::io::write_text_file(path, text); }

void write_new_file(const fs::path& path, const std::function<void(const fs::path&)>& write) {
  pk::io::create_new_file(path, write);
}

namespace {
std::string fmt(double v, const char* format = "%.3g") {
  if (std::isnan(v)) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string percent(double share) { return fmt(100.0 * share, share < 0.01 ? "%.2g%%" : "%.3g%%"); }
}  // namespace

std::string format_number(double v, const char* format) { return fmt(v, format); }

std::string folded(const std::string& label, const std::string& html, bool open) {
  return std::string(open ? "<details open>" : "<details>") + "<summary>" + xml_escape(label) +
         "</summary>\n" + html + "</details>\n";
}

std::string query_label(std::int64_t query, const pk::ad::Tensor* queries) {
  std::string label = "query " + std::to_string(query);
  if (!queries || queries->shape().rank != 2 || query >= queries->shape().dim(0)) return label;
  const std::int64_t features = queries->shape().dim(1);
  if (features > 4) return label;
  label += " (x = ";
  for (std::int64_t j = 0; j < features; ++j) {
    if (j) label += ", ";
    label += fmt((*queries)[query * features + j], "%.4g");
  }
  return label + ")";
}

std::string summary_table_html(const DecompositionReport& r, const pk::ad::Tensor* queries) {
  return summary_table_html(pk::kernel::report_totals(r), queries);
}

std::string summary_table_html(const pk::kernel::ReportTotals& r, const pk::ad::Tensor* queries) {
  std::ostringstream o;
  o << "<table><tr><th>query</th><th>output</th><th>f(x; w_0)</th><th>f(x; w_N)</th><th>sum F1</th>"
       "<th>sum F2</th><th>sum R2</th><th>kernel machine</th><th>rel. error, first order</th>"
       "<th>rel. error, second order</th><th>complex steps</th></tr>\n";
  for (std::int64_t q = 0; q < r.queries; ++q)
    for (std::int64_t c = 0; c < r.outputs; ++c) {
      const auto j = static_cast<std::size_t>(q * r.outputs + c);
      const pk::kernel::QuerySummary& s = r.summaries[j];
      o << "<tr><td>" << xml_escape(query_label(q, queries)) << "</td><td>" << c << "</td><td>"
        << fmt(s.f_initial, "%.6g") << "</td><td>" << fmt(s.f_final, "%.6g") << "</td><td>"
        << fmt(s.sum_first_order, "%.6g") << "</td><td>" << fmt(s.sum_second_order, "%.4g") << "</td><td>"
        << fmt(s.sum_remainder2, "%.4g") << "</td><td>" << fmt(s.kernel_machine, "%.6g") << "</td><td>"
        << fmt(s.rel_error_first) << "</td><td>" << fmt(s.rel_error_second) << "</td><td>"
        << r.complex[j].complex_steps << "</td></tr>\n";
    }
  o << "</table>\n";
  const std::int64_t rows = r.queries * r.outputs;
  if (rows <= 12) return o.str();
  return folded("Per query point and output: " + std::to_string(rows) + " rows (also queries.csv)", o.str());
}

std::string accumulation_text(const DecompositionReport& r) {
  return accumulation_text(pk::kernel::window_totals(r, r.options.window, r.options.window_tau),
                           pk::kernel::edge_of_stability(r, r.options.eos_band), r.options.window_tau);
}

std::string accumulation_text(const pk::kernel::ReportTotals& t) {
  return accumulation_text(t.windows, t.edge, t.options.window_tau);
}

std::string accumulation_text(const std::vector<pk::kernel::WindowTotals>& windows,
                              const pk::kernel::EdgeOfStability& e, double window_tau) {
  std::ostringstream o;
  char line[512];
  std::int64_t failing = 0;
  const pk::kernel::WindowTotals* largest = nullptr;
  for (const auto& w : windows) {
    failing += w.fails ? 1 : 0;
    if (!std::isnan(w.error_share) && (!largest || w.error_share > largest->error_share)) largest = &w;
  }
  std::snprintf(
      line, sizeof line, "windows of %lld steps: %lld of %zu fail (||sum R1|| > %g ||sum df||)",
      static_cast<long long>(windows.empty() ? 0 : windows.front().sums.end - windows.front().sums.start),
      static_cast<long long>(failing), windows.size(), window_tau);
  o << line;
  if (largest) {
    std::snprintf(line, sizeof line, "; steps [%lld, %lld) carry %.3g of the final first-order error",
                  static_cast<long long>(largest->sums.start), static_cast<long long>(largest->sums.end),
                  largest->error_share);
    o << line;
  }
  o << '\n';
  // The failing windows with their shares of the final error, the first few of them.
  int listed = 0;
  for (const auto& w : windows) {
    if (!w.fails) continue;
    if (listed == 6) {
      o << "  ...\n";
      break;
    }
    std::snprintf(
        line, sizeof line,
        "  fails: steps [%lld, %lld), ||sum R1|| = %.3g x ||sum df||, share of the final error %.3g\n",
        static_cast<long long>(w.sums.start), static_cast<long long>(w.sums.end), w.sums.rel_error_first,
        w.error_share);
    o << line;
    ++listed;
  }
  if (e.measurements == 0) {
    o << "edge of stability: sharpness not tracked\n";
    return o.str();
  }
  if (!e.onset_step) {
    std::snprintf(line, sizeof line,
                  "edge of stability: not reached (largest alpha*lambda_max %.4g over %lld measurements)\n",
                  e.max_lr_times_lambda, static_cast<long long>(e.measurements));
    o << line;
    return o.str();
  }
  std::snprintf(line, sizeof line,
                "edge of stability: from step %lld on, lambda_max stays within %g of 2/alpha = %.4g "
                "(lambda_max %.4g at onset)\n",
                static_cast<long long>(*e.onset_step), e.band, e.threshold_at_onset, e.lambda_at_onset);
  o << line;
  for (const auto* phase : {&*e.before, &*e.after}) {
    if (phase->start == phase->end) continue;  // an onset at step 0 leaves nothing before it
    std::snprintf(line, sizeof line,
                  "  steps [%lld, %lld): ||net change|| %.4g, first-order error %.3g, with F2 %.3g",
                  static_cast<long long>(phase->start), static_cast<long long>(phase->end),
                  phase->norm_net_change, phase->rel_error_first, phase->rel_error_second);
    o << line;
    if (!phase->third_order.empty()) {
      std::snprintf(line, sizeof line, ", with F3 %.3g", phase->rel_error_third);
      o << line;
    }
    std::snprintf(line, sizeof line, "; df changes sign on %.0f%% of consecutive steps\n",
                  100.0 * phase->sign_alternation);
    o << line;
  }
  return o.str();
}

PageSection run_section(const pk::kernel::ReportTotals& t, const pk::ad::Tensor* queries) {
  PageSection section;
  std::ostringstream checks;
  checks << "<p>Checks: the run identity f(x; w_N) = f(x; w_0) + sum F1 + sum F2 + sum R2 holds to "
         << fmt(t.run_identity_error) << " (relative); the exact path kernel rebuilds f(x; w_N) to "
         << fmt(t.exact_identity_error) << "; the attributions sum to sum F1 within "
         << fmt(t.attribution_identity_error) << ". Optimiser: " << xml_escape(t.optimizer)
         << (t.kernel_form ? ""
                           : " (no kernel form: attribution through the optimiser's per-point shares, "
                             "Domingos' path kernel not defined)")
         << ".";
  if (t.attribution_method == "per_point_state" || t.attribution_method == "per_query_backward" ||
      !t.exact_attribution_method.empty())
    checks << " Attribution method: "
           << (t.attribution_plan.method == pk::kernel::AttributionMethod::backward
                   ? "backward in time, per-query state (Q x C x D)"
                   : "forward in time, per-point state (M x D)")
           << ", " << t.attribution_state_bytes << " bytes of state"
           << (t.attribution_plan.reason.empty() ? "" : " (" + xml_escape(t.attribution_plan.reason) + ")")
           << ".";
  checks << "</p>\n";
  section.html += "<pre>" + xml_escape(accumulation_text(t)) + "</pre>\n";
  section.tables = checks.str() + summary_table_html(t, queries);
  return section;
}

PageSection write_run_plots(const fs::path& dir, const std::string& prefix, const DecompositionReport& r,
                            std::int64_t query, const pk::ad::Tensor* queries) {
  PageSection section = run_section(pk::kernel::report_totals(r), queries);
  add_run_plots(section, dir, prefix, r, query, query, queries);
  return section;
}

void add_run_plots(PageSection& section, const fs::path& dir, const std::string& prefix,
                   const DecompositionReport& r, std::int64_t row, std::int64_t query_number,
                   const pk::ad::Tensor* queries) {
  if (r.steps == 0 || row < 0 || row >= r.queries) return;
  const std::int64_t query = row;
  const std::string at = query_label(query_number, queries);

  Plot steps;
  steps.title = "Change of f at " + at + " per step (output 0)";
  steps.x_label = "step k";
  steps.y_label = "change of the prediction";
  Series df{"df (actual)", {}, {}, "#333333"}, f1{"F1 (path kernel)", {}, {}, "#1f77b4"},
      f2{"F2 (second order)", {}, {}, "#2ca02c"};
  f1.dashed = true;
  df.markers = f1.markers = false;
  // F2 exists only at the steps where it was computed: points, never a line that would bridge
  // the steps in between as if it were known there.
  f2.line = false;
  std::int64_t f2_steps = 0;
  for (std::int64_t k = 0; k < r.steps; ++k) {
    const std::size_t i = r.index(k, query, 0);
    df.x.push_back(static_cast<double>(k));
    df.y.push_back(r.df[i]);
    f1.x.push_back(static_cast<double>(k));
    f1.y.push_back(r.first_order[i]);
    f2.x.push_back(static_cast<double>(k));
    f2.y.push_back(r.second_order[i]);
    f2_steps += std::isnan(r.second_order[i]) ? 0 : 1;
    if (r.complex[i]) steps.marked_x.push_back(static_cast<double>(k));
  }
  if (f2_steps == 0)
    f2.label = "F2: not computed (--second-order none)";
  else if (f2_steps < r.steps)
    f2.label = "F2 (second order), computed at " + std::to_string(f2_steps) + " of " +
               std::to_string(r.steps) + " steps (" +
               std::string(pk::kernel::second_order_mode_name(r.options.second_order)) +
               "); none drawn elsewhere";
  steps.series = {df, f1, f2};
  steps.marked_label = "complex steps (T_c)";
  write_text(dir / (prefix + "steps.svg"), render_svg(steps));
  section.images.push_back(prefix + "steps.svg");

  // The per-step test cannot see remainders that add up: the sums over the steps can.
  const pk::kernel::CumulativePath path = pk::kernel::cumulative_path(r, query, 0);
  Plot cumulative;
  cumulative.title = "Cumulative change of f at query " + std::to_string(query_number) + " (output 0)";
  cumulative.x_label = "step k";
  cumulative.y_label = "change since w_0";
  Series actual{"f(x; w_k) - f(x; w_0)", {}, {}, "#333333"}, c1{"sum_{j<k} F1_j", {}, {}, "#1f77b4"},
      c2{"sum_{j<k} (F1_j + F2_j)", {}, {}, "#2ca02c"};
  c1.dashed = true;
  actual.markers = c1.markers = c2.markers = false;
  for (std::size_t k = 0; k < path.actual.size(); ++k) {
    const auto x = static_cast<double>(k);
    actual.x.push_back(x);
    actual.y.push_back(path.actual[k]);
    c1.x.push_back(x);
    c1.y.push_back(path.first_order[k]);
    c2.x.push_back(x);
    c2.y.push_back(path.second_order[k]);
  }
  cumulative.series = {actual, c1};
  if (path.second_order != path.first_order) cumulative.series.push_back(c2);
  const pk::kernel::EdgeOfStability eos = pk::kernel::edge_of_stability(r, r.options.eos_band);
  if (eos.onset_step) {
    cumulative.marked_x = {static_cast<double>(*eos.onset_step)};
    cumulative.marked_label = "edge of stability onset";
  }
  write_text(dir / (prefix + "cumulative.svg"), render_svg(cumulative));
  section.images.push_back(prefix + "cumulative.svg");

  if (!r.attribution.empty()) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(r.training_points));
    std::iota(order.begin(), order.end(), 0);
    const double* a = r.attribution.data() + query * r.outputs * r.training_points;
    std::sort(order.begin(), order.end(), [&](auto x, auto y) { return std::abs(a[x]) > std::abs(a[y]); });
    order.resize(std::min<std::size_t>(order.size(), 12));
    std::vector<std::string> labels;
    std::vector<double> values;
    for (std::int64_t m : order) {
      labels.push_back("train " + std::to_string(m));
      values.push_back(a[m]);
    }
    write_text(dir / (prefix + "attribution.svg"),
               render_bars("Largest attributions A_m(x) at " + at, labels, values,
                           "contribution to f(x; w_N) - f(x; w_0), output 0"));
    section.images.push_back(prefix + "attribution.svg");
  }

  Plot sharp;
  sharp.title = "Edge of stability: alpha_k * lambda_max(w_k)";
  sharp.x_label = "step k";
  sharp.y_label = "alpha * lambda_max";
  Series s{"alpha * lambda_max", {}, {}, "#9467bd"};
  for (std::int64_t k = 0; k < r.steps; ++k) {
    const double l = r.sharpness[static_cast<std::size_t>(k)];
    if (std::isnan(l)) continue;
    s.x.push_back(static_cast<double>(k));
    s.y.push_back(l * r.learning_rate[static_cast<std::size_t>(k)]);
  }
  if (!s.x.empty()) {
    if (static_cast<std::int64_t>(s.x.size()) < r.steps)
      s.label += ", computed every " + std::to_string(r.options.sharpness_every) + " steps";
    sharp.series = {s};
    sharp.horizontal_lines = {2.0};
    if (eos.onset_step) sharp.title += ": onset at step " + std::to_string(*eos.onset_step);
    for (std::int64_t k = 0; k < r.steps; ++k)
      if (r.complex[r.index(k, query, 0)]) sharp.marked_x.push_back(static_cast<double>(k));
    sharp.marked_label = "complex steps at " + at;
    write_text(dir / (prefix + "sharpness.svg"), render_svg(sharp));
    section.images.push_back(prefix + "sharpness.svg");
  }
}

ReportPage run_page(const DecompositionReport& r, const pk::kernel::RunDescription& run,
                    std::int64_t plot_query, const pk::ad::Tensor* queries) {
  return run_page(pk::kernel::report_totals(r), run, plot_query, queries, {"attribution.csv"});
}

ReportPage run_page(const pk::kernel::ReportTotals& r, const pk::kernel::RunDescription& run,
                    std::int64_t plot_query, const pk::ad::Tensor* queries,
                    const std::vector<std::string>& attribution_files) {
  ReportPage page;
  page.title = "pathkernel report: " + run.architecture + " on " + run.data;
  page.question = "How much of what the network learned in " + std::to_string(r.steps) +
                  " steps does the first-order path kernel explain at these " + std::to_string(r.queries) +
                  " query points, and where does it fail?";
  const double first = r.relative_error[0], on_complex = r.relative_error[1], every = r.relative_error[2];
  const pk::kernel::ComplexStepStats& all = r.complex_pooled;
  std::ostringstream a;
  a << "The first-order path kernel (sum of F1 over the steps) misses <b>" << percent(first)
    << "</b> of the learned change ||f(x; w_N) - f(x; w_0)||"
    << (r.kernel_form ? "" : " (with " + xml_escape(r.optimizer) + " steps, F1 = J dw is not a kernel sum)")
    << "; ";
  if (r.options.second_order == pk::kernel::SecondOrderMode::none) {
    a << "second-order terms were not computed. ";
  } else {
    a << percent(all.fraction)
      << " of the (step, point) pairs are complex, and adding their second-order terms "
      << "leaves <b>" << percent(on_complex) << "</b>";
    if (r.options.second_order == pk::kernel::SecondOrderMode::every_step)
      a << " (with F2 at every step: <b>" << percent(every) << "</b>)";
    a << ". ";
  }
  a << "The run identity holds to " << fmt(r.run_identity_error) << " (relative).";
  page.answer = a.str();
  page.configuration = {
      {"data", run.data},
      {"model", run.architecture},
      {"loss", run.loss},
      {"optimiser", run.optimizer},
      {"learning rates", run.schedule},
      {"steps", std::to_string(run.steps) + (run.status == "completed" ? "" : " (" + run.status + ")")},
      {"seed (mini-batch order)", std::to_string(run.seed)},
      {"query points", std::to_string(r.queries) + ", " + std::to_string(r.outputs) +
                           " output(s) each; plots at " + query_label(plot_query, queries)},
      {"second-order terms", std::string(pk::kernel::second_order_mode_name(r.options.second_order)) +
                                 ", complex-step threshold tau = " + fmt(r.options.tau, "%g")},
      {"exact path kernel",
       r.options.exact_kernel ? "on, tolerance " + fmt(r.options.exact_tolerance, "%g") : "off"},
      {"sharpness", r.options.sharpness_every > 0
                        ? "every " + std::to_string(r.options.sharpness_every) + " steps"
                        : "not computed"},
      {"pathkernel version", pk::kernel::version()},
  };
  for (const auto& [name, value] : run.extra) page.configuration.emplace_back(name, value);
  page.files = {
      {"summary.json", "configuration, identities, complex-step and sharpness statistics"},
      {"steps.csv", "one row per step, query point and output: lr, df, F1, F2, R1, R2, complex, ..."},
      {"queries.csv", "one row per query point and output: totals and relative errors"}};
  for (const std::string& name : attribution_files)
    if (name == "attribution.csv")
      page.files.emplace_back(name, "one row per query point, output and training point");
    else if (name == "attribution.npy")
      page.files.emplace_back(
          name, "A_m(x), float64 of shape (query, output, training point); index arrays beside it");
    else if (name == "path_kernel.npy")
      page.files.emplace_back(name, "K^p(x, x_m), laid out as attribution.npy");
    else if (name == "attribution_regularizer.npy")
      page.files.emplace_back(name, "the weight decay's share A_reg(x), (query, output)");

  if (queries) page.files.emplace_back("query_points.csv", "the coordinates of each query point");
  return page;
}

void write_query_points(const fs::path& dir, const pk::ad::Tensor* queries) {
  if (!queries || queries->shape().rank != 2) return;
  std::ostringstream o;
  const std::int64_t n = queries->shape().dim(0), features = queries->shape().dim(1);
  o << "query";
  for (std::int64_t j = 0; j < features; ++j) o << ",x" << j;
  o << '\n';
  char buf[32];
  for (std::int64_t q = 0; q < n; ++q) {
    o << q;
    for (std::int64_t j = 0; j < features; ++j) {
      const auto res = std::to_chars(buf, buf + sizeof buf, (*queries)[q * features + j]);
      o << ',' << std::string_view(buf, static_cast<std::size_t>(res.ptr - buf));
    }
    o << '\n';
  }
  write_text(dir / "query_points.csv", o.str());
}

void write_run_page(const fs::path& dir, const pk::kernel::ReportTotals& totals,
                    const DecompositionReport& rows, std::int64_t row, const pk::kernel::RunDescription& run,
                    std::int64_t plot_query, const pk::ad::Tensor* queries,
                    const std::vector<std::string>& attribution_files) {
  write_query_points(dir, queries);
  ReportPage page = run_page(totals, run, plot_query, queries, attribution_files);
  PageSection s = run_section(totals, queries);
  add_run_plots(s, dir, "", rows, row, plot_query, queries);
  s.heading = "Step by step at " + query_label(plot_query, queries);
  page.sections = {s};
  write_page(dir / "index.html", page);
}

void write_run_report(const fs::path& dir, const DecompositionReport& report,
                      const pk::kernel::RunDescription& run, std::int64_t plot_query,
                      const pk::ad::Tensor* queries) {
  pk::kernel::write_report_files(dir, report, run);
  write_run_page(
      dir, pk::kernel::report_totals(report), report, plot_query, run, plot_query, queries,
      report.attribution.empty() ? std::vector<std::string>{} : std::vector<std::string>{"attribution.csv"});
}

std::string sweep_table(const SweepResult& sweep) {
  std::ostringstream o;
  char line[256];
  std::snprintf(line, sizeof line,
                "lambda_max(w_0) = %.4g, stability limit 2/lambda = %.4g, alpha*N = %.4g\n", sweep.lambda_max,
                sweep.stability_limit, sweep.lr_times_steps);
  o << line;
  o << "      lr  steps  lr*lam  final loss  rel.err F1  +F2 on T_c  +F2 every  complex  exact err\n";
  for (const auto& r : sweep.runs) {
    std::snprintf(line, sizeof line, "%8.4g %6lld %7.3f %11.4g %11.3e %11.3e %10.3e %7.1f%% %10.2e%s\n",
                  r.learning_rate, static_cast<long long>(r.steps), r.lr_times_lambda, r.final_loss,
                  r.rel_error_first, r.rel_error_complex, r.rel_error_second, 100.0 * r.complex.fraction,
                  r.exact_error,
                  r.status == pk::nn::TrainingStatus::completed
                      ? ""
                      : ("  " + std::string(pk::nn::status_name(r.status))).c_str());
    o << line;
  }
  std::snprintf(line, sizeof line,
                "log-log slope of the error against lr: first order %.2f, with every F2 %.2f "
                "(over lr*lam <= %.2g: %.2f and %.2f)\n",
                sweep.slope_first, sweep.slope_second, sweep.small_lr_limit, sweep.slope_first_small,
                sweep.slope_second_small);
  o << line;
  return o.str();
}

void write_sweep_csv(const fs::path& path, const SweepResult& sweep) {
  std::ostringstream o;
  o << "learning_rate,steps,lr_times_lambda,final_loss,rel_error_first,rel_error_complex_steps,"
       "rel_error_second,complex_fraction,complex_change_share,exact_error,run_identity_error,status\n";
  for (const auto& r : sweep.runs) {
    char line[400];
    std::snprintf(line, sizeof line, "%.17g,%lld,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%s\n",
                  r.learning_rate, static_cast<long long>(r.steps), r.lr_times_lambda, r.final_loss,
                  r.rel_error_first, r.rel_error_complex, r.rel_error_second, r.complex.fraction,
                  r.complex.change_share, r.exact_error, r.identity_error,
                  std::string(pk::nn::status_name(r.status)).c_str());
    o << line;
  }
  write_text(path, o.str());
}

std::string sweep_plot(const std::vector<std::pair<std::string, const SweepResult*>>& sweeps) {
  Plot p;
  p.title = "How far the path-kernel picture holds: relative error vs learning rate";
  p.x_label = "learning rate alpha (alpha * N fixed)";
  p.y_label = "relative error of the kernel prediction";
  p.log_x = p.log_y = true;
  const char* colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"};
  std::size_t ci = 0;
  for (const auto& [name, sweep] : sweeps) {
    Series first{
        name + ": first order (slope " + fmt(sweep->slope_first, "%.2f") + ")", {}, {}, colors[ci % 4]};
    Series second{
        name + ": with F2 (slope " + fmt(sweep->slope_second, "%.2f") + ")", {}, {}, colors[ci % 4]};
    second.dashed = true;
    for (const auto& r : sweep->runs) {
      first.x.push_back(r.learning_rate);
      first.y.push_back(r.rel_error_first);
      second.x.push_back(r.learning_rate);
      second.y.push_back(r.rel_error_second);
    }
    p.series.push_back(first);
    p.series.push_back(second);
    ++ci;
  }
  return render_svg(p);
}

namespace {
const char* kStyle =
    "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 7px;"
    "text-align:right}th{background:#f4f4f4}table.config td,table.config th{text-align:left}"
    "pre{background:#f8f8f8;padding:1em;overflow-x:auto}p.answer{font-size:1.1em;background:#f3f8fc;"
    "border-left:4px solid #1f77b4;padding:0.6em 1em}details{margin:0.5em 0}summary{cursor:pointer}"
    "img{max-width:100%;margin:0.5em 0;border:1px solid #eee}</style>";
}  // namespace

void write_page(const fs::path& path, const ReportPage& page) {
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" << xml_escape(page.title)
    << "</title>\n"
    << kStyle << "</head><body>\n";
  o << "<h1>" << xml_escape(page.title) << "</h1>\n";
  if (!page.question.empty())
    o << "<p class=\"question\"><b>Question.</b> " << xml_escape(page.question) << "</p>\n";
  if (!page.answer.empty()) o << "<p class=\"answer\"><b>Answer.</b> " << page.answer << "</p>\n";
  if (!page.configuration.empty()) {
    o << "<h2>Configuration</h2>\n<table class=\"config\">\n";
    for (const auto& [what, value] : page.configuration)
      o << "<tr><th>" << xml_escape(what) << "</th><td>" << xml_escape(value) << "</td></tr>\n";
    o << "</table>\n";
  }
  bool any_plots = false;
  for (const PageSection& s : page.sections) any_plots = any_plots || !s.images.empty() || !s.html.empty();
  if (any_plots) o << "<h2>Plots</h2>\n";
  for (const PageSection& s : page.sections) {
    if (s.images.empty() && s.html.empty()) continue;
    o << "<h3>" << xml_escape(s.heading) << "</h3>\n" << s.html << '\n';
    for (const std::string& img : s.images)
      o << "<img src=\"" << xml_escape(img) << "\" alt=\"" << xml_escape(img) << "\">\n";
  }
  bool any_tables = !page.files.empty();
  for (const PageSection& s : page.sections) any_tables = any_tables || !s.tables.empty();
  if (any_tables) o << "<h2>Tables and files</h2>\n";
  for (const PageSection& s : page.sections)
    if (!s.tables.empty()) o << "<h3>" << xml_escape(s.heading) << "</h3>\n" << s.tables << '\n';
  if (!page.files.empty()) {
    o << "<p>The numbers behind this page, to load with pandas or NumPy:</p>\n<ul>\n";
    for (const auto& [file, what] : page.files)
      o << "<li><a href=\"" << xml_escape(file) << "\">" << xml_escape(file) << "</a>: " << xml_escape(what)
        << "</li>\n";
    o << "</ul>\n";
  }
  o << "</body></html>\n";
  write_text(path, o.str());
}

void write_index(const fs::path& path, const std::string& title, const std::vector<PageSection>& sections) {
  ReportPage page;
  page.title = title;
  page.sections = sections;
  write_page(path, page);
}

}  // namespace pk::app
