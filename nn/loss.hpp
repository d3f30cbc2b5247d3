#pragma once
// Losses over a batch B of outputs y_m = f(x_m; w) (|B| x C) and targets, with their output
// derivatives exactly as docs/mathematics.md defines them:
//
//   L = (1/|B|) sum_{m in B} l(y*_m, y_m),      L'_m = dL/dy_m = (1/|B|) dl/dy (y*_m, y_m)
//
// so the 1/|B| is inside L'. Per-sample losses l and their derivatives:
//
//   mse                    l = 1/2 |y - y*|^2                       dl/dy = y - y*
//   binary_cross_entropy   l = sum_c softplus(y_c) - y*_c y_c       dl/dy = sigmoid(y) - y*
//                          (y are logits, y* in [0, 1]; softplus(z) = max(z, 0) + ln(1 + e^-|z|))
//   softmax_cross_entropy  l = logsumexp(y) - y_t                   dl/dy = softmax(y) - e_t
//                          (y are logits, the target t an integer class in [0, C))
//
// Every form is evaluated without overflow for logits of any finite size.

#include <cstdint>
#include <span>
#include <string_view>

#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"

namespace pk::nn {

/// Which per-sample loss.
enum class LossKind { mse, binary_cross_entropy, softmax_cross_entropy };

/// The loss named `name`: "mse", "binary_cross_entropy" (or "bce"), "softmax_cross_entropy"
/// (or "cross_entropy"); throws SpecError listing the names otherwise.
LossKind parse_loss(std::string_view name);

/// A training loss with its output derivatives.
class Loss {
 public:
  explicit Loss(LossKind kind) : kind_(kind) {}
  LossKind kind() const { return kind_; }
  /// The canonical name, as `parse_loss` accepts it.
  std::string_view name() const;

  /// Target columns needed with C model outputs: C for mse and binary cross-entropy, 1 (the class
  /// index) for softmax cross-entropy.
  std::int64_t target_dim(std::int64_t outputs) const;
  /// Throws SpecError unless `targets` (rows x target_dim) suit C = `outputs` model outputs:
  /// finite; in [0, 1] for binary cross-entropy; whole numbers in [0, C) for softmax
  /// cross-entropy (C >= 2). The message names the first bad row and column (0-based).
  void check_targets(ad::TensorView targets, std::int64_t outputs) const;

  /// l(y*_m, y_m) for each row: a vector of |B|.
  ad::Tensor sample_losses(ad::TensorView outputs, ad::TensorView targets) const;
  /// L, the mean of the per-sample losses.
  double value(ad::TensorView outputs, ad::TensorView targets) const;
  /// L as a recorded scalar built from autodiff ops on the recorded outputs, so gradients and
  /// Hessian-vector products of the training loss can be taken through it.
  ad::Var value(ad::Var outputs, ad::TensorView targets) const;
  /// L'_m for each row: |B| x C, the 1/|B| included.
  ad::Tensor output_derivative(ad::TensorView outputs, ad::TensorView targets) const;
  /// L and L' in one pass, L' written row-major into `derivative` (|B| * C elements): the form
  /// the trainer uses, which allocates nothing.
  double value_and_derivative(ad::TensorView outputs, ad::TensorView targets,
                              std::span<double> derivative) const;

 private:
  void check_shapes(const ad::Shape& outputs, const ad::Shape& targets, const char* what) const;
  LossKind kind_;
};

}  // namespace pk::nn
