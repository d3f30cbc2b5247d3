#include "nn/schedule.hpp"

#include <charconv>
#include <cmath>
#include <numbers>
#include <sstream>
#include <utility>

#include "nn/deterministic_math.hpp"
#include "nn/error.hpp"

namespace pk::nn {

namespace {
void check_rate(double v, const char* what) {
  if (!std::isfinite(v) || v < 0.0) {
    std::ostringstream s;
    s << "schedule: " << what << " must be finite and >= 0, got " << v;
    throw SpecError(s.str());
  }
}
// The shortest text that reads back as v.
std::string number(double v) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

void check_length(std::int64_t n, const char* what) {
  if (n <= 0)
    throw SpecError(std::string("schedule: ") + what + " must be positive, got " + std::to_string(n));
}
}  // namespace

Schedule Schedule::constant(double alpha) {
  check_rate(alpha, "learning rate");
  Schedule s;
  s.kind_ = Kind::constant;
  s.alpha_ = alpha;
  return s;
}

Schedule Schedule::step(double alpha, std::int64_t every, double factor) {
  check_rate(alpha, "learning rate");
  check_rate(factor, "step factor");
  check_length(every, "step interval");
  Schedule s;
  s.kind_ = Kind::step;
  s.alpha_ = alpha;
  s.every_ = every;
  s.factor_ = factor;
  return s;
}

Schedule Schedule::exponential(double alpha, double rate) {
  check_rate(alpha, "learning rate");
  check_rate(rate, "decay rate");
  Schedule s;
  s.kind_ = Kind::exponential;
  s.alpha_ = alpha;
  s.factor_ = rate;
  return s;
}

Schedule Schedule::cosine(double alpha, std::int64_t steps, double final_alpha) {
  check_rate(alpha, "learning rate");
  check_rate(final_alpha, "final learning rate");
  check_length(steps, "cosine length");
  Schedule s;
  s.kind_ = Kind::cosine;
  s.alpha_ = alpha;
  s.every_ = steps;
  s.final_ = final_alpha;
  return s;
}

Schedule Schedule::linear_warmup(std::int64_t warmup, Schedule after) {
  check_length(warmup, "warm-up length");
  Schedule s;
  s.kind_ = Kind::warmup;
  s.every_ = warmup;
  s.after_ = std::make_shared<const Schedule>(std::move(after));
  return s;
}

Schedule Schedule::explicit_steps(std::vector<double> alphas) {
  if (alphas.empty()) throw SpecError("schedule: an explicit list needs at least one rate");
  for (const double a : alphas) check_rate(a, "explicit learning rate");
  Schedule s;
  s.kind_ = Kind::list;
  s.list_ = std::make_shared<const std::vector<double>>(std::move(alphas));
  return s;
}

double Schedule::operator()(std::int64_t k) const {
  if (k < 0) throw SpecError("schedule: negative step " + std::to_string(k));
  switch (kind_) {
    case Kind::constant:
      return alpha_;
    case Kind::step:
      return alpha_ * detail::powi(factor_, k / every_);
    case Kind::exponential:
      return alpha_ * detail::powi(factor_, k);
    case Kind::cosine: {
      if (k >= every_) return final_;
      const double phase = std::numbers::pi * static_cast<double>(k) / static_cast<double>(every_);
      return final_ + (alpha_ - final_) * 0.5 * (1.0 + detail::cos(phase));
    }
    case Kind::warmup:
      if (k < every_) return (*after_)(0) * static_cast<double>(k + 1) / static_cast<double>(every_);
      return (*after_)(k - every_);
    case Kind::list:
      if (k >= static_cast<std::int64_t>(list_->size()))
        throw SpecError("schedule: step " + std::to_string(k) + " is past the explicit list of " +
                        std::to_string(list_->size()) + " rates");
      return (*list_)[static_cast<std::size_t>(k)];
  }
  return 0.0;
}

std::int64_t Schedule::length() const {
  if (kind_ == Kind::list) return static_cast<std::int64_t>(list_->size());
  if (kind_ == Kind::warmup) {
    const std::int64_t n = after_->length();
    return n < 0 ? -1 : every_ + n;
  }
  return -1;
}

std::string Schedule::describe() const {
  switch (kind_) {
    case Kind::constant:
      return "constant(" + number(alpha_) + ")";
    case Kind::step:
      return "step(" + number(alpha_) + ", every " + std::to_string(every_) + ", x" + number(factor_) + ")";
    case Kind::exponential:
      return "exponential(" + number(alpha_) + ", x" + number(factor_) + " per step)";
    case Kind::cosine:
      return "cosine(" + number(alpha_) + ", " + std::to_string(every_) + " steps, to " + number(final_) +
             ")";
    case Kind::warmup:
      return "linear_warmup(" + std::to_string(every_) + " steps, then " + after_->describe() + ")";
    case Kind::list:
      return "explicit(" + std::to_string(list_->size()) + " rates)";
  }
  return "?";
}

ScheduleSpec Schedule::spec() const {
  ScheduleSpec s;
  switch (kind_) {
    case Kind::constant:
      s.kind = "constant";
      break;
    case Kind::step:
      s.kind = "step";
      break;
    case Kind::exponential:
      s.kind = "exponential";
      break;
    case Kind::cosine:
      s.kind = "cosine";
      break;
    case Kind::warmup:
      s.kind = "warmup";
      break;
    case Kind::list:
      s.kind = "explicit";
      break;
  }
  if (kind_ == Kind::list) {
    s.rates = *list_;
    return s;
  }
  if (kind_ == Kind::warmup) {
    s.length = every_;
    s.after = std::make_shared<const ScheduleSpec>(after_->spec());
    return s;
  }
  s.alpha = alpha_;
  s.factor = factor_;
  s.final_alpha = final_;
  s.length = every_;
  return s;
}

Schedule Schedule::from_spec(const ScheduleSpec& s) {
  if (s.kind == "constant") return constant(s.alpha);
  if (s.kind == "step") return step(s.alpha, s.length, s.factor);
  if (s.kind == "exponential") return exponential(s.alpha, s.factor);
  if (s.kind == "cosine") return cosine(s.alpha, s.length, s.final_alpha);
  if (s.kind == "explicit") return explicit_steps(s.rates);
  if (s.kind == "warmup") {
    if (!s.after) throw SpecError("schedule: a warm-up needs the schedule that follows it");
    return linear_warmup(s.length, from_spec(*s.after));
  }
  throw SpecError("schedule: unknown kind '" + s.kind +
                  "' (constant, step, exponential, cosine, warmup, explicit)");
}

}  // namespace pk::nn
