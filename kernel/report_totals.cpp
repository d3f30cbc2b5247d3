#include "kernel/report_stream.hpp"
// The online totals of a streamed report (ReportAccumulator, report_stream.hpp): every number of
// summary.json, queries.csv and windows.csv accumulated block by block with the arithmetic of the
// in-memory report, so the two write the same bytes.

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

#include "kernel/optimizer_shares.hpp"
#include "kernel/report_arithmetic.hpp"
#include "kernel/sweep.hpp"

namespace pk::kernel {

using namespace report_arithmetic;

namespace {
double remainder2_of(const DecompositionReport& b, std::size_t i) {
  const double f2 = std::isnan(b.second_order[i]) ? 0.0 : b.second_order[i];
  return b.df[i] - b.first_order[i] - f2;
}
}  // namespace

RangeSumAccumulator::RangeSumAccumulator(std::int64_t start, std::size_t cells, bool third)
    : active_(true), third_(third) {
  s_.start = s_.end = start;
  for (auto* v : {&s_.net_change, &s_.first_order, &s_.second_order, &s_.remainder1, &s_.remainder2})
    v->assign(cells, 0.0);
  if (third) {
    s_.third_order.assign(cells, 0.0);
    remainder3_.assign(cells, 0.0);
  }
  previous_df_.assign(cells, 0.0);
}

void RangeSumAccumulator::add(const DecompositionReport& b, std::int64_t local) {
  const std::size_t cells = s_.net_change.size();
  const bool paired = s_.end > s_.start;
  for (std::size_t j = 0; j < cells; ++j) {
    const std::size_t i = static_cast<std::size_t>(local) * cells + j;
    s_.net_change[j] += b.df[i];
    s_.first_order[j] += b.first_order[i];
    if (!std::isnan(b.second_order[i])) s_.second_order[j] += b.second_order[i];
    s_.remainder1[j] += b.df[i] - b.first_order[i];
    const double r2 = remainder2_of(b, i);
    s_.remainder2[j] += r2;
    if (third_) {
      const bool has_f3 = !std::isnan(b.third_order[i]);
      if (has_f3) s_.third_order[j] += b.third_order[i];
      remainder3_[j] += has_f3 ? r2 - b.third_order[i] : r2;
    }
    if (paired) {
      ++pairs_;
      if (b.df[i] * previous_df_[j] < 0) ++alternating_;
    }
    previous_df_[j] = b.df[i];
  }
  ++s_.end;
}

StepRangeSums RangeSumAccumulator::result() const {
  StepRangeSums s = s_;
  s.norm_net_change = norm(s.net_change);
  s.norm_remainder1 = norm(s.remainder1);
  s.norm_remainder2 = norm(s.remainder2);
  s.rel_error_first = ratio(s.norm_remainder1, s.norm_net_change);
  s.rel_error_second = ratio(s.norm_remainder2, s.norm_net_change);
  if (third_) {
    s.norm_remainder3 = norm(remainder3_);
    s.rel_error_third = ratio(s.norm_remainder3, s.norm_net_change);
  }
  if (pairs_ > 0) s.sign_alternation = static_cast<double>(alternating_) / static_cast<double>(pairs_);
  return s;
}

ReportAccumulator::ReportAccumulator(const DecompositionReport& layout, std::int64_t total_steps) {
  t_.steps = total_steps;
  t_.queries = layout.queries;
  t_.outputs = layout.outputs;
  t_.training_points = layout.training_points;
  t_.options = layout.options;
  t_.kernel_form = layout.kernel_form;
  t_.optimizer = layout.optimizer;
  t_.optimizer_config = layout.optimizer_config;
  if (t_.options.window < 0)
    throw std::invalid_argument("window_totals: window " + std::to_string(t_.options.window) +
                                " is negative");
  if (!(t_.options.window_tau > 0)) throw std::invalid_argument("window_totals: tau_w must be positive");
  if (!(t_.options.eos_band > 0)) throw std::invalid_argument("edge_of_stability: band must be positive");
  t_.window = t_.options.window == 0 ? default_window(total_steps) : t_.options.window;
  t_.edge.band = t_.options.eos_band;
  cells_ = static_cast<std::size_t>(t_.queries * t_.outputs);
  third_ = !layout.third_order.empty();
  preconditioned_ = threshold_is_preconditioned(t_.optimizer_config);
  cell_.assign(cells_, CellTotals{});
  prefix_ = RangeSumAccumulator(0, cells_, third_);
}

void ReportAccumulator::add(const DecompositionReport& b, std::int64_t first) {
  if (first != next_)
    throw std::invalid_argument("report: steps from " + std::to_string(first) + " given where step " +
                                std::to_string(next_) + " was expected");
  if (b.queries != t_.queries || b.outputs != t_.outputs)
    throw std::invalid_argument("report: a block of another shape");
  if (b.third_order.empty() == third_ && b.steps > 0)
    throw std::invalid_argument("report: a block with and one without the third order");
  for (std::int64_t local = 0; local < b.steps; ++local) {
    const std::int64_t k = first + local;
    const auto lu = static_cast<std::size_t>(local);
    if (k >= t_.steps) throw std::invalid_argument("report: more steps than announced");

    // The edge of stability: a measurement of the sharpness the optimiser's threshold applies
    // to (accumulation.hpp's compared_sharpness) decides before step k's row is added, so the
    // sums before the onset are those of [0, k).
    const double lambda = b.sharpness[lu];
    const double compared =
        preconditioned_ ? (lu < b.preconditioned_sharpness.size() ? b.preconditioned_sharpness[lu] : kNaN)
                        : lambda;
    if (!std::isnan(compared)) {
      ++t_.edge.measurements;
      const double p = lambda * b.learning_rate[lu];
      if (!(p <= t_.edge.max_lr_times_lambda)) t_.edge.max_lr_times_lambda = p;
      const double threshold = sharpness_threshold(t_.optimizer_config, b.learning_rate[lu]);
      if (std::abs(compared / threshold - 1.0) <= t_.options.eos_band) {
        if (streak_length_ == 0) {
          streak_start_ = k;
          streak_lambda_ = compared;
          streak_threshold_ = threshold;
          streak_before_ = prefix_.result();
          streak_after_ = RangeSumAccumulator(k, cells_, third_);
        }
        ++streak_length_;
      } else {
        streak_length_ = 0;
        streak_before_.reset();
        streak_after_ = RangeSumAccumulator();
      }
    }
    if (!std::isnan(lambda)) {  // summary.json's sharpness section
      const double p = lambda * b.learning_rate[lu];
      ++t_.sharpness_computed;
      if (!(lambda <= t_.max_lambda)) t_.max_lambda = lambda;
      if (!(p <= t_.max_lr_times_lambda)) t_.max_lr_times_lambda = p;
      if (p > 2.0) ++t_.steps_beyond_two;
    }
    if (lu < b.stability_threshold.size() && !std::isnan(compared)) {  // and its stability section
      ++t_.stability_computed;
      const double ratio = compared / b.stability_threshold[lu];
      if (ratio > 1.0) ++t_.stability_beyond;
      if (!(ratio <= t_.max_sharpness_over_threshold)) t_.max_sharpness_over_threshold = ratio;
    }
    if (lu < b.exact_attribution_error.size() &&
        !(b.exact_attribution_error[lu] <= t_.exact_attribution_max_step_error))
      t_.exact_attribution_max_step_error = b.exact_attribution_error[lu];
    const double residual = b.sharpness_residual[lu];
    if (!std::isnan(residual) && !(residual <= t_.max_sharpness_residual))
      t_.max_sharpness_residual = residual;
    t_.max_exact_nodes = std::max<std::int64_t>(t_.max_exact_nodes, b.exact_nodes[lu]);

    if (!window_.active()) {
      window_ = RangeSumAccumulator(k, cells_, third_);
      window_end_ = std::min(t_.steps, k + t_.window);
    }
    window_.add(b, local);
    prefix_.add(b, local);
    if (streak_after_.active()) streak_after_.add(b, local);
    if (k + 1 == window_end_) {
      WindowTotals w;
      w.sums = window_.result();
      w.fails = !(w.sums.norm_remainder1 <= t_.options.window_tau * w.sums.norm_net_change);
      t_.windows.push_back(std::move(w));
      window_ = RangeSumAccumulator();
    }

    bool any_complex = false;
    for (std::size_t j = 0; j < cells_; ++j) {
      const std::size_t i = lu * cells_ + j;
      CellTotals& c = cell_[j];
      c.f1 += b.first_order[i];
      const bool has_f2 = !std::isnan(b.second_order[i]);
      if (has_f2) c.f2 += b.second_order[i];
      c.predicted_complex += b.first_order[i];
      if (has_f2 && b.complex[i]) c.predicted_complex += b.second_order[i];
      c.predicted_every += b.first_order[i];
      if (has_f2) c.predicted_every += b.second_order[i];
      const double r1 = b.df[i] - b.first_order[i], r2 = remainder2_of(b, i);
      c.r2 += r2;
      if (std::isnan(b.exact_change[i]))
        c.exact_everywhere = false;
      else
        c.exact += b.exact_change[i];
      if (!std::isnan(b.exact_error[i])) t_.max_exact_error = std::max(t_.max_exact_error, b.exact_error[i]);
      const double adf = std::abs(b.df[i]);
      any_complex = any_complex || b.complex[i];
      for (CellTotals* s : {&c, &pooled_}) {
        s->df_all += adf;
        if (b.complex[i]) {
          ++s->complex;
          s->df_complex += adf;
          if (has_f2) {
            s->f2_c = true;
            s->r1_c += std::abs(r1);
            s->r2_c += std::abs(r2);
          }
        } else if (has_f2) {
          s->f2_o = true;
          s->r1_o += std::abs(r1);
          s->r2_o += std::abs(r2);
        }
      }
    }
    t_.steps_complex_for_some_query += any_complex ? 1 : 0;
  }
  next_ = first + b.steps;
}

ReportTotals ReportAccumulator::finish(const DecompositionReport& tail) {
  if (next_ != t_.steps)
    throw std::invalid_argument("report: " + std::to_string(next_) + " of " + std::to_string(t_.steps) +
                                " steps given");
  ReportTotals t = std::move(t_);
  // The final first-order error as the windows' sums of R1 added in order (as window_totals).
  std::vector<double> total(cells_, 0.0);
  for (const WindowTotals& w : t.windows)
    for (std::size_t j = 0; j < cells_; ++j) total[j] += w.sums.remainder1[j];
  double total2 = 0.0;
  for (double v : total) total2 += v * v;
  if (total2 > 0)
    for (WindowTotals& w : t.windows) {
      double dot = 0.0;
      for (std::size_t j = 0; j < cells_; ++j) dot += w.sums.remainder1[j] * total[j];
      w.error_share = dot / total2;
    }
  if (streak_length_ >= 2) {
    t.edge.onset_step = streak_start_;
    t.edge.lambda_at_onset = streak_lambda_;
    t.edge.threshold_at_onset = streak_threshold_;
    t.edge.before = std::move(streak_before_);
    t.edge.after = streak_after_.result();
  }

  auto stats = [&](const CellTotals& c) {
    ComplexStepStats s;
    s.complex_steps = c.complex;
    const std::int64_t n = &c == &pooled_ ? t.steps * static_cast<std::int64_t>(cells_) : t.steps;
    s.fraction = n ? static_cast<double>(c.complex) / static_cast<double>(n) : 0.0;
    s.change_share = c.df_all > 0 ? c.df_complex / c.df_all : 0.0;
    if (c.f2_c && c.r1_c > 0) s.r1_removed_complex = 1.0 - c.r2_c / c.r1_c;
    if (c.f2_o && c.r1_o > 0) s.r1_removed_elsewhere = 1.0 - c.r2_o / c.r1_o;
    return s;
  };
  t.complex_pooled = stats(pooled_);
  t.attribution = tail.attribution;
  t.path_kernel = tail.path_kernel;
  t.attribution_regularizer = tail.attribution_regularizer;
  t.exact_attribution = tail.exact_attribution;
  t.exact_attribution_regularizer = tail.exact_attribution_regularizer;
  t.attribution_method = tail.attribution_method;
  t.attribution_state_bytes = tail.attribution_state_bytes;
  t.attribution_plan = tail.attribution_plan;
  t.exact_attribution_method = tail.exact_attribution_method;
  // The backward attribution checks each step after the rows have gone: the tail holds them.
  for (const double e : tail.exact_attribution_error)
    if (!(e <= t.exact_attribution_max_step_error)) t.exact_attribution_max_step_error = e;
  t.shares_closure_error = tail.shares_closure_error;
  t.top_pairs = tail.top_pairs;
  t.pair_total = tail.pair_total;
  t.seconds_first_order = tail.seconds_first_order;
  t.seconds_second_order = tail.seconds_second_order;
  t.seconds_exact = tail.seconds_exact;
  t.seconds_attribution = tail.seconds_attribution;
  t.seconds_sharpness = tail.seconds_sharpness;
  const std::int64_t m_all = t.training_points;
  bool exact_nan = false, exact_infinite = false, run_infinite = false, attribution_infinite = false;
  bool exact_attribution_infinite = false;
  std::array<std::vector<double>, 3> miss;
  std::vector<double> learned_change;
  if (!t.exact_attribution.empty()) t.exact_attribution_identity_error = 0.0;
  for (std::int64_t q = 0; q < t.queries; ++q)
    for (std::int64_t c = 0; c < t.outputs; ++c) {
      const auto j = static_cast<std::size_t>(q * t.outputs + c);
      const CellTotals& ct = cell_[j];
      QuerySummary s;
      s.f_initial = tail.f_initial(q, c);
      s.f_final = tail.f_final(q, c);
      s.sum_first_order = ct.f1;
      s.sum_second_order = ct.f2;
      s.sum_remainder2 = ct.r2;
      if (t.steps > 0 && ct.exact_everywhere) s.sum_exact = ct.exact;
      s.kernel_machine = s.f_initial + s.sum_first_order;
      if (!t.attribution.empty()) {
        double a = 0.0;
        for (std::int64_t m = 0; m < m_all; ++m)
          a += t.attribution[j * static_cast<std::size_t>(m_all) + static_cast<std::size_t>(m)];
        if (!t.attribution_regularizer.empty()) a += t.attribution_regularizer[j];
        s.kernel_machine = s.f_initial + a;
      }
      const double learned = std::abs(s.f_final - s.f_initial);
      const double magnitude = std::max(std::abs(s.f_final), std::abs(s.f_initial));
      s.rel_error_first = relative_gap(s.f_initial + s.sum_first_order, s.f_final, learned, magnitude);
      s.rel_error_second =
          relative_gap(s.f_initial + s.sum_first_order + s.sum_second_order, s.f_final, learned, magnitude);
      t.summaries.push_back(s);
      t.complex.push_back(stats(ct));
      const double change = s.f_final - s.f_initial;
      learned_change.push_back(change);
      miss[0].push_back(change - ct.f1);
      miss[1].push_back(change - ct.predicted_complex);
      miss[2].push_back(change - ct.predicted_every);
      if (!t.exact_attribution.empty()) {  // as DecompositionReport::exact_attribution_identity_error
        double attributed = t.exact_attribution_regularizer[j];
        for (std::int64_t m = 0; m < m_all; ++m)
          attributed +=
              t.exact_attribution[j * static_cast<std::size_t>(m_all) + static_cast<std::size_t>(m)];
        const double learned = s.f_final - s.f_initial;
        if (!std::isfinite(attributed) || !std::isfinite(learned))
          exact_attribution_infinite = true;
        else
          keep_worst(
              t.exact_attribution_identity_error,
              std::abs(attributed - learned) / std::max({std::abs(s.f_final), std::abs(s.f_initial), 1.0}));
      }

      // The identities, as DecompositionReport states them.
      const double scale = std::max({std::abs(s.f_final), std::abs(s.f_initial), 1.0});
      const double rebuilt = s.f_initial + s.sum_first_order + s.sum_second_order + s.sum_remainder2;
      if (!std::isfinite(rebuilt) || !std::isfinite(s.f_final))
        run_infinite = true;
      else
        keep_worst(t.run_identity_error, std::abs(rebuilt - s.f_final) / scale);
      if (!exact_nan && !exact_infinite) {
        if (std::isnan(s.sum_exact))
          exact_nan = true;
        else if (!std::isfinite(s.f_initial + s.sum_exact) || !std::isfinite(s.f_final))
          exact_infinite = true;
        else
          keep_worst(t.exact_identity_error, std::abs(s.f_initial + s.sum_exact - s.f_final) / scale);
      }
      const double attributed = s.kernel_machine - s.f_initial;
      if (!std::isfinite(attributed) || !std::isfinite(s.sum_first_order))
        attribution_infinite = true;
      else
        keep_worst(t.attribution_identity_error,
                   std::abs(attributed - s.sum_first_order) / std::max(std::abs(s.sum_first_order), 1.0));
    }
  if (run_infinite) t.run_identity_error = std::numeric_limits<double>::infinity();
  if (exact_nan)
    t.exact_identity_error = kNaN;
  else if (exact_infinite)
    t.exact_identity_error = std::numeric_limits<double>::infinity();
  if (t.attribution.empty())
    t.attribution_identity_error = kNaN;
  else if (attribution_infinite)
    t.attribution_identity_error = std::numeric_limits<double>::infinity();
  if (exact_attribution_infinite)
    t.exact_attribution_identity_error = std::numeric_limits<double>::infinity();
  for (std::size_t n = 0; n < miss.size(); ++n) t.relative_error[n] = relative_norm(miss[n], learned_change);
  return t;
}

ReportTotals report_totals(const DecompositionReport& report) {
  ReportAccumulator a(report, report.steps);
  a.add(report, 0);
  return a.finish(report);
}

}  // namespace pk::kernel
