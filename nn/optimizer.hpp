#pragma once
// Update rules. Plain gradient descent, w_{k+1} = w_k - alpha_k grad L_k(w_k), is the one whose
// step is a kernel sum over training points at w_k (DESIGN.md); momentum and Adam carry state
// from earlier steps, so their dw_k is not, and they are marked as such.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace pk::nn {

/// Which update rule.
enum class OptimizerKind { gradient_descent, momentum, adam };

/// The rule named `name` ("gradient_descent" or "gd", "momentum", "adam"); throws SpecError
/// otherwise.
OptimizerKind parse_optimizer(std::string_view name);
/// The canonical name.
std::string_view optimizer_name(OptimizerKind kind);
/// True only for plain gradient descent: dw_k = -alpha_k sum_m J_k(x_m)^T L'_{k,m}.
bool has_kernel_form(OptimizerKind kind);

/// An update rule and its constants. Momentum is PyTorch's SGD form: v <- mu v + g,
/// w <- w - alpha v (v_0 = 0). Adam is Kingma and Ba's with bias correction:
/// m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2, w <- w - alpha m^ / (sqrt(v^) + eps).
struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::gradient_descent;
  double momentum = 0.9;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;

  friend bool operator==(const OptimizerConfig&, const OptimizerConfig&) = default;
};

/// An update rule with its state for D parameters.
class Optimizer {
 public:
  /// Throws SpecError for constants outside their ranges (momentum and betas in [0, 1),
  /// epsilon > 0).
  Optimizer(const OptimizerConfig& config, std::int64_t parameter_count);
  /// Writes w_{k+1} into `w_next` from w_k, the gradient of L_k at w_k and alpha_k.
  void step(std::span<const double> w, std::span<const double> gradient, double alpha,
            std::span<double> w_next);
  OptimizerKind kind() const { return config_.kind; }
  const OptimizerConfig& config() const { return config_; }

 private:
  OptimizerConfig config_;
  std::vector<double> first_;   // velocity (momentum) or first moment (Adam)
  std::vector<double> second_;  // second moment (Adam)
  double beta1_power_ = 1.0;    // b1^t, kept as a product so no pow is needed
  double beta2_power_ = 1.0;
};

}  // namespace pk::nn
