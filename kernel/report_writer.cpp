#include "kernel/report_writer.hpp"

#include "kernel/optimizer_shares.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>

#include "io/json_writer.hpp"
#include "io/text_file.hpp"
#include "kernel/accumulation.hpp"
#include "kernel/attribution_method.hpp"
#include "kernel/report_stream.hpp"

#ifndef PATHKERNEL_VERSION
#define PATHKERNEL_VERSION "unknown"
#endif

namespace pk::kernel {

using io::JsonWriter;

const char* version() { return PATHKERNEL_VERSION; }

void write_csv_cell(std::ostream& out, double x) {
  if (std::isnan(x)) return;
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, x);
  out.write(buf, res.ptr - buf);
}

namespace {
void cell(std::ostream& out, double x) { write_csv_cell(out, x); }
}  // namespace

void write_steps_header(std::ostream& out, const DecompositionReport& r) {
  const bool third = !r.third_order.empty();  // only when asked, so other reports keep their columns
  out << "step,query,output,lr,df,first_order,second_order,remainder1,remainder2,complex,exact_error,"
         "sharpness,"
         "stability_threshold,preconditioned_sharpness"
      << (third ? ",third_order,remainder3\n" : "\n");
}

void write_steps_rows(std::ostream& out, const DecompositionReport& r, std::int64_t first) {
  const bool third = !r.third_order.empty();
  for (std::int64_t k = 0; k < r.steps; ++k)
    for (std::int64_t q = 0; q < r.queries; ++q)
      for (std::int64_t c = 0; c < r.outputs; ++c) {
        const std::size_t i = r.index(k, q, c);
        const auto ks = static_cast<std::size_t>(k);
        const bool has_f2 = !std::isnan(r.second_order[i]);
        out << first + k << ',' << q << ',' << c << ',';
        cell(out, r.learning_rate[ks]);
        out << ',';
        cell(out, r.df[i]);
        out << ',';
        cell(out, r.first_order[i]);
        out << ',';
        cell(out, r.second_order[i]);
        out << ',';
        cell(out, r.remainder1(i));
        out << ',';
        cell(out, has_f2 ? r.remainder2(i) : std::nan(""));
        out << ',' << (r.complex[i] ? 1 : 0) << ',';
        cell(out, r.exact_error[i]);
        out << ',';
        cell(out, r.sharpness[ks]);
        out << ',';
        cell(out, ks < r.stability_threshold.size() ? r.stability_threshold[ks] : std::nan(""));
        out << ',';
        cell(out, ks < r.preconditioned_sharpness.size() ? r.preconditioned_sharpness[ks] : std::nan(""));
        if (third) {
          out << ',';
          cell(out, r.third_order[i]);
          out << ',';
          cell(out, r.remainder3(i));
        }
        out << '\n';
      }
}

void write_steps_csv(std::ostream& out, const DecompositionReport& r) {
  write_steps_header(out, r);
  write_steps_rows(out, r, 0);
}

void write_queries_csv(std::ostream& out, const DecompositionReport& r) {
  write_queries_csv(out, report_totals(r));
}

void write_queries_csv(std::ostream& out, const ReportTotals& r) {
  out << "query,output,f_initial,f_final,sum_first_order,sum_second_order,sum_remainder2,"
         "kernel_machine,rel_error_first,rel_error_second\n";
  for (std::int64_t q = 0; q < r.queries; ++q)
    for (std::int64_t c = 0; c < r.outputs; ++c) {
      const QuerySummary& s = r.summaries[static_cast<std::size_t>(q * r.outputs + c)];
      out << q << ',' << c;
      for (double v : {s.f_initial, s.f_final, s.sum_first_order, s.sum_second_order, s.sum_remainder2,
                       s.kernel_machine, s.rel_error_first, s.rel_error_second}) {
        out << ',';
        cell(out, v);
      }
      out << '\n';
    }
}

namespace {
void write_attribution_rows(std::ostream& out, std::int64_t queries, std::int64_t outputs, std::int64_t m_all,
                            const std::vector<double>& attribution, const std::vector<double>& path_kernel) {
  out << "query,output,train_index,contribution,path_kernel\n";
  if (attribution.empty()) return;
  for (std::int64_t q = 0; q < queries; ++q)
    for (std::int64_t c = 0; c < outputs; ++c)
      for (std::int64_t m = 0; m < m_all; ++m) {
        const auto i = static_cast<std::size_t>((q * outputs + c) * m_all + m);
        out << q << ',' << c << ',' << m << ',';
        cell(out, attribution[i]);
        out << ',';
        cell(out, path_kernel.empty() ? std::nan("") : path_kernel[i]);  // K^p: gradient descent only
        out << '\n';
      }
}
}  // namespace

void write_attribution_csv(std::ostream& out, const DecompositionReport& r) {
  write_attribution_rows(out, r.queries, r.outputs, r.training_points, r.attribution, r.path_kernel);
}

void write_attribution_csv(std::ostream& out, const ReportTotals& r) {
  write_attribution_rows(out, r.queries, r.outputs, r.training_points, r.attribution, r.path_kernel);
}

void write_windows_csv(std::ostream& out, const DecompositionReport& r) {
  write_windows_csv(out, report_totals(r));
}

void write_windows_csv(std::ostream& out, const ReportTotals& r) {
  out << "window_start,window_end,query,output,net_change,sum_first_order,sum_second_order,"
         "sum_remainder1,sum_remainder2\n";
  for (const WindowTotals& w : r.windows)
    for (std::int64_t q = 0; q < r.queries; ++q)
      for (std::int64_t c = 0; c < r.outputs; ++c) {
        const auto j = static_cast<std::size_t>(q * r.outputs + c);
        out << w.sums.start << ',' << w.sums.end << ',' << q << ',' << c;
        for (double v : {w.sums.net_change[j], w.sums.first_order[j], w.sums.second_order[j],
                         w.sums.remainder1[j], w.sums.remainder2[j]}) {
          out << ',';
          cell(out, v);
        }
        out << '\n';
      }
}

namespace {
// The norms and relative errors of a range of steps, as summary.json states them.
void range_members(JsonWriter& j, const StepRangeSums& s) {
  j.member("start", s.start).member("end", s.end);
  j.member("norm_net_change", s.norm_net_change).member("norm_sum_remainder1", s.norm_remainder1);
  j.member("norm_sum_remainder2", s.norm_remainder2);
  j.member("rel_error_first", s.rel_error_first).member("rel_error_second", s.rel_error_second);
  if (!s.third_order.empty())
    j.member("norm_sum_remainder3", s.norm_remainder3).member("rel_error_third", s.rel_error_third);
  j.member("sign_alternation", s.sign_alternation);
}

// The optimiser's constants, how its steps were attributed, and its own edge of stability
// (kernel/optimizer_shares.hpp).
void write_optimizer_facts(JsonWriter& j, const ReportTotals& r) {
  const pk::nn::OptimizerConfig& oc = r.optimizer_config;
  j.key("optimizer").begin_object();
  j.member("name", pk::nn::optimizer_name(oc.kind)).member("momentum", oc.momentum);
  j.member("nesterov", oc.nesterov).member("weight_decay", oc.weight_decay);
  j.member("beta1", oc.beta1).member("beta2", oc.beta2).member("eps", oc.epsilon);
  j.end_object();
  if (!r.kernel_form)
    j.member("note",
             "the steps are not kernel sums at w_k; each is a sum of per-training-point shares "
             "c_{k,m} (linear in the point's per-sample gradients of steps j <= k) and the weight "
             "decay's share, and A_m(x) = sum_k J_k(x) c_{k,m}");
  j.key("attribution_method").begin_object();
  j.member("method", r.attribution_method.empty() ? std::string("none") : r.attribution_method);
  j.member("state", r.attribution_method == "per_point_state"
                        ? "per training point, carried forward in time (M x D per query piece)"
                    : r.attribution_method == "per_query_backward"
                        ? "per query point and output, carried backward in time (Q x C x D per query piece)"
                    : r.attribution_method == "kernel" ? "none: one tangent kernel per step"
                                                       : "none");
  j.member("peak_state_bytes", r.attribution_state_bytes);
  write_attribution_plan(j, r.attribution_plan, r.exact_attribution_method);
  j.member("shares_closure_max_relative_error",
           r.attribution_state_bytes > 0 ? r.shares_closure_error : std::nan(""));
  if (r.kernel_form) {
    j.member("path_kernel", "K^p(x, x_m) = sum_k alpha_k K_k(x, x_m) (Domingos)");
  } else {
    j.key("path_kernel").null();
    j.member("path_kernel_reason",
             "Domingos' K^p = sum_k alpha_k K_k(x, x_m) describes gradient-descent steps; "
             "these steps weight each point's past gradients by the optimiser's state, so "
             "no column is written under that name");
  }
  j.key("regularizer_share").begin_array();
  for (double v : r.attribution_regularizer) j.value(v);
  j.end_array();
  j.member("exact_attribution", !r.exact_attribution.empty());
  j.member("exact_attribution_max_relative_error", r.exact_attribution_identity_error);
  j.member("exact_attribution_max_step_error", r.exact_attribution_max_step_error);
  j.end_object();
  j.key("stability").begin_object();
  const bool pre = threshold_is_preconditioned(oc);
  j.member("threshold", pre ? "(2 + 2 beta1) / ((1 - beta1) alpha_k)"
                        : oc.kind == pk::nn::OptimizerKind::momentum
                            ? (oc.nesterov ? "2 (1 + mu) / ((1 + 2 mu) alpha_k) - lambda"
                                           : "2 (1 + mu) / alpha_k - lambda")
                            : "2 / alpha_k - lambda");
  j.member("compared_with", pre ? "preconditioned_sharpness: lambda_max(P_k (H_k + lambda_coupled I)), "
                                  "P_k = diag(1 / (sqrt(v_hat_k) + eps))"
                                : "sharpness: lambda_max(H_k)");
  j.member("steps_computed", r.stability_computed).member("steps_beyond_threshold", r.stability_beyond);
  j.member("max_sharpness_over_threshold", r.max_sharpness_over_threshold);
  j.end_object();
}
}  // namespace

void write_summary_json(std::ostream& out, const DecompositionReport& r, const RunDescription& run) {
  write_summary_json(out, report_totals(r), run);
}

void write_summary_json(std::ostream& out, const ReportTotals& r, const RunDescription& run) {
  JsonWriter j(out);
  j.begin_object();
  j.member("schema", "pathkernel-report/1").member("version", version());
  j.key("configuration").begin_object();
  j.member("data", run.data).member("architecture", run.architecture).member("loss", run.loss);
  j.member("optimizer", run.optimizer).member("schedule", run.schedule);
  j.member("steps", run.steps).member("seed", static_cast<std::int64_t>(run.seed));
  j.member("second_order", second_order_mode_name(r.options.second_order));
  j.member("tau", r.options.tau).member("eps", r.options.eps);
  j.member("exact_kernel", r.options.exact_kernel).member("exact_tolerance", r.options.exact_tolerance);
  j.member("attribution", r.options.attribution);
  j.member("sharpness_every", r.options.sharpness_every);
  j.member("lanczos_tolerance", r.options.lanczos_tolerance);
  j.member("lanczos_iterations", static_cast<std::int64_t>(r.options.lanczos_iterations));
  j.member("order", static_cast<std::int64_t>(r.options.order));
  j.member("window", r.window);
  j.member("window_tau", r.options.window_tau).member("eos_band", r.options.eos_band);
  for (const auto& [name, value] : run.extra) j.member(name, value);
  j.end_object();
  j.member("status", run.status);
  j.member("steps", r.steps).member("queries", r.queries).member("outputs", r.outputs);
  j.member("training_points", r.training_points);
  j.member("kernel_form", r.kernel_form);
  write_optimizer_facts(j, r);

  j.key("run_identity").begin_object();
  j.member("formula", "f(x; w_N) = f(x; w_0) + sum F1 + sum F2 + sum R2");
  j.member("max_relative_error", r.run_identity_error);
  j.member("exact_kernel_max_relative_error", r.exact_identity_error);
  j.member("attribution_max_relative_error", r.attribution_identity_error);
  j.end_object();

  const ComplexStepStats& all = r.complex_pooled;
  j.key("complex_steps").begin_object();
  j.member("tau", r.options.tau);
  j.member("fraction", all.fraction).member("change_share", all.change_share);
  j.member("r1_removed_by_second_order_on_complex_steps", all.r1_removed_complex);
  j.member("r1_removed_by_second_order_elsewhere", all.r1_removed_elsewhere);
  j.member("steps_complex_for_some_query", r.steps_complex_for_some_query);
  j.end_object();

  j.key("sharpness").begin_object();
  j.member("steps_computed", r.sharpness_computed).member("max_lambda", r.max_lambda);
  j.member("max_lr_times_lambda", r.max_lr_times_lambda).member("steps_beyond_2", r.steps_beyond_two);
  j.member("lanczos_tolerance", r.options.lanczos_tolerance);
  j.member("max_residual", r.max_sharpness_residual);  // ||H v - lambda v|| of the Ritz pair, worst step
  j.end_object();

  const std::vector<WindowTotals>& windows = r.windows;
  j.key("windows").begin_object();
  j.member("test",
           "a window fails when ||sum R1|| > window_tau * ||sum df|| over its steps "
           "(2-norms over query points and outputs)");
  j.member("window", r.window);
  j.member("window_tau", r.options.window_tau);
  j.member("count", static_cast<std::int64_t>(windows.size()));
  std::int64_t failing = 0;
  const WindowTotals* largest = nullptr;
  for (const WindowTotals& w : windows) {
    failing += w.fails ? 1 : 0;
    if (!std::isnan(w.error_share) && (!largest || w.error_share > largest->error_share)) largest = &w;
  }
  j.member("failing", failing);
  if (largest)
    j.member("largest_error_share_start", largest->sums.start)
        .member("largest_error_share_end", largest->sums.end);
  j.key("list").begin_array();
  for (const WindowTotals& w : windows) {
    j.begin_object();
    range_members(j, w.sums);
    j.member("fails", w.fails).member("error_share", w.error_share);
    j.end_object();
  }
  j.end_array();
  j.end_object();

  const EdgeOfStability& eos = r.edge;
  j.key("edge_of_stability").begin_object();
  j.member("threshold", threshold_is_preconditioned(r.optimizer_config)
                            ? "(2 + 2 beta1) / ((1 - beta1) alpha_k) against lambda_max(P_k H_k)"
                            : "the optimiser's stability_threshold(alpha_k) against lambda_max(H_k)");
  j.member("band", eos.band).member("measurements", eos.measurements);
  j.member("max_lr_times_lambda", eos.max_lr_times_lambda);
  if (eos.onset_step) {
    j.member("onset_step", *eos.onset_step);
    j.member("lambda_at_onset", eos.lambda_at_onset).member("threshold_at_onset", eos.threshold_at_onset);
    j.key("before_onset").begin_object();
    range_members(j, *eos.before);
    j.end_object();
    j.key("after_onset").begin_object();
    range_members(j, *eos.after);
    j.end_object();
  }
  j.end_object();

  const std::int64_t max_nodes = r.max_exact_nodes;
  const double max_exact_error = r.max_exact_error;
  j.key("exact_kernel").begin_object();
  j.member("computed", r.options.exact_kernel).member("max_nodes", max_nodes);
  j.member("max_step_error", r.options.exact_kernel ? max_exact_error : std::nan(""));
  j.end_object();

  j.key("query_totals").begin_array();  // not "queries": that key is the count above
  for (std::int64_t q = 0; q < r.queries; ++q)
    for (std::int64_t c = 0; c < r.outputs; ++c) {
      const QuerySummary& s = r.summaries[static_cast<std::size_t>(q * r.outputs + c)];
      const ComplexStepStats& cs = r.complex[static_cast<std::size_t>(q * r.outputs + c)];
      j.begin_object();
      j.member("query", q).member("output", c);
      j.member("f_initial", s.f_initial).member("f_final", s.f_final);
      j.member("sum_first_order", s.sum_first_order).member("sum_second_order", s.sum_second_order);
      j.member("sum_remainder2", s.sum_remainder2).member("sum_exact", s.sum_exact);
      j.member("kernel_machine", s.kernel_machine);
      j.member("rel_error_first", s.rel_error_first).member("rel_error_second", s.rel_error_second);
      j.member("complex_steps", cs.complex_steps).member("complex_change_share", cs.change_share);
      j.end_object();
    }
  j.end_array();

  if (!r.top_pairs.empty()) {
    j.key("second_order_pairs").begin_object();
    j.member("query", r.options.pair_query).member("total", r.pair_total);
    j.key("largest").begin_array();
    for (const F2Pair& p : r.top_pairs) {
      j.begin_object();
      j.member("m", p.m).member("n", p.n).member("output", p.output).member("value", p.value);
      j.end_object();
    }
    j.end_array();
    j.end_object();
  }

  if (run.include_timings) {
    j.key("timings_seconds").begin_object();
    j.member("training", run.seconds_training);
    j.member("first_order", r.seconds_first_order).member("second_order", r.seconds_second_order);
    j.member("exact_kernel", r.seconds_exact).member("attribution", r.seconds_attribution);
    j.member("sharpness", r.seconds_sharpness);
    j.end_object();
  }
  j.end_object();
}

void write_report_files(const std::filesystem::path& directory, const DecompositionReport& report,
                        const RunDescription& run) {
  const ReportTotals totals = report_totals(report);
  io::replace_file(directory / "summary.json", [&](std::ostream& o) { write_summary_json(o, totals, run); });
  io::replace_file(directory / "steps.csv", [&](std::ostream& o) { write_steps_csv(o, report); });
  io::replace_file(directory / "queries.csv", [&](std::ostream& o) { write_queries_csv(o, totals); });
  io::replace_file(directory / "windows.csv", [&](std::ostream& o) { write_windows_csv(o, totals); });
  if (!report.attribution.empty())
    io::replace_file(directory / "attribution.csv",
                     [&](std::ostream& o) { write_attribution_csv(o, report); });
}

}  // namespace pk::kernel
