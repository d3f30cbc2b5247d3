#include "kernel/report_stream.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

#include "io/npy.hpp"
#include "io/text_file.hpp"
#include "kernel/optimizer_shares.hpp"
#include "kernel/sweep.hpp"

namespace pk::kernel {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double norm(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

double ratio(double a, double b) { return b > 0 ? a / b : kNaN; }

// As DecompositionReport::summary: NaN when the prediction did not move beyond rounding.
double relative_gap(double got, double want, double scale, double magnitude) {
  const double floor = 64 * std::numeric_limits<double>::epsilon() * std::max(magnitude, 1.0);
  if (!(scale > floor)) return kNaN;
  return std::abs(got - want) / scale;
}

void keep_worst(double& worst, double e) {
  if (!(e <= worst)) worst = e;
}

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
  if (t_.options.window < 0) throw std::invalid_argument("window_totals: window " + std::to_string(t_.options.window) + " is negative");
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
  if (first != next_) throw std::invalid_argument("report: steps from " + std::to_string(first) +
                                                  " given where step " + std::to_string(next_) + " was expected");
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
    const double compared = preconditioned_ ? (lu < b.preconditioned_sharpness.size() ? b.preconditioned_sharpness[lu] : kNaN)
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
    if (!std::isnan(residual) && !(residual <= t_.max_sharpness_residual)) t_.max_sharpness_residual = residual;
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
      if (std::isnan(b.exact_change[i])) c.exact_everywhere = false;
      else c.exact += b.exact_change[i];
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
  if (next_ != t_.steps) throw std::invalid_argument("report: " + std::to_string(next_) + " of " +
                                                     std::to_string(t_.steps) + " steps given");
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
        for (std::int64_t m = 0; m < m_all; ++m) a += t.attribution[j * static_cast<std::size_t>(m_all) + static_cast<std::size_t>(m)];
        if (!t.attribution_regularizer.empty()) a += t.attribution_regularizer[j];
        s.kernel_machine = s.f_initial + a;
      }
      const double learned = std::abs(s.f_final - s.f_initial);
      const double magnitude = std::max(std::abs(s.f_final), std::abs(s.f_initial));
      s.rel_error_first = relative_gap(s.f_initial + s.sum_first_order, s.f_final, learned, magnitude);
      s.rel_error_second = relative_gap(s.f_initial + s.sum_first_order + s.sum_second_order, s.f_final,
                                        learned, magnitude);
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
          attributed += t.exact_attribution[j * static_cast<std::size_t>(m_all) + static_cast<std::size_t>(m)];
        const double learned = s.f_final - s.f_initial;
        if (!std::isfinite(attributed) || !std::isfinite(learned)) exact_attribution_infinite = true;
        else keep_worst(t.exact_attribution_identity_error,
                        std::abs(attributed - learned) / std::max({std::abs(s.f_final), std::abs(s.f_initial), 1.0}));
      }

      // The identities, as DecompositionReport states them.
      const double scale = std::max({std::abs(s.f_final), std::abs(s.f_initial), 1.0});
      const double rebuilt = s.f_initial + s.sum_first_order + s.sum_second_order + s.sum_remainder2;
      if (!std::isfinite(rebuilt) || !std::isfinite(s.f_final)) run_infinite = true;
      else keep_worst(t.run_identity_error, std::abs(rebuilt - s.f_final) / scale);
      if (!exact_nan && !exact_infinite) {
        if (std::isnan(s.sum_exact)) exact_nan = true;
        else if (!std::isfinite(s.f_initial + s.sum_exact) || !std::isfinite(s.f_final)) exact_infinite = true;
        else keep_worst(t.exact_identity_error, std::abs(s.f_initial + s.sum_exact - s.f_final) / scale);
      }
      const double attributed = s.kernel_machine - s.f_initial;
      if (!std::isfinite(attributed) || !std::isfinite(s.sum_first_order)) attribution_infinite = true;
      else keep_worst(t.attribution_identity_error,
                      std::abs(attributed - s.sum_first_order) / std::max(std::abs(s.sum_first_order), 1.0));
    }
  if (run_infinite) t.run_identity_error = std::numeric_limits<double>::infinity();
  if (exact_nan) t.exact_identity_error = kNaN;
  else if (exact_infinite) t.exact_identity_error = std::numeric_limits<double>::infinity();
  if (t.attribution.empty()) t.attribution_identity_error = kNaN;
  else if (attribution_infinite) t.attribution_identity_error = std::numeric_limits<double>::infinity();
  if (exact_attribution_infinite) t.exact_attribution_identity_error = std::numeric_limits<double>::infinity();
  for (std::size_t n = 0; n < miss.size(); ++n) t.relative_error[n] = relative_norm(miss[n], learned_change);
  return t;
}

ReportTotals report_totals(const DecompositionReport& report) {
  ReportAccumulator a(report, report.steps);
  a.add(report, 0);
  return a.finish(report);
}

AttributionFormat parse_attribution_format(std::string_view text) {
  AttributionFormat f;
  if (text == "auto") f.kind = AttributionFormat::Kind::automatic;
  else if (text == "csv") f.kind = AttributionFormat::Kind::csv;
  else if (text == "npy") f.kind = AttributionFormat::Kind::npy;
  else if (text == "none") f.kind = AttributionFormat::Kind::none;
  else if (text.starts_with("top:")) {
    f.kind = AttributionFormat::Kind::top;
    const std::string_view k = text.substr(4);
    const auto res = std::from_chars(k.data(), k.data() + k.size(), f.top);
    if (res.ec != std::errc() || res.ptr != k.data() + k.size() || f.top < 1)
      throw std::invalid_argument("attribution format '" + std::string(text) + "': K of top:K must be a positive integer");
  } else {
    throw std::invalid_argument("unknown attribution format '" + std::string(text) +
                                "' (expected auto, csv, npy, none or top:K)");
  }
  return f;
}

namespace {
void cell(std::ostream& out, double x) {
  if (std::isnan(x)) return;
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, x);
  out.write(buf, res.ptr - buf);
}
}  // namespace

std::vector<std::string> write_attribution(const std::filesystem::path& dir, const ReportTotals& t,
                                           const AttributionFormat& format) {
  using Kind = AttributionFormat::Kind;
  if (t.attribution.empty() || format.kind == Kind::none) return {};
  const std::int64_t rows = t.queries * t.outputs * t.training_points;
  const bool npy = format.kind == Kind::npy || (format.kind == Kind::automatic && rows > format.csv_rows);
  if (npy) {
    const std::vector<std::int64_t> shape{t.queries, t.outputs, t.training_points};
    std::vector<std::string> names{"attribution.npy"};
    io::write_npy(dir / "attribution.npy", shape, t.attribution);
    if (!t.path_kernel.empty()) {  // K^p: gradient descent only
      io::write_npy(dir / "path_kernel.npy", shape, t.path_kernel);
      names.emplace_back("path_kernel.npy");
    }
    if (!t.attribution_regularizer.empty()) {  // the weight decay's share A_reg(x)
      const std::vector<std::int64_t> rows{t.queries, t.outputs};
      io::write_npy(dir / "attribution_regularizer.npy", rows, t.attribution_regularizer);
      names.emplace_back("attribution_regularizer.npy");
    }
    for (const auto& [name, n] : {std::pair{"query_index.npy", t.queries}, std::pair{"output_index.npy", t.outputs},
                                  std::pair{"train_index.npy", t.training_points}}) {
      std::vector<double> index(static_cast<std::size_t>(n));
      std::iota(index.begin(), index.end(), 0.0);
      const std::vector<std::int64_t> s{n};
      io::write_npy(dir / name, s, index);
      names.emplace_back(name);
    }
    return names;
  }
  if (format.kind == Kind::top) {
    io::replace_file(dir / "attribution.csv", [&](std::ostream& out) {
      out << "query,output,train_index,contribution,path_kernel\n";
      const auto m_all = static_cast<std::size_t>(t.training_points);
      std::vector<std::int64_t> order(m_all);
      for (std::int64_t q = 0; q < t.queries; ++q)
        for (std::int64_t c = 0; c < t.outputs; ++c) {
          const std::size_t base = static_cast<std::size_t>(q * t.outputs + c) * m_all;
          std::iota(order.begin(), order.end(), 0);
          const auto keep = std::min<std::size_t>(m_all, static_cast<std::size_t>(format.top));
          // Ties by index, so the file does not depend on the sort's whims.
          std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(),
                            [&](std::int64_t a, std::int64_t b) {
                              const double x = std::abs(t.attribution[base + static_cast<std::size_t>(a)]);
                              const double y = std::abs(t.attribution[base + static_cast<std::size_t>(b)]);
                              return x > y || (x == y && a < b);
                            });
          for (std::size_t i = 0; i < keep; ++i) {
            const auto m = static_cast<std::size_t>(order[i]);
            out << q << ',' << c << ',' << order[i] << ',';
            cell(out, t.attribution[base + m]);
            out << ',';
            cell(out, t.path_kernel.empty() ? kNaN : t.path_kernel[base + m]);
            out << '\n';
          }
        }
    });
    return {"attribution.csv"};
  }
  io::replace_file(dir / "attribution.csv", [&](std::ostream& out) { write_attribution_csv(out, t); });
  return {"attribution.csv"};
}

ReportStream::ReportStream(const std::filesystem::path& directory, std::int64_t total_steps, std::int64_t plot_query)
    : directory_(directory), total_steps_(total_steps), plot_query_(plot_query),
      steps_(directory / "steps.csv") {
}

StepBlockSink ReportStream::sink() {
  return [this](const DecompositionReport& block, std::int64_t first) { add(block, first); };
}

void ReportStream::add(const DecompositionReport& b, std::int64_t first) {
  if (!totals_) {
    totals_.emplace(b, total_steps_);
    steps_.append([&](std::ostream& o) { write_steps_header(o, b); });
    plot_ = DecompositionReport();
    plot_.queries = 1;
    plot_.outputs = b.outputs;
    plot_.training_points = b.training_points;
    plot_.options = b.options;
    plot_.options.pair_query = -1;
    plot_.kernel_form = b.kernel_form;
    plot_.optimizer = b.optimizer;
    plot_.optimizer_config = b.optimizer_config;
  }
  steps_.append([&](std::ostream& o) { write_steps_rows(o, b, first); });
  totals_->add(b, first);
  auto append = [](auto& to, const auto& from) { to.insert(to.end(), from.begin(), from.end()); };
  append(plot_.learning_rate, b.learning_rate);
  append(plot_.loss, b.loss);
  append(plot_.sharpness, b.sharpness);
  append(plot_.sharpness_residual, b.sharpness_residual);
  append(plot_.stability_threshold, b.stability_threshold);
  append(plot_.preconditioned_sharpness, b.preconditioned_sharpness);
  append(plot_.exact_nodes, b.exact_nodes);
  append(plot_.second_order_computed, b.second_order_computed);
  const bool third = !b.third_order.empty();
  for (std::int64_t k = 0; k < b.steps; ++k)
    for (std::int64_t c = 0; c < b.outputs; ++c) {
      const std::size_t i = b.index(k, plot_query_, c);
      plot_.df.push_back(b.df[i]);
      plot_.first_order.push_back(b.first_order[i]);
      plot_.second_order.push_back(b.second_order[i]);
      plot_.exact_change.push_back(b.exact_change[i]);
      plot_.exact_error.push_back(b.exact_error[i]);
      plot_.complex.push_back(b.complex[i]);
      if (third) plot_.third_order.push_back(b.third_order[i]);
    }
  plot_.steps += b.steps;
}

ReportTotals ReportStream::finish(const DecompositionReport& tail, const RunDescription& run,
                                  const AttributionFormat& format) {
  if (!totals_) {  // a run of no steps: the header alone
    totals_.emplace(tail, total_steps_);
    steps_.append([&](std::ostream& o) { write_steps_header(o, tail); });
  }
  steps_.flush();
  ReportTotals t = totals_->finish(tail);
  io::replace_file(directory_ / "summary.json", [&](std::ostream& o) { write_summary_json(o, t, run); });
  io::replace_file(directory_ / "queries.csv", [&](std::ostream& o) { write_queries_csv(o, t); });
  io::replace_file(directory_ / "windows.csv", [&](std::ostream& o) { write_windows_csv(o, t); });
  attribution_files_ = write_attribution(directory_, t, format);

  const std::int64_t c_out = tail.outputs;
  plot_.f_initial = pk::ad::Tensor(pk::ad::Shape::matrix(1, c_out));
  plot_.f_final = pk::ad::Tensor(pk::ad::Shape::matrix(1, c_out));
  for (std::int64_t c = 0; c < c_out; ++c) {
    plot_.f_initial[c] = tail.f_initial(plot_query_, c);
    plot_.f_final[c] = tail.f_final(plot_query_, c);
  }
  if (!t.attribution.empty()) {
    const auto m = static_cast<std::size_t>(t.training_points);
    const auto from = static_cast<std::ptrdiff_t>(static_cast<std::size_t>(plot_query_ * c_out) * m);
    const auto n = static_cast<std::ptrdiff_t>(static_cast<std::size_t>(c_out) * m);
    plot_.attribution.assign(t.attribution.begin() + from, t.attribution.begin() + from + n);
    if (!t.path_kernel.empty()) plot_.path_kernel.assign(t.path_kernel.begin() + from, t.path_kernel.begin() + from + n);
  }
  return t;
}

double streaming_memory_bytes(std::int64_t queries, std::int64_t outputs, std::int64_t training_points,
                              std::int64_t parameters, const DecompositionOptions& o, std::int64_t windows,
                              bool per_point_state) {
  const double pc = static_cast<double>(queries) * static_cast<double>(outputs);
  const double m = static_cast<double>(training_points), c = static_cast<double>(outputs);
  const double chunk = static_cast<double>(std::min(o.query_chunk, std::max<std::int64_t>(queries, 1)));
  const double threads = std::max(1, o.threads);
  // A block of rows: about 8 numbers per entry, held by the pieces and once more merged.
  double bytes = 2.0 * static_cast<double>(kStepBlock) * pc * 8.0 * 8.0;
  // The online totals: a dozen per entry, a window's and (with sharpness) two more ranges' sums of
  // seven, and every finished window's seven.
  bytes += pc * 8.0 * (12.0 + 7.0 * (o.sharpness_every > 0 ? 3.0 : 1.0) + 7.0 * static_cast<double>(windows));
  if (o.attribution) {
    // A_m and K^p: in the pieces the total, the current block and the block closed last; the
    // merged block; and the totals.
    bytes += 2.0 * pc * m * 8.0 * 5.0;
    bytes += threads * chunk * c * m * c * 8.0;   // one step's tangent kernel per thread
  }
  if (o.pair_query >= 0) bytes += m * m * c * 8.0;
  if (per_point_state) {  // each piece's state and shares, M x D each
    const double pieces = std::ceil(static_cast<double>(std::max<std::int64_t>(queries, 1)) / chunk);
    bytes += pieces * 2.0 * m * static_cast<double>(parameters) * 8.0;
  }
  // Each thread's tape: a few passes of a chunk of queries through the network, with Hessian
  // and quadrature work of the order of the parameters per query.
  bytes += threads * chunk * 64.0 * static_cast<double>(parameters) * 8.0;
  return bytes;
}

}  // namespace pk::kernel
