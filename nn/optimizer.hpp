#pragma once
// Update rules, with PyTorch's conventions (torch.optim.SGD, Adam, AdamW) so that a run here and
// a torch.optim run from the same weights agree to rounding. Plain gradient descent without
// weight decay is the one whose step is a kernel sum over training points at w_k; every other
// rule's step is still a sum of per-training-point shares (kernel/optimizer_shares.hpp), but
// those shares carry state from earlier steps.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace pk::nn {

/// Which update rule.
enum class OptimizerKind { gradient_descent, momentum, adam, adamw };

/// The rule named `name` ("gradient_descent" or "gd", "momentum", "adam", "adamw"); throws
/// SpecError otherwise.
OptimizerKind parse_optimizer(std::string_view name);
/// The canonical name.
std::string_view optimizer_name(OptimizerKind kind);
/// True only for plain gradient descent (as a kind, before its constants are known).
bool has_kernel_form(OptimizerKind kind);

/// An update rule and its constants, as torch.optim has them (dampening 0):
///   g_k = grad L_k(w_k) + lambda w_k        (gradient descent, momentum, Adam: coupled decay)
///   momentum: b_k = mu b_{k-1} + g_k (b_0 = g_0), direction b_k or, Nesterov, g_k + mu b_k,
///             w_{k+1} = w_k - alpha_k direction
///   Adam:     m_k = b1 m_{k-1} + (1 - b1) g_k,  v_k = b2 v_{k-1} + (1 - b2) g_k^2,
///             w_{k+1} = w_k - alpha_k / (1 - b1^t) m_k / (sqrt(v_k) / sqrt(1 - b2^t) + eps), t = k + 1
///   AdamW:    Adam on grad L_k(w_k) alone, from the decayed weights w_k (1 - alpha_k lambda).
struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::gradient_descent;
  double momentum = 0.9;      // mu
  bool nesterov = false;      // Nesterov's direction g_k + mu b_k (momentum only)
  double weight_decay = 0.0;  // lambda
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;

  friend bool operator==(const OptimizerConfig&, const OptimizerConfig&) = default;
};

/// True when every step is -alpha_k sum_m J_k(x_m)^T L'_{k,m}: gradient descent, or momentum
/// with mu = 0, without weight decay.
bool has_kernel_form(const OptimizerConfig& config);

/// An update rule with its state for D parameters.
class Optimizer {
 public:
  /// Throws SpecError for constants outside their ranges (momentum and betas in [0, 1),
  /// epsilon > 0, weight decay >= 0 and finite, Nesterov only with momentum mu > 0).
  Optimizer(const OptimizerConfig& config, std::int64_t parameter_count);
  /// Writes w_{k+1} into `w_next` from w_k, the gradient of L_k at w_k (without weight decay)
  /// and alpha_k.
  void step(std::span<const double> w, std::span<const double> gradient, double alpha,
            std::span<double> w_next);
  OptimizerKind kind() const { return config_.kind; }
  const OptimizerConfig& config() const { return config_; }
  /// Steps taken so far.
  std::int64_t steps() const { return steps_; }
  /// Adam and AdamW, after a step: its divisor sqrt(v_k) / sqrt(1 - b2^t) + eps per parameter
  /// (the preconditioner is its reciprocal) and its step size alpha_k / (1 - b1^t).
  std::span<const double> adam_denominator() const { return denominator_; }
  double adam_step_size() const { return step_size_; }

 private:
  OptimizerConfig config_;
  std::vector<double> first_;        // momentum buffer b or first moment m
  std::vector<double> second_;       // second moment v (Adam)
  std::vector<double> denominator_;  // the last Adam step's divisor
  double step_size_ = 0.0;
  std::int64_t steps_ = 0;
};

}  // namespace pk::nn
