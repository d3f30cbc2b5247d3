#pragma once
// The per-step decomposition of a training run's change of the model's predictions at query
// points (docs/mathematics.md): for every step k, query point x and output,
//   df_k = f(x; w_{k+1}) - f(x; w_k),   F1_k = J_k(x) dw_k,   F2_k = 1/2 dw_k^T H_k(x) dw_k,
//   R1_k = df_k - F1_k,   R2_k = df_k - F1_k - F2_k,
// the complex steps T_c = { k : |R1_k| > tau max(|df_k|, eps) }, the exact (integrated) path
// kernel's change by quadrature, attributions to training points, and sharpness. It runs online
// as a training observer or offline over a recorded trajectory, with the same code per step.

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"
#include "kernel/attribution_method.hpp"
#include "kernel/optimizer_shares.hpp"
#include "nn/loss.hpp"
#include "nn/model.hpp"
#include "nn/optimizer.hpp"
#include "nn/trainer.hpp"
#include "nn/trajectory.hpp"

namespace pk::kernel {

/// When the explicit second-order term F2 is computed.
enum class SecondOrderMode {
  none,           // never
  complex_steps,  // at the entries (step, query point, output) of T_c: where the linear
                  // approximation of that point's output fails at that step
  every_step,     // at every step
};
/// "none", "complex" or "every"; throws std::invalid_argument otherwise.
SecondOrderMode parse_second_order_mode(std::string_view name);
std::string_view second_order_mode_name(SecondOrderMode mode);

/// What to compute besides df and F1.
struct DecompositionOptions {
  SecondOrderMode second_order = SecondOrderMode::complex_steps;
  /// tau of T_c: a step is complex for (x, output) when |R1| > tau * max(|df|, eps, noise), with
  /// noise = 16 eps_machine max(|f(x; w_k)|, |f(x; w_{k+1})|), the rounding df itself carries
  /// (and always when R1 is not finite).
  double tau = 0.1;
  double eps = 1e-12;
  /// The exact path kernel by adaptive Gauss-Legendre quadrature along each step.
  bool exact_kernel = true;
  double exact_tolerance = 1e-10;
  int exact_max_nodes = 64;
  /// Attribution to training points: A_m for every optimiser, and Domingos' K^p for plain
  /// gradient descent (one tangent kernel between the query points and the training set per
  /// step); other rules attribute through their per-point shares (optimizer_shares.hpp).
  bool attribution = true;
  /// The exact attribution, sum_k Jbar_k(x) c_{k,m} with the integrated Jacobian of each step
  /// (on the exact kernel's quadrature nodes): per-sample Jacobians of the query points at every
  /// node, so off unless asked for. Needs `exact_kernel`.
  bool exact_attribution = false;
  /// How the attribution through the optimiser's shares (and the exact attribution) runs:
  /// forward in time with per-point state, backward with per-query state (`decompose` only: it
  /// needs the steps in reverse), or `automatic`, the one with less state
  /// (kernel/attribution_method.hpp). The results agree to rounding.
  AttributionMethod attribution_method = AttributionMethod::automatic;
  /// Sharpness (top Hessian eigenvalue of the training loss) every this many steps; 0: never.
  std::int64_t sharpness_every = 0;
  /// Lanczos steps at most, and the relative change of the estimate that stops it (the same
  /// settings everywhere sharpness is reported: the sweep, the decomposition, the command).
  int lanczos_iterations = 60;
  double lanczos_tolerance = 1e-8;
  /// 3: also the third-order term F3 = 1/6 D^3 f[dw, dw, dw] and R3 = R2 - F3, wherever F2 is
  /// computed. 2 (the default) leaves the reports as they were.
  int order = 2;
  /// Steps per window of the accumulated remainders (kernel/accumulation.hpp); 0 picks about 20
  /// windows from the number of steps.
  std::int64_t window = 0;
  /// A window fails when ||sum R1|| > window_tau * ||sum df|| over its steps (norms over query
  /// points and outputs).
  double window_tau = 0.1;
  /// The edge of stability is reached from the first sharpness measurement after which every
  /// alpha_k lambda_max / threshold stays within 1 +- eos_band (threshold 2 for gradient descent).
  double eos_band = 0.1;
  /// The query point whose F2 is split into pairs (m, n) of training points; -1: none.
  std::int64_t pair_query = -1;
  /// How many of the largest pairs to keep.
  int pair_count = 10;
  /// Query points are decomposed in independent pieces of this many (batched within a piece).
  /// Results depend on neither it nor `threads`: F2 is kept per entry of T_c and the quadrature
  /// converges per query point.
  std::int64_t query_chunk = 64;
  /// Pieces decomposed at once by `decompose` (offline); the online observer works on the
  /// training thread.
  int threads = 1;
};

/// Steps per block: the streaming decomposition hands over rows a block at a time, and every sum
/// over steps that a report keeps whole (the attribution) is taken per block of these steps,
/// numbered from step 0, and the blocks added in order, so a range of steps starting on a block
/// boundary sums its blocks exactly as the whole run does (docs/scaling.md).
inline constexpr std::int64_t kStepBlock = 64;

/// One pair (m, n) of training points in the decomposition of F2 for the chosen query point:
/// sum over the steps where F2 was computed of 1/2 alpha_k^2 v_m^T H_k(x) v_n, with
/// v_m = J_k(x_m)^T L'_{k,m}. Symmetric pairs (m, n) and (n, m) are kept as one, doubled.
struct F2Pair {
  std::int64_t m = 0, n = 0, output = 0;
  double value = 0.0;
};

/// Statistics of the complex steps of one query point and output (or all of them pooled).
struct ComplexStepStats {
  std::int64_t complex_steps = 0;  // |T_c|
  double fraction = 0.0;           // |T_c| / N
  double change_share = 0.0;       // sum_{T_c} |df| / sum_k |df|
  /// 1 - sum |R2| / sum |R1| over complex steps where F2 was computed (NaN when none were).
  double r1_removed_complex = std::numeric_limits<double>::quiet_NaN();
  /// The same over the other steps where F2 was computed (NaN when none were).
  double r1_removed_elsewhere = std::numeric_limits<double>::quiet_NaN();
};

/// Totals for one query point and output over the run (a row of queries.csv).
struct QuerySummary {
  double f_initial = 0.0, f_final = 0.0;
  double sum_first_order = 0.0;
  double sum_second_order = 0.0;  // over the steps where F2 was computed
  double sum_remainder2 = 0.0;    // sum of df - F1 - F2 (F2 = 0 where not computed)
  double sum_exact = std::numeric_limits<double>::quiet_NaN();  // sum of the exact kernel's changes
  /// f(x; w_0) + sum_m A_m(x) when attribution ran, else f(x; w_0) + sum_k F1_k(x).
  double kernel_machine = 0.0;
  /// |f_final - (f_initial + sum F1)| / |f_final - f_initial|: how much of what was learned the
  /// first-order path kernel misses. NaN when the prediction did not move beyond rounding.
  double rel_error_first = 0.0;
  /// The same after adding the second-order terms that were computed.
  double rel_error_second = 0.0;
};

/// Everything a decomposition computed. Arrays over (step, query, output) are indexed
/// (k * P + q) * C + c; NaN marks a value that was not computed.
struct DecompositionReport {
  std::int64_t steps = 0, queries = 0, outputs = 0, training_points = 0;
  DecompositionOptions options;
  bool kernel_form = true;  // plain gradient descent: each step a kernel sum at w_k
  std::string optimizer;
  pk::nn::OptimizerConfig optimizer_config;

  std::vector<double> learning_rate, loss, sharpness;  // per step
  std::vector<double> sharpness_residual;              // per step: ||H v - lambda v|| of the Lanczos answer
  /// Per step: the optimiser's stability threshold (stability_threshold), and for Adam and AdamW
  /// the preconditioned sharpness it applies to (NaN where not computed or not defined).
  std::vector<double> stability_threshold, preconditioned_sharpness;
  std::vector<int> exact_nodes;                     // per step, 0 when not computed
  std::vector<std::uint8_t> second_order_computed;  // per step

  std::vector<double> df, first_order, second_order, exact_change, exact_error;
  std::vector<std::uint8_t> complex;
  /// F3 where it was computed (NaN elsewhere); empty unless options.order is 3.
  std::vector<double> third_order;

  pk::ad::Tensor f_initial, f_final;  // P x C

  /// A_m(x) and K^p(x, x_m) (the same-output entry of the C x C block), indexed
  /// (q * C + c) * M + m; empty when attribution did not run.
  std::vector<double> attribution, path_kernel;
  /// The weight decay's share A_reg(x), indexed q * C + c; empty without it or without
  /// attribution.
  std::vector<double> attribution_regularizer;
  /// "kernel" (one tangent kernel per step, plain gradient descent), "per_point_state" (shares
  /// carried forward in time with M x D state) or "per_query_backward" (kernel/
  /// attribution_backward.hpp: Q x C x D state, steps in reverse); empty without attribution.
  std::string attribution_method;
  /// The same for the exact attribution ("per_point_state" or "per_query_backward"); empty
  /// without it.
  std::string exact_attribution_method;
  /// How the method was chosen and the state each would hold (`decompose` and the observer).
  AttributionPlan attribution_plan;
  std::int64_t attribution_state_bytes = 0;  // summed over the query pieces
  double shares_closure_error = 0.0;         // OptimizerShares::closure_error, the worst piece
  /// sum_k Jbar_k(x) c_{k,m} and the regulariser's, laid out as `attribution` and
  /// `attribution_regularizer`; empty unless options.exact_attribution.
  std::vector<double> exact_attribution, exact_attribution_regularizer;
  /// Per step: max over queries of |sum_m Jbar_k c_{k,m} + Jbar_k c_{k,reg} - df_k|.
  std::vector<double> exact_attribution_error;
  std::vector<F2Pair> top_pairs;  // largest |value| first; m or n = -1: the weight decay
  double pair_total = 0.0;        // sum over all pairs (equals the chosen query's sum of F2)

  double seconds_first_order = 0.0, seconds_second_order = 0.0, seconds_exact = 0.0,
         seconds_attribution = 0.0, seconds_sharpness = 0.0;

  std::size_t index(std::int64_t k, std::int64_t q, std::int64_t c) const {
    return static_cast<std::size_t>((k * queries + q) * outputs + c);
  }
  double remainder1(std::size_t i) const { return df[i] - first_order[i]; }
  /// df - F1 - F2, with F2 taken as 0 where it was not computed.
  double remainder2(std::size_t i) const;
  /// R2 - F3 where F3 was computed, else NaN.
  double remainder3(std::size_t i) const;
  QuerySummary summary(std::int64_t q, std::int64_t c) const;
  ComplexStepStats complex_stats(std::int64_t q, std::int64_t c) const;
  /// Pooled over every query point and output.
  ComplexStepStats complex_stats() const;
  /// max over queries and outputs of |f_final - (f_initial + sum (F1 + F2 + R2))| relative to
  /// max(|f_final|, |f_initial|, 1): the run identity of docs/mathematics.md, a check on every report.
  /// Infinite when a prediction or a sum is not finite (a diverging run cannot satisfy it).
  double run_identity_error() const;
  /// max |f_final - (f_initial + sum of exact changes)| relative as above; NaN without the
  /// exact kernel.
  double exact_identity_error() const;
  /// max over queries and outputs of |sum_m A_m + A_reg - sum_k F1_k| relative to
  /// max(|sum F1|, 1); NaN without attribution.
  double attribution_identity_error() const;
  /// The same for the exact attribution against f(x; w_N) - f(x; w_0); NaN without it.
  double exact_attribution_identity_error() const;
};

/// Whether a decomposition with these options carries the optimiser's per-point shares forward in
/// time (optimizer_shares.hpp): attribution or F2 pairs without a kernel form, the exact
/// attribution, or Adam's preconditioned sharpness. A range of steps then replays steps 0..A-1.
bool carries_optimizer_state(const DecompositionOptions& options, const pk::nn::OptimizerConfig& optimizer);

/// The members of a report that are sums over steps (attribution, K^p, the regulariser's share,
/// the exact attribution and its regulariser's share): each is summed per block of kStepBlock
/// steps and the blocks in order, so any split of the steps at block boundaries, any thread
/// count and any number of ranks add them the same way.
inline constexpr std::array<std::vector<double> DecompositionReport::*, 5> kBlockSums = {
    &DecompositionReport::attribution, &DecompositionReport::path_kernel,
    &DecompositionReport::attribution_regularizer, &DecompositionReport::exact_attribution,
    &DecompositionReport::exact_attribution_regularizer};

/// Decomposes one run step by step for one batch of query points, all in batched passes. Feed it
/// steps in order with `add_step`, then `finish`. (`decompose` and `DecompositionObserver` split
/// the query points into pieces of `query_chunk` and run one Decomposer per piece.)
class Decomposer {
 public:
  /// `queries` is P x F; `training_inputs` and `training_targets` the training set (needed for
  /// attribution and sharpness).
  Decomposer(pk::nn::Model model, pk::nn::Loss loss, pk::ad::Tensor queries, pk::ad::Tensor training_inputs,
             pk::ad::Tensor training_targets, pk::nn::OptimizerKind optimizer, DecompositionOptions options);
  /// The same for a run of this optimiser with these constants (needed for attribution under
  /// weight decay, momentum and Adam, and for the stability threshold).
  Decomposer(pk::nn::Model model, pk::nn::Loss loss, pk::ad::Tensor queries, pk::ad::Tensor training_inputs,
             pk::ad::Tensor training_targets, const pk::nn::OptimizerConfig& optimizer,
             DecompositionOptions options);
  void add_step(const pk::nn::StepView& step);
  /// The report, with f(x; w_N) evaluated at `final_weights` (w_N). Its per-step rows are those
  /// not yet taken by `take_steps`.
  DecompositionReport finish(pk::ad::TensorView final_weights);
  /// Moves out the per-step rows added since the last call (a report of just those steps), so a
  /// long run is decomposed in memory bounded by a block of steps.
  DecompositionReport take_steps();
  /// Starts at step `step` of the run instead of 0 (before the first `add_step`): a range of steps.
  void start_at(std::int64_t step);
  /// Measures the sharpness only at its `turn`-th of every `pieces` measurements (the others go
  /// to the other pieces of query points; merge_query_pieces takes each from its piece).
  void share_sharpness(std::int64_t turn, std::int64_t pieces);
  /// Whether the decomposition carries state forward in time (the optimiser's per-point shares):
  /// a range starting at A > 0 must then see steps 0..A-1 through `replay_state` first.
  bool carries_state() const { return shares_.has_value(); }
  /// Advances the carried state over step `step.step` < the range's first step, in order from 0,
  /// with the same operations as `add_step` (no query point is evaluated), so the range starts
  /// from exactly the state the whole run has there.
  void replay_state(const pk::nn::StepView& step);
  /// Ends the current block of the sums over steps early (at the end of a range); `add_step`
  /// ends one at every multiple of kStepBlock and `finish` the last. `take_steps` hands out the
  /// sums of the block ended since the last call in its report's kBlockSums members.
  void close_block();

 private:
  void attribute(const pk::nn::StepView& step);
  void split_f2_into_pairs(const pk::nn::StepView& step);
  void attribute_shares(const pk::nn::StepView& step, const pk::ad::Tensor& dw);
  void split_f2_into_share_pairs(const pk::nn::StepView& step);
  pk::ad::Tensor kernel_to_training_set(pk::ad::TensorView w);

  pk::nn::Model model_;
  pk::nn::Loss loss_;
  pk::ad::Tensor queries_, inputs_, targets_;
  DecompositionReport report_;
  pk::ad::Tape tape_;
  std::vector<double> pair_sums_;  // C x n x n for the pair decomposition (n: M, +1 for decay)
  std::int64_t pair_points_ = 0;   // n
  std::optional<OptimizerShares> shares_;
  std::int64_t next_step_ = 0;
  // The kBlockSums of the current block of steps, and of the block closed last.
  std::array<std::vector<double>, 5> block_, closed_;
  std::int64_t block_steps_ = 0;
  std::int64_t first_step_ = 0;  // the range's first step
  std::int64_t first_row_ = 0;   // the step of the first per-step row held (rows before it taken)
  std::int64_t replayed_ = 0;    // steps before the range that replay_state has seen
  std::int64_t sharpness_turn_ = 0, sharpness_pieces_ = 1;  // share_sharpness
};

/// Decomposes a recorded trajectory (offline), the pieces of query points spread over
/// `options.threads` threads. Gives exactly what the online observer gives for the same run.
/// `progress`, when given, is called with (steps done, steps in all) summed over the pieces.
DecompositionReport decompose(const pk::nn::Model& model, const pk::nn::Trajectory& trajectory,
                              pk::ad::TensorView queries, const DecompositionOptions& options,
                              const std::function<void(std::int64_t, std::int64_t)>& progress = {});

/// The same for a run read from disk step by step (nn::TrajectoryReader): memory stays
/// O(D + steps x queries) however long the run. Gives exactly what the in-memory form gives.
DecompositionReport decompose(const pk::nn::Model& model, const pk::nn::TrajectoryReader& run,
                              pk::ad::TensorView queries, const DecompositionOptions& options,
                              const std::function<void(std::int64_t, std::int64_t)>& progress = {});

// --- streaming (kernel/report_stream.hpp writes what it hands over) ---
/// Receives the rows of consecutive steps [first, first + block.steps), in step order.
using StepBlockSink = std::function<void(const DecompositionReport& block, std::int64_t first)>;

/// Decomposes steps [first, end) of a run read from disk, handing each block of kStepBlock steps
/// (all query points, merged over the pieces) to `sink` as soon as it is done; memory does not
/// depend on the number of steps. Returns a report without per-step rows holding f(x; w_first),
/// f(x; w_end), the attribution over the range, the pairs and the timings. The rows are those
/// `decompose` gives; each block's attribution and path kernel hold that block's sums (empty
/// without attribution).
DecompositionReport decompose_stream(const pk::nn::Model& model, const pk::nn::TrajectoryReader& run,
                                     pk::ad::TensorView queries, const DecompositionOptions& options,
                                     std::int64_t first, std::int64_t end, const StepBlockSink& sink,
                                     const std::function<void(std::int64_t, std::int64_t)>& progress = {});
// --- end streaming ---

/// One report from the reports of consecutive pieces of the query points (`offsets[i]` is the
/// first query point of piece i): what `decompose` and the observer return.
DecompositionReport merge_query_pieces(std::vector<DecompositionReport> pieces,
                                       const std::vector<std::int64_t>& offsets,
                                       const DecompositionOptions& options);

/// Decomposes a run as it trains (online): memory O(D + steps x queries), no stored trajectory.
class DecompositionObserver : public pk::nn::StepObserver {
 public:
  DecompositionObserver(pk::nn::Model model, pk::nn::Loss loss, pk::ad::Tensor queries,
                        DecompositionOptions options);
  void on_start(const pk::nn::RunInfo& info) override;
  void on_step(const pk::nn::StepView& step) override;
  void on_finish(const pk::nn::TrainingResult& result) override;
  /// The report, after the run finished.
  const DecompositionReport& report() const;

 private:
  pk::nn::Model model_;
  pk::nn::Loss loss_;
  pk::ad::Tensor queries_;
  DecompositionOptions options_;
  std::vector<Decomposer> pieces_;
  std::vector<std::int64_t> offsets_;
  AttributionPlan plan_;
  std::optional<DecompositionReport> report_;
};

}  // namespace pk::kernel
