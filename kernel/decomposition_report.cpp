#include "kernel/decomposition.hpp"
// What a report's numbers add up to: the per-query summaries, complex-step statistics and the
// identities it is checked against (the arithmetic on a finished DecompositionReport).

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include "kernel/report_arithmetic.hpp"

namespace pk::kernel {

using namespace report_arithmetic;

SecondOrderMode parse_second_order_mode(std::string_view name) {
  if (name == "none") return SecondOrderMode::none;
  if (name == "complex") return SecondOrderMode::complex_steps;
  if (name == "every") return SecondOrderMode::every_step;
  throw std::invalid_argument("unknown second-order mode '" + std::string(name) +
                              "' (expected none, complex or every)");
}

std::string_view second_order_mode_name(SecondOrderMode mode) {
  switch (mode) {
    case SecondOrderMode::none:
      return "none";
    case SecondOrderMode::complex_steps:
      return "complex";
    case SecondOrderMode::every_step:
      return "every";
  }
  return "?";
}

double DecompositionReport::remainder2(std::size_t i) const {
  const double f2 = std::isnan(second_order[i]) ? 0.0 : second_order[i];
  return df[i] - first_order[i] - f2;
}

double DecompositionReport::remainder3(std::size_t i) const {
  if (third_order.empty() || std::isnan(third_order[i])) return kNaN;
  return remainder2(i) - third_order[i];
}

QuerySummary DecompositionReport::summary(std::int64_t q, std::int64_t c) const {
  QuerySummary s;
  s.f_initial = f_initial(q, c);
  s.f_final = f_final(q, c);
  double exact = 0.0;
  bool exact_everywhere = steps > 0;
  for (std::int64_t k = 0; k < steps; ++k) {
    const std::size_t i = index(k, q, c);
    s.sum_first_order += first_order[i];
    if (!std::isnan(second_order[i])) s.sum_second_order += second_order[i];
    s.sum_remainder2 += remainder2(i);
    if (std::isnan(exact_change[i]))
      exact_everywhere = false;
    else
      exact += exact_change[i];
  }
  if (exact_everywhere) s.sum_exact = exact;
  s.kernel_machine = s.f_initial + s.sum_first_order;
  if (!attribution.empty()) {
    double a = 0.0;
    for (std::int64_t m = 0; m < training_points; ++m)
      a += attribution[static_cast<std::size_t>((q * outputs + c) * training_points + m)];
    if (!attribution_regularizer.empty())
      a += attribution_regularizer[static_cast<std::size_t>(q * outputs + c)];
    s.kernel_machine = s.f_initial + a;
  }
  const double learned = std::abs(s.f_final - s.f_initial);
  const double magnitude = std::max(std::abs(s.f_final), std::abs(s.f_initial));
  s.rel_error_first = relative_gap(s.f_initial + s.sum_first_order, s.f_final, learned, magnitude);
  s.rel_error_second =
      relative_gap(s.f_initial + s.sum_first_order + s.sum_second_order, s.f_final, learned, magnitude);
  return s;
}

namespace {
struct ComplexTotals {
  std::int64_t complex = 0, steps = 0;
  double df_complex = 0, df_all = 0;
  double r1_c = 0, r2_c = 0, r1_o = 0, r2_o = 0;
  bool f2_c = false, f2_o = false;

  void add(const DecompositionReport& r, std::size_t i) {
    ++steps;
    const double adf = std::abs(r.df[i]);
    df_all += adf;
    const bool has_f2 = !std::isnan(r.second_order[i]);
    if (r.complex[i]) {
      ++complex;
      df_complex += adf;
      if (has_f2) {
        f2_c = true;
        r1_c += std::abs(r.remainder1(i));
        r2_c += std::abs(r.remainder2(i));
      }
    } else if (has_f2) {
      f2_o = true;
      r1_o += std::abs(r.remainder1(i));
      r2_o += std::abs(r.remainder2(i));
    }
  }
  ComplexStepStats stats() const {
    ComplexStepStats s;
    s.complex_steps = complex;
    s.fraction = steps ? static_cast<double>(complex) / static_cast<double>(steps) : 0.0;
    s.change_share = df_all > 0 ? df_complex / df_all : 0.0;
    if (f2_c && r1_c > 0) s.r1_removed_complex = 1.0 - r2_c / r1_c;
    if (f2_o && r1_o > 0) s.r1_removed_elsewhere = 1.0 - r2_o / r1_o;
    return s;
  }
};
}  // namespace

ComplexStepStats DecompositionReport::complex_stats(std::int64_t q, std::int64_t c) const {
  ComplexTotals t;
  for (std::int64_t k = 0; k < steps; ++k) t.add(*this, index(k, q, c));
  return t.stats();
}

ComplexStepStats DecompositionReport::complex_stats() const {
  ComplexTotals t;
  for (std::size_t i = 0; i < df.size(); ++i) t.add(*this, i);
  return t.stats();
}

double DecompositionReport::run_identity_error() const {
  double worst = 0.0;
  for (std::int64_t q = 0; q < queries; ++q)
    for (std::int64_t c = 0; c < outputs; ++c) {
      const QuerySummary s = summary(q, c);
      const double rebuilt = s.f_initial + s.sum_first_order + s.sum_second_order + s.sum_remainder2;
      const double scale = std::max({std::abs(s.f_final), std::abs(s.f_initial), 1.0});
      // Non-finite predictions or terms cannot satisfy the identity: say so, do not divide it away.
      if (!std::isfinite(rebuilt) || !std::isfinite(s.f_final))
        return std::numeric_limits<double>::infinity();
      keep_worst(worst, std::abs(rebuilt - s.f_final) / scale);
    }
  return worst;
}

double DecompositionReport::exact_identity_error() const {
  double worst = 0.0;
  for (std::int64_t q = 0; q < queries; ++q)
    for (std::int64_t c = 0; c < outputs; ++c) {
      const QuerySummary s = summary(q, c);
      if (std::isnan(s.sum_exact)) return kNaN;
      const double scale = std::max({std::abs(s.f_final), std::abs(s.f_initial), 1.0});
      const double rebuilt = s.f_initial + s.sum_exact;
      if (!std::isfinite(rebuilt) || !std::isfinite(s.f_final))
        return std::numeric_limits<double>::infinity();
      keep_worst(worst, std::abs(rebuilt - s.f_final) / scale);
    }
  return worst;
}

double DecompositionReport::attribution_identity_error() const {
  if (attribution.empty()) return kNaN;
  double worst = 0.0;
  for (std::int64_t q = 0; q < queries; ++q)
    for (std::int64_t c = 0; c < outputs; ++c) {
      const QuerySummary s = summary(q, c);
      const double attributed = s.kernel_machine - s.f_initial;
      if (!std::isfinite(attributed) || !std::isfinite(s.sum_first_order))
        return std::numeric_limits<double>::infinity();
      keep_worst(worst,
                 std::abs(attributed - s.sum_first_order) / std::max(std::abs(s.sum_first_order), 1.0));
    }
  return worst;
}

double DecompositionReport::exact_attribution_identity_error() const {
  if (exact_attribution.empty()) return kNaN;
  double worst = 0.0;
  for (std::int64_t q = 0; q < queries; ++q)
    for (std::int64_t c = 0; c < outputs; ++c) {
      const auto row = static_cast<std::size_t>(q * outputs + c);
      double attributed = exact_attribution_regularizer[row];
      for (std::int64_t m = 0; m < training_points; ++m)
        attributed +=
            exact_attribution[row * static_cast<std::size_t>(training_points) + static_cast<std::size_t>(m)];
      const double learned = f_final(q, c) - f_initial(q, c);
      if (!std::isfinite(attributed) || !std::isfinite(learned))
        return std::numeric_limits<double>::infinity();
      keep_worst(worst, std::abs(attributed - learned) /
                            std::max({std::abs(f_final(q, c)), std::abs(f_initial(q, c)), 1.0}));
    }
  return worst;
}

}  // namespace pk::kernel
