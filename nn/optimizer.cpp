#include "nn/optimizer.hpp"

#include <cmath>
#include <string>

#include "nn/error.hpp"

namespace pk::nn {

OptimizerKind parse_optimizer(std::string_view name) {
  if (name == "gradient_descent" || name == "gd") return OptimizerKind::gradient_descent;
  if (name == "momentum") return OptimizerKind::momentum;
  if (name == "adam") return OptimizerKind::adam;
  throw SpecError("unknown optimiser '" + std::string(name) +
                  "' (known: gradient_descent or gd, momentum, adam)");
}

std::string_view optimizer_name(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::gradient_descent: return "gradient_descent";
    case OptimizerKind::momentum: return "momentum";
    case OptimizerKind::adam: return "adam";
  }
  return "?";
}

bool has_kernel_form(OptimizerKind kind) { return kind == OptimizerKind::gradient_descent; }

Optimizer::Optimizer(const OptimizerConfig& config, std::int64_t parameter_count) : config_(config) {
  auto in_unit = [](double v) { return v >= 0.0 && v < 1.0; };
  if (parameter_count <= 0) throw SpecError("optimiser: no parameters");
  if (config.kind == OptimizerKind::momentum) {
    if (!in_unit(config.momentum))
      throw SpecError("momentum: coefficient must be in [0, 1), got " + std::to_string(config.momentum));
    first_.assign(static_cast<std::size_t>(parameter_count), 0.0);
  }
  if (config.kind == OptimizerKind::adam) {
    if (!in_unit(config.beta1) || !in_unit(config.beta2))
      throw SpecError("adam: beta1 and beta2 must be in [0, 1), got " + std::to_string(config.beta1) +
                      " and " + std::to_string(config.beta2));
    if (!(config.epsilon > 0.0) || !std::isfinite(config.epsilon))
      throw SpecError("adam: epsilon must be positive, got " + std::to_string(config.epsilon));
    first_.assign(static_cast<std::size_t>(parameter_count), 0.0);
    second_.assign(static_cast<std::size_t>(parameter_count), 0.0);
  }
}

void Optimizer::step(std::span<const double> w, std::span<const double> gradient, double alpha,
                     std::span<double> w_next) {
  const std::size_t d = w.size();
  if (gradient.size() != d || w_next.size() != d)
    throw SpecError("optimiser step: parameter, gradient and result lengths differ");
  switch (config_.kind) {
    case OptimizerKind::gradient_descent:
      for (std::size_t i = 0; i < d; ++i) w_next[i] = w[i] - alpha * gradient[i];
      return;
    case OptimizerKind::momentum: {
      const double mu = config_.momentum;
      for (std::size_t i = 0; i < d; ++i) {
        first_[i] = mu * first_[i] + gradient[i];
        w_next[i] = w[i] - alpha * first_[i];
      }
      return;
    }
    case OptimizerKind::adam: {
      const double b1 = config_.beta1, b2 = config_.beta2;
      beta1_power_ *= b1;
      beta2_power_ *= b2;
      const double c1 = 1.0 / (1.0 - beta1_power_), c2 = 1.0 / (1.0 - beta2_power_);
      for (std::size_t i = 0; i < d; ++i) {
        const double g = gradient[i];
        first_[i] = b1 * first_[i] + (1.0 - b1) * g;
        second_[i] = b2 * second_[i] + (1.0 - b2) * g * g;
        w_next[i] = w[i] - alpha * (first_[i] * c1) / (std::sqrt(second_[i] * c2) + config_.epsilon);
      }
      return;
    }
  }
}

}  // namespace pk::nn
