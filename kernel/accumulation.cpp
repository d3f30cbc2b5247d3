#include "kernel/accumulation.hpp"

#include "kernel/optimizer_shares.hpp"

#include <cmath>
#include <stdexcept>
#include <string>
#include "kernel/report_arithmetic.hpp"

namespace pk::kernel {

using namespace report_arithmetic;

StepRangeSums sum_steps(const DecompositionReport& r, std::int64_t start, std::int64_t end) {
  if (start < 0 || end < start || end > r.steps)
    throw std::invalid_argument("sum_steps: steps [" + std::to_string(start) + ", " + std::to_string(end) +
                                ") outside a run of " + std::to_string(r.steps) + " steps");
  const auto cells = static_cast<std::size_t>(r.queries * r.outputs);
  const bool third = !r.third_order.empty();
  StepRangeSums s;
  s.start = start;
  s.end = end;
  for (auto* v : {&s.net_change, &s.first_order, &s.second_order, &s.remainder1, &s.remainder2})
    v->assign(cells, 0.0);
  std::vector<double> remainder3;
  if (third) {
    s.third_order.assign(cells, 0.0);
    remainder3.assign(cells, 0.0);
  }
  std::int64_t pairs = 0, alternating = 0;
  for (std::int64_t k = start; k < end; ++k)
    for (std::size_t j = 0; j < cells; ++j) {
      const std::size_t i = static_cast<std::size_t>(k) * cells + j;
      s.net_change[j] += r.df[i];
      s.first_order[j] += r.first_order[i];
      if (!std::isnan(r.second_order[i])) s.second_order[j] += r.second_order[i];
      s.remainder1[j] += r.remainder1(i);
      const double r2 = r.remainder2(i);
      s.remainder2[j] += r2;
      if (third) {
        const bool has_f3 = !std::isnan(r.third_order[i]);
        if (has_f3) s.third_order[j] += r.third_order[i];
        remainder3[j] += has_f3 ? r2 - r.third_order[i] : r2;
      }
      if (k > start) {
        ++pairs;
        if (r.df[i] * r.df[i - cells] < 0) ++alternating;
      }
    }
  s.norm_net_change = norm(s.net_change);
  s.norm_remainder1 = norm(s.remainder1);
  s.norm_remainder2 = norm(s.remainder2);
  s.rel_error_first = ratio(s.norm_remainder1, s.norm_net_change);
  s.rel_error_second = ratio(s.norm_remainder2, s.norm_net_change);
  if (third) {
    s.norm_remainder3 = norm(remainder3);
    s.rel_error_third = ratio(s.norm_remainder3, s.norm_net_change);
  }
  if (pairs > 0) s.sign_alternation = static_cast<double>(alternating) / static_cast<double>(pairs);
  return s;
}

std::int64_t default_window(std::int64_t steps) { return std::max<std::int64_t>(1, (steps + 19) / 20); }

std::vector<WindowTotals> window_totals(const DecompositionReport& r, std::int64_t window, double tau_w) {
  if (window < 0)
    throw std::invalid_argument("window_totals: window " + std::to_string(window) + " is negative");
  if (!(tau_w > 0)) throw std::invalid_argument("window_totals: tau_w must be positive");
  const std::int64_t w = window == 0 ? default_window(r.steps) : window;
  std::vector<WindowTotals> windows;
  for (std::int64_t start = 0; start < r.steps; start += w) {
    WindowTotals t;
    t.sums = sum_steps(r, start, std::min(r.steps, start + w));
    t.fails = !(t.sums.norm_remainder1 <= tau_w * t.sums.norm_net_change);
    windows.push_back(std::move(t));
  }
  // The final first-order error, as the windows' sums of R1 added in order: the shares then add
  // up to one exactly up to the rounding of the dot products.
  const auto cells = static_cast<std::size_t>(r.queries * r.outputs);
  std::vector<double> total(cells, 0.0);
  for (const WindowTotals& t : windows)
    for (std::size_t j = 0; j < cells; ++j) total[j] += t.sums.remainder1[j];
  double total2 = 0.0;
  for (double v : total) total2 += v * v;
  if (total2 > 0)
    for (WindowTotals& t : windows) {
      double dot = 0.0;
      for (std::size_t j = 0; j < cells; ++j) dot += t.sums.remainder1[j] * total[j];
      t.error_share = dot / total2;
    }
  return windows;
}

double sharpness_threshold(const pk::nn::OptimizerConfig& optimizer, double learning_rate) {
  return learning_rate > 0 ? stability_threshold(optimizer, learning_rate) : kNaN;
}

double compared_sharpness(const DecompositionReport& r, std::int64_t step) {
  const auto k = static_cast<std::size_t>(step);
  if (threshold_is_preconditioned(r.optimizer_config))
    return k < r.preconditioned_sharpness.size() ? r.preconditioned_sharpness[k] : kNaN;
  return k < r.sharpness.size() ? r.sharpness[k] : kNaN;
}

EdgeOfStability edge_of_stability(const DecompositionReport& r, double band) {
  if (!(band > 0)) throw std::invalid_argument("edge_of_stability: band must be positive");
  EdgeOfStability e;
  e.band = band;
  std::vector<std::int64_t> measured;
  for (std::int64_t k = 0; k < r.steps && k < static_cast<std::int64_t>(r.sharpness.size()); ++k) {
    const auto ku = static_cast<std::size_t>(k);
    if (std::isnan(compared_sharpness(r, k))) continue;
    measured.push_back(k);
    const double p = r.sharpness[ku] * r.learning_rate[ku];
    if (!(p <= e.max_lr_times_lambda)) e.max_lr_times_lambda = p;
  }
  e.measurements = static_cast<std::int64_t>(measured.size());
  // Walk back from the last measurement while it stays in the band.
  std::size_t first_in_band = measured.size();
  for (std::size_t i = measured.size(); i-- > 0;) {
    const auto ku = static_cast<std::size_t>(measured[i]);
    const double threshold = sharpness_threshold(r.optimizer_config, r.learning_rate[ku]);
    const double x = compared_sharpness(r, measured[i]) / threshold;
    if (!(std::abs(x - 1.0) <= band)) break;
    first_in_band = i;
  }
  if (measured.size() - first_in_band < 2) return e;
  const std::int64_t onset = measured[first_in_band];
  const auto ou = static_cast<std::size_t>(onset);
  e.onset_step = onset;
  e.lambda_at_onset = compared_sharpness(r, onset);
  e.threshold_at_onset = sharpness_threshold(r.optimizer_config, r.learning_rate[ou]);
  e.before = sum_steps(r, 0, onset);
  e.after = sum_steps(r, onset, r.steps);
  return e;
}

CumulativePath cumulative_path(const DecompositionReport& r, std::int64_t query, std::int64_t output) {
  if (query < 0 || query >= r.queries || output < 0 || output >= r.outputs)
    throw std::invalid_argument("cumulative_path: query " + std::to_string(query) + ", output " +
                                std::to_string(output) + " outside the report's " +
                                std::to_string(r.queries) + " x " + std::to_string(r.outputs));
  CumulativePath p;
  double a = 0.0, f1 = 0.0, f12 = 0.0;
  for (std::int64_t k = 0;; ++k) {
    p.actual.push_back(a);
    p.first_order.push_back(f1);
    p.second_order.push_back(f12);
    if (k == r.steps) break;
    const std::size_t i = r.index(k, query, output);
    a += r.df[i];
    f1 += r.first_order[i];
    f12 += r.first_order[i] + (std::isnan(r.second_order[i]) ? 0.0 : r.second_order[i]);
  }
  return p;
}

}  // namespace pk::kernel
