#pragma once
// What the per-step test T_c cannot see: remainders that are tiny at every step but add up.
// Sums of df, F1, F2 and the remainders over windows of steps and over the phases before and
// after the edge of stability, the window-level failure test ||sum R1|| > tau_w ||sum df||, and
// the onset of the edge of stability from the tracked sharpness.

#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "kernel/decomposition.hpp"
#include "nn/optimizer.hpp"

namespace pk::kernel {

/// Sums over the steps [start, end) for every query point and output (indexed q * C + c), each
/// taken step by step in order, so they depend on nothing but the report's per-step arrays.
struct StepRangeSums {
  std::int64_t start = 0, end = 0;
  std::vector<double> net_change;    // sum df = f(x; w_end) - f(x; w_start) up to rounding
  std::vector<double> first_order;   // sum F1
  std::vector<double> second_order;  // sum of the F2 that were computed
  std::vector<double> remainder1;    // sum R1
  std::vector<double> remainder2;    // sum R2 (R2 = R1 where F2 was not computed)
  std::vector<double> third_order;   // sum of the F3 that were computed; empty without them
  /// 2-norms over query points and outputs.
  double norm_net_change = 0.0, norm_remainder1 = 0.0, norm_remainder2 = 0.0;
  /// ||sum R3|| with R3 = R2 - F3 where F3 was computed (R2 elsewhere); NaN without F3.
  double norm_remainder3 = std::numeric_limits<double>::quiet_NaN();
  /// ||sum R1|| / ||sum df||, the first-order error relative to what the range changed, and the
  /// same after the second-order (and third-order) terms. NaN when the range changed nothing.
  double rel_error_first = 0.0, rel_error_second = 0.0;
  double rel_error_third = std::numeric_limits<double>::quiet_NaN();
  /// Over consecutive step pairs (k, k+1) inside the range and every query point and output:
  /// the fraction where df changes sign (a period-2 oscillation of the prediction). NaN with
  /// fewer than two steps.
  double sign_alternation = std::numeric_limits<double>::quiet_NaN();
};

/// The sums over steps [start, end) of the report.
StepRangeSums sum_steps(const DecompositionReport& report, std::int64_t start, std::int64_t end);

/// One window of the accumulated-remainder test.
struct WindowTotals {
  StepRangeSums sums;
  /// ||sum R1|| > tau_w * ||sum df||: the first-order picture fails over the window, whatever each
  /// step said.
  bool fails = false;
  /// <sum_window R1, E> / ||E||^2 with E = sum over the run of R1 (the final first-order error,
  /// f_N - f_0 - sum F1): this window's share of it. The shares add up to 1.
  double error_share = std::numeric_limits<double>::quiet_NaN();
};

/// About 20 windows: ceil(steps / 20) steps each (at least 1).
std::int64_t default_window(std::int64_t steps);

/// The windows [0, W), [W, 2W), ... (the last may be shorter) with W = `window` (0: the default).
/// Throws std::invalid_argument for a negative window or a non-positive tau_w.
std::vector<WindowTotals> window_totals(const DecompositionReport& report, std::int64_t window, double tau_w);

/// The sharpness above which the step's update is unstable on the quadratic model of the loss,
/// for the run's optimiser (stability_threshold: 2 / alpha for gradient descent, 2 (1 + mu) / alpha
/// for heavy-ball momentum, ...), and the sharpness of step k it is compared with (lambda_max(H_k),
/// or for Adam and AdamW the preconditioned lambda_max(P_k H_k)); NaN where not measured.
double sharpness_threshold(const pk::nn::OptimizerConfig& optimizer, double learning_rate);
double compared_sharpness(const DecompositionReport& report, std::int64_t step);

/// The edge of stability found in a report's sharpness measurements.
struct EdgeOfStability {
  double band = 0.0;
  std::int64_t measurements = 0;  // steps where sharpness was computed
  /// The first measured step from which every measurement has lambda_max / threshold within
  /// 1 +- band (at least two measurements); empty when not reached.
  std::optional<std::int64_t> onset_step;
  double lambda_at_onset = std::numeric_limits<double>::quiet_NaN();
  double threshold_at_onset = std::numeric_limits<double>::quiet_NaN();
  /// The largest alpha_k lambda_max measured, and where.
  double max_lr_times_lambda = std::numeric_limits<double>::quiet_NaN();
  /// Steps [0, onset) and [onset, N) (only when the onset was found).
  std::optional<StepRangeSums> before, after;
};

/// Finds the onset from the report's sharpness (needs options.sharpness_every > 0) and splits the
/// run's totals there.
EdgeOfStability edge_of_stability(const DecompositionReport& report, double band);

/// The cumulative picture for one query point and output: for k = 0..N, f(x; w_k) - f(x; w_0)
/// (as the sum of df_j for j < k), sum_{j<k} F1_j and sum_{j<k} (F1_j + F2_j) (F2 where computed).
struct CumulativePath {
  std::vector<double> actual, first_order, second_order;
};
CumulativePath cumulative_path(const DecompositionReport& report, std::int64_t query, std::int64_t output);

}  // namespace pk::kernel
