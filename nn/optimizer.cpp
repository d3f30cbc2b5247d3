#include "nn/optimizer.hpp"

#include <cmath>
#include <string>

#include "nn/error.hpp"

namespace pk::nn {

OptimizerKind parse_optimizer(std::string_view name) {
  if (name == "gradient_descent" || name == "gd") return OptimizerKind::gradient_descent;
  if (name == "momentum") return OptimizerKind::momentum;
  if (name == "adam") return OptimizerKind::adam;
  if (name == "adamw") return OptimizerKind::adamw;
  throw SpecError("unknown optimiser '" + std::string(name) +
                  "' (known: gradient_descent or gd, momentum, adam, adamw)");
}

std::string_view optimizer_name(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::gradient_descent:
      return "gradient_descent";
    case OptimizerKind::momentum:
      return "momentum";
    case OptimizerKind::adam:
      return "adam";
    case OptimizerKind::adamw:
      return "adamw";
  }
  return "?";
}

bool has_kernel_form(OptimizerKind kind) { return kind == OptimizerKind::gradient_descent; }

bool has_kernel_form(const OptimizerConfig& config) {
  if (config.weight_decay != 0.0) return false;
  return config.kind == OptimizerKind::gradient_descent ||
         (config.kind == OptimizerKind::momentum && config.momentum == 0.0);
}

Optimizer::Optimizer(const OptimizerConfig& config, std::int64_t parameter_count) : config_(config) {
  auto in_unit = [](double v) { return v >= 0.0 && v < 1.0; };
  if (parameter_count <= 0) throw SpecError("optimiser: no parameters");
  const std::string name(optimizer_name(config.kind));
  if (!(config.weight_decay >= 0.0) || !std::isfinite(config.weight_decay))
    throw SpecError(name + ": weight decay must be finite and >= 0, got " +
                    std::to_string(config.weight_decay));
  if (config.nesterov && !(config.kind == OptimizerKind::momentum && config.momentum > 0.0))
    throw SpecError(name + ": Nesterov's direction needs the momentum optimiser with a coefficient > 0");
  const auto d = static_cast<std::size_t>(parameter_count);
  if (config.kind == OptimizerKind::momentum) {
    if (!in_unit(config.momentum))
      throw SpecError("momentum: coefficient must be in [0, 1), got " + std::to_string(config.momentum));
    first_.assign(d, 0.0);
  }
  if (config.kind == OptimizerKind::adam || config.kind == OptimizerKind::adamw) {
    if (!in_unit(config.beta1) || !in_unit(config.beta2))
      throw SpecError(name + ": beta1 and beta2 must be in [0, 1), got " + std::to_string(config.beta1) +
                      " and " + std::to_string(config.beta2));
    if (!(config.epsilon > 0.0) || !std::isfinite(config.epsilon))
      throw SpecError(name + ": epsilon must be positive, got " + std::to_string(config.epsilon));
    first_.assign(d, 0.0);
    second_.assign(d, 0.0);
    denominator_.assign(d, 0.0);
  }
}

// Each line repeats the operations of torch.optim (1.13, single-tensor path) in their order, so
// that the two round alike: a + alpha * b for Tensor.add(b, alpha=...), a + value * b * c for
// addcmul, a + value * b / c for addcdiv.
void Optimizer::step(std::span<const double> w, std::span<const double> gradient, double alpha,
                     std::span<double> w_next) {
  const std::size_t d = w.size();
  if (gradient.size() != d || w_next.size() != d)
    throw SpecError("optimiser step: parameter, gradient and result lengths differ");
  const double lambda = config_.weight_decay;
  const bool coupled = lambda != 0.0 && config_.kind != OptimizerKind::adamw;
  auto decayed_gradient = [&](std::size_t i) { return coupled ? gradient[i] + lambda * w[i] : gradient[i]; };
  const bool first_step = steps_ == 0;
  ++steps_;
  switch (config_.kind) {
    case OptimizerKind::gradient_descent:
      for (std::size_t i = 0; i < d; ++i) w_next[i] = w[i] + -alpha * decayed_gradient(i);
      return;
    case OptimizerKind::momentum: {
      const double mu = config_.momentum;
      for (std::size_t i = 0; i < d; ++i) {
        const double g = decayed_gradient(i);
        first_[i] = first_step ? g : mu * first_[i] + g;
        const double direction = config_.nesterov ? g + mu * first_[i] : first_[i];
        w_next[i] = w[i] + -alpha * direction;
      }
      return;
    }
    case OptimizerKind::adam:
    case OptimizerKind::adamw: {
      const double b1 = config_.beta1, b2 = config_.beta2;
      const auto t = static_cast<double>(steps_);
      // torch computes beta ** step with the C library's pow, not as a running product.
      const double correction1 = 1.0 - std::pow(b1, t), correction2 = 1.0 - std::pow(b2, t);
      step_size_ = alpha / correction1;
      const double correction2_sqrt = std::sqrt(correction2);
      const double shrink = config_.kind == OptimizerKind::adamw ? 1.0 - alpha * lambda : 1.0;
      for (std::size_t i = 0; i < d; ++i) {
        const double g = decayed_gradient(i);
        first_[i] = first_[i] * b1 + (1.0 - b1) * g;
        second_[i] = second_[i] * b2 + (1.0 - b2) * g * g;
        denominator_[i] = std::sqrt(second_[i]) / correction2_sqrt + config_.epsilon;
        const double start = config_.kind == OptimizerKind::adamw ? w[i] * shrink : w[i];
        w_next[i] = start + -step_size_ * first_[i] / denominator_[i];
      }
      return;
    }
  }
}

}  // namespace pk::nn
