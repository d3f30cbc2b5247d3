#pragma once
// Every optimiser's step as a sum of per-training-point shares (docs/mathematics.md, "Attribution
// under momentum and Adam"):
//   dw_k = sum_m c_{k,m} + c_{k,reg},
// c_{k,m} linear in point m's per-sample gradients v_{j,m} = J_j(x_m)^T L'_{j,m} of the steps
// j <= k, c_{k,reg} the weight decay's share. Momentum's per-sample buffers follow the recurrence
// of its buffer; Adam's per-sample first moments follow that of m_k, divided by the step's
// preconditioner, which is taken as given (it depends on every past squared gradient, so it is
// no sum over points). Then A_m(x) = sum_k J_k(x) c_{k,m} and A_reg(x) add up to sum_k F1_k(x).
//
// The sums run forward in time with per-point state (M x D), so the decomposition can follow a
// run as it trains; kernel/attribution_backward.hpp runs the same sums backwards with per-query
// state and uses this class's replay (without per-point state) for Adam's preconditioners. Also
// here: the stability threshold of each optimiser and the preconditioned sharpness that Adam's
// threshold applies to.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "autodiff/functional.hpp"
#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"
#include "nn/loss.hpp"
#include "nn/model.hpp"
#include "nn/optimizer.hpp"

namespace pk::kernel {

/// The largest curvature at which the optimiser's step is stable on a quadratic, for learning
/// rate `alpha`, expressed for the sharpness it is compared with:
///   gradient descent                    2 / alpha - lambda
///   heavy-ball momentum                 2 (1 + mu) / alpha - lambda
///   Nesterov (PyTorch's form)           2 (1 + mu) / ((1 + 2 mu) alpha) - lambda
///   Adam, AdamW (Cohen et al. 2022)     (2 + 2 beta1) / ((1 - beta1) alpha)
/// The first three compare with lambda_max(H_k) of the training loss (coupled weight decay adds
/// lambda to every curvature the step sees, hence "- lambda"); Adam's compares with the
/// preconditioned sharpness of `preconditioned_sharpness`. Throws std::invalid_argument for
/// alpha <= 0.
double stability_threshold(const pk::nn::OptimizerConfig& config, double alpha);

/// True for Adam and AdamW, whose threshold applies to lambda_max(P_k H_k) rather than to
/// lambda_max(H_k).
bool threshold_is_preconditioned(const pk::nn::OptimizerConfig& config);

/// lambda_max(P (H + lambda_c I)) with P = diag(1 / denominator), H the Hessian of `loss` at w
/// and lambda_c Adam's coupled weight decay (0 for AdamW): P H is similar to the symmetric
/// P^(1/2) H P^(1/2), which is the Hessian of u -> loss(P^(1/2) u) at u = P^(-1/2) w, so this is
/// plain Lanczos sharpness in those coordinates.
double preconditioned_sharpness(pk::ad::Function loss, const pk::ad::Tensor& w,
                                std::span<const double> denominator, double coupled_decay, int max_iterations,
                                double tolerance, pk::ad::Tape* workspace);

/// The rows of `inputs` (M x F) that `batch` names, |B| x F; throws std::out_of_range naming
/// `step` for a row outside [0, M).
pk::ad::Tensor batch_rows(const pk::ad::Tensor& inputs, std::span<const std::int64_t> batch,
                          std::int64_t step);

/// The per-sample gradients v_{k,m} = J_k(x_m)^T L'_{k,m} of a batch at w: |B| x D row-major, from
/// the batch's inputs (|B| x F) and L' (|B| x C).
std::vector<double> per_sample_gradients(const pk::nn::Model& model, const pk::ad::Tensor& batch_inputs,
                                         const pk::ad::Tensor& w, pk::ad::TensorView output_derivatives,
                                         pk::ad::Tape& tape);

/// The shares of each step of a run, computed forward in time from per-sample gradients. Feed it
/// the steps in order; after `add_step(k)` it holds c_{k,m} and c_{k,reg}.
class OptimizerShares {
 public:
  /// `training_inputs` is M x F, the rows the run's batches index. With `per_point` false it
  /// only replays the optimiser (checking the run and giving Adam's preconditioner) and holds no
  /// per-point state: `share`, `active` and the closure are then not available.
  OptimizerShares(pk::nn::Model model, const pk::nn::OptimizerConfig& config, pk::ad::Tensor training_inputs,
                  bool per_point = true);

  /// What `state_bytes` comes to for M points, D parameters and batches of at most `batch`
  /// points, without building the object (the forward side of the automatic choice).
  static std::int64_t state_bytes_for(const pk::nn::OptimizerConfig& config, std::int64_t m, std::int64_t d,
                                      std::int64_t batch, bool per_point = true);

  /// Step k from w_k, w_{k+1}, alpha_k, its batch and L'_{k,m} (|B_k| x C). Replays the
  /// optimiser from the batch gradient (taken as the trainer takes it) for Adam's preconditioner;
  /// throws std::runtime_error naming the step when the replay misses the recorded w_{k+1} by
  /// more than 1e-9 of the step's size (a trajectory that another rule or other constants made).
  void add_step(std::int64_t step, pk::ad::TensorView w, pk::ad::TensorView w_next, double alpha,
                std::span<const std::int64_t> batch, pk::ad::TensorView output_derivatives,
                pk::ad::Tape& tape);

  std::int64_t parameter_count() const { return d_; }
  std::int64_t training_points() const { return m_; }
  /// Whether c_{k,m} may be non-zero (point m was in some batch so far, or in this one).
  bool active(std::int64_t m) const { return per_point_ && active_[static_cast<std::size_t>(m)] != 0; }
  /// c_{k,m}, D numbers.
  std::span<const double> share(std::int64_t m) const;
  /// c_{k,reg}, D numbers (zero without weight decay).
  std::span<const double> regularizer_share() const { return regularizer_share_; }
  bool has_regularizer() const { return config_.weight_decay != 0.0; }
  bool per_point() const { return per_point_; }
  /// Adam's divisor sqrt(v_k) / sqrt(1 - b2^t) + eps of this step; empty for the other rules.
  std::span<const double> adam_denominator() const { return replay_.adam_denominator(); }
  /// Adam's alpha_k / (1 - b1^(k+1)) of this step.
  double adam_step_size() const { return replay_.adam_step_size(); }
  /// max over the steps so far of |sum_m c_{k,m} + c_{k,reg} - (w_{k+1} - w_k)|_inf / |w_{k+1} - w_k|_inf.
  double closure_error() const { return closure_error_; }
  /// Bytes of per-point and per-step state held.
  std::int64_t state_bytes() const;

 private:
  void check_replay(std::int64_t step, double replay_gap, double size) const;
  pk::nn::Model model_;
  pk::nn::OptimizerConfig config_;
  pk::ad::Tensor inputs_;
  std::int64_t m_ = 0, d_ = 0, c_ = 0, features_ = 0, next_step_ = 0, max_batch_ = 0;
  bool per_point_ = true;
  pk::nn::Optimizer replay_;
  std::vector<double> state_;   // M x D: per-point momentum buffers or first moments
  std::vector<double> shares_;  // M x D: c_{k,m}
  std::vector<double> regularizer_state_, regularizer_share_;  // D each
  std::vector<double> gradients_;                              // |B_k| x D: v_{k,m} for the batch
  std::vector<double> replayed_;                               // D: the replayed w_{k+1}
  std::vector<std::uint8_t> active_;
  double closure_error_ = 0.0;
};

/// Adds J(x) c for every query row of `jacobians` ((P*C) x D, rows q*C + c) and every active
/// point's share to `attribution` ((q*C + c) * M + m), and the regulariser's to `regularizer`
/// (P*C), each product scaled by `weight`.
void accumulate_shares(const pk::ad::Tensor& jacobians, const OptimizerShares& shares, double weight,
                       std::span<double> attribution, std::span<double> regularizer);

}  // namespace pk::kernel
