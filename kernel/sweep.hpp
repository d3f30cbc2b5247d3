#pragma once
// How far the path-kernel picture holds as the learning rate grows: the same network trained
// from the same weights at a range of learning rates with alpha * N fixed, each run decomposed.

#include <cstdint>
#include <functional>
#include <vector>

#include "autodiff/tensor.hpp"
#include "kernel/decomposition.hpp"
#include "nn/dataset.hpp"
#include "nn/loss.hpp"
#include "nn/model.hpp"
#include "nn/trainer.hpp"

namespace pk::kernel {

/// The sweep's plan.
struct SweepOptions {
  /// Learning rates as fractions of the stability limit at w_0: the alpha at which the
  /// optimiser's stability_threshold equals lambda_max(w_0) (2 / lambda_max for gradient descent,
  /// 2 (1 + mu) / lambda_max for heavy-ball momentum). Adam's threshold applies to a
  /// preconditioned sharpness that does not exist before its first step, so its runs use
  /// 2 / lambda_max as the scale.
  std::vector<double> lr_fractions{1.0 / 64, 1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0 / 2, 0.9};
  /// alpha * N, the same for every run ("training time"). 0 picks `min_steps` * the largest
  /// learning rate, so the fastest run takes `min_steps` steps.
  double lr_times_steps = 0.0;
  std::int64_t min_steps = 20;
  /// The update rule and its constants for every run.
  pk::nn::OptimizerConfig optimizer{};
  /// Mini-batches (default full batch) for every run.
  pk::nn::BatchConfig batches{};
  /// How each run is decomposed.
  DecompositionOptions decomposition{};
  /// The slopes are also fitted over the runs with alpha * lambda_max at most this, where the
  /// Taylor expansion in the learning rate is expected to hold.
  double small_lr_limit = 0.25;
  /// Independent runs at once; results do not depend on it.
  int threads = 1;
  /// Called after each finished run with (finished, total), from the calling thread's workers;
  /// may be empty.
  std::function<void(std::size_t, std::size_t)> progress;
};

/// One run of the sweep.
struct SweepRun {
  double learning_rate = 0.0;
  std::int64_t steps = 0;
  double lr_times_lambda = 0.0;  // alpha * lambda_max(w_0)
  pk::nn::TrainingStatus status = pk::nn::TrainingStatus::completed;
  double final_loss = 0.0;
  /// ||f_N - f_0 - sum F1|| / ||f_N - f_0|| over every query point and output (2-norms).
  double rel_error_first = 0.0;
  /// The same after adding every second-order term that was computed.
  double rel_error_second = 0.0;
  /// The same after adding the second-order terms of the complex steps only (the T_c picture).
  double rel_error_complex = 0.0;
  ComplexStepStats complex;     // pooled over queries and outputs
  double exact_error = 0.0;     // exact_identity_error() (NaN without the exact kernel)
  double identity_error = 0.0;  // run_identity_error()
  DecompositionReport report;
};

/// The sweep's outcome.
struct SweepResult {
  double lambda_max = 0.0;       // sharpness of the training loss at w_0
  double stability_limit = 0.0;  // the learning rate at the threshold (SweepOptions::lr_fractions)
  double lr_times_steps = 0.0;
  std::vector<SweepRun> runs;  // in order of increasing learning rate
  /// Least-squares slopes of log(error) against log(learning rate) over the completed runs with
  /// positive errors (NaN with fewer than two): about 1 and 2 while the expansion holds.
  double slope_first = 0.0, slope_second = 0.0;
  /// The same over the runs with alpha * lambda_max <= small_lr_limit.
  double slope_first_small = 0.0, slope_second_small = 0.0;
  double small_lr_limit = 0.0;
};

/// Runs the sweep. `queries` are the points whose predictions are decomposed.
SweepResult learning_rate_sweep(const pk::nn::Model& model, const pk::nn::Loss& loss,
                                const pk::nn::Dataset& data, const pk::ad::Tensor& queries,
                                const pk::ad::Tensor& initial_weights, const SweepOptions& options);

/// The least-squares slope of log y on log x over the pairs with positive finite x and y
/// (NaN with fewer than two such pairs).
double log_log_slope(const std::vector<double>& x, const std::vector<double>& y);

/// Which second-order terms a corrected prediction adds.
enum class Correction {
  none,           // f_0 + sum F1: the first-order path kernel
  complex_steps,  // plus F2 on the steps flagged complex for that point and output
  all_steps,      // plus every F2 that was computed
};

/// ||f_N - f_0 - sum F1 (- the chosen F2)|| / ||f_N - f_0|| over every query point and output.
double relative_error(const DecompositionReport& report, Correction correction);
/// ||miss|| / ||learned|| as relative_error takes it (2-norms scaled by their largest entry,
/// infinite for a non-finite entry); NaN when nothing was learned.
double relative_norm(const std::vector<double>& miss, const std::vector<double>& learned);

}  // namespace pk::kernel
