#pragma once
// Learning-rate schedules alpha_k, k = 0, 1, ... the step number. The path-kernel form of a step
// holds for any alpha_k, so besides the usual shapes an explicit per-step list is offered.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pk::nn {

/// A schedule as plain data: what a run directory stores, so that the schedule is rebuilt (and
/// every recorded alpha_k checked against it) without parsing a description.
struct ScheduleSpec {
  std::string kind;                           // constant, step, exponential, cosine, warmup, explicit
  double alpha = 0.0;                         // the base rate (not used by warmup and explicit)
  double factor = 1.0;                        // step: factor per interval; exponential: rate per step
  double final_alpha = 0.0;                   // cosine: the rate it ends at
  std::int64_t length = 1;                    // step: interval; cosine: its steps; warmup: warm-up steps
  std::vector<double> rates;                  // explicit: alpha_k
  std::shared_ptr<const ScheduleSpec> after;  // warmup: the schedule that follows

  friend bool operator==(const ScheduleSpec& a, const ScheduleSpec& b) {
    return a.kind == b.kind && a.alpha == b.alpha && a.factor == b.factor && a.final_alpha == b.final_alpha &&
           a.length == b.length && a.rates == b.rates &&
           (a.after == b.after || (a.after && b.after && *a.after == *b.after));
  }
};

/// A learning rate for every step. Cheap to copy. Every factory throws SpecError for a negative
/// or non-finite rate or a non-positive length.
class Schedule {
 public:
  /// alpha_k = alpha.
  static Schedule constant(double alpha);
  /// alpha_k = alpha * factor^floor(k / every).
  static Schedule step(double alpha, std::int64_t every, double factor);
  /// alpha_k = alpha * rate^k.
  static Schedule exponential(double alpha, double rate);
  /// alpha_k = final + (alpha - final) (1 + cos(pi k / steps)) / 2 for k < steps, then final.
  static Schedule cosine(double alpha, std::int64_t steps, double final_alpha = 0.0);
  /// alpha_k = after(0) (k + 1) / warmup for k < warmup, then after(k - warmup): a linear ramp
  /// up to where `after` starts, and `after` run from its own step 0.
  static Schedule linear_warmup(std::int64_t warmup, Schedule after);
  /// alpha_k = alphas[k]; asking for a step past the list throws SpecError.
  static Schedule explicit_steps(std::vector<double> alphas);

  /// alpha_k for k >= 0.
  double operator()(std::int64_t k) const;
  /// Steps for which a rate is defined: the list's length for an explicit schedule (also inside a
  /// warm-up), -1 for unlimited.
  std::int64_t length() const;
  /// A one-line description, e.g. "cosine(0.1, 1000, 0)".
  std::string describe() const;
  /// The schedule as data.
  ScheduleSpec spec() const;
  /// The schedule `spec` describes; throws SpecError for an unknown kind or constants the
  /// factories refuse.
  static Schedule from_spec(const ScheduleSpec& spec);

 private:
  enum class Kind { constant, step, exponential, cosine, warmup, list };
  Schedule() = default;
  Kind kind_ = Kind::constant;
  double alpha_ = 0.0;
  double factor_ = 1.0;
  double final_ = 0.0;
  std::int64_t every_ = 1;
  std::shared_ptr<const std::vector<double>> list_;
  std::shared_ptr<const Schedule> after_;
};

}  // namespace pk::nn
