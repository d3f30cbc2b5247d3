#include "kernel/decomposition.hpp"

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

#include "autodiff/error.hpp"
#include "autodiff/functional.hpp"
#include "autodiff/ops.hpp"
#include "kernel/attribution_backward.hpp"
#include "kernel/gauss_legendre.hpp"
#include "kernel/layered_second_order.hpp"
#include "kernel/model_tangent_kernel.hpp"
#include "kernel/optimizer_shares.hpp"
#include "kernel/parallel_for.hpp"
#include "kernel/sharpness.hpp"
#include "nn/training_loss.hpp"
#include "kernel/step_terms.hpp"
#include "kernel/tangent_kernel.hpp"

namespace pk::kernel {

using pk::ad::Shape;
using pk::ad::Tensor;
using pk::ad::TensorView;
using pk::ad::Var;

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

class Stopwatch {
 public:
  explicit Stopwatch(double& total) : total_(total), start_(std::chrono::steady_clock::now()) {}
  ~Stopwatch() {
    total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  double& total_;
  std::chrono::steady_clock::time_point start_;
};

// |got - want| / scale, or NaN when the scale is within rounding of zero (a prediction that did
// not move has no relative error worth printing).
double relative_gap(double got, double want, double scale, double magnitude) {
  const double floor = 64 * std::numeric_limits<double>::epsilon() * std::max(magnitude, 1.0);
  if (!(scale > floor)) return kNaN;
  return std::abs(got - want) / scale;
}

// The larger of the two, where NaN (a failed check) wins: std::max would drop it.
void keep_worst(double& worst, double e) {
  if (!(e <= worst)) worst = e;
}
}  // namespace

SecondOrderMode parse_second_order_mode(std::string_view name) {
  if (name == "none") return SecondOrderMode::none;
  if (name == "complex") return SecondOrderMode::complex_steps;
  if (name == "every") return SecondOrderMode::every_step;
  throw std::invalid_argument("unknown second-order mode '" + std::string(name) +
                              "' (expected none, complex or every)");
}

std::string_view second_order_mode_name(SecondOrderMode mode) {
  switch (mode) {
    case SecondOrderMode::none: return "none";
    case SecondOrderMode::complex_steps: return "complex";
    case SecondOrderMode::every_step: return "every";
  }
  return "?";
}

double DecompositionReport::remainder2(std::size_t i) const {
  const double f2 = std::isnan(second_order[i]) ? 0.0 : second_order[i];
  return df[i] - first_order[i] - f2;
}

double DecompositionReport::remainder3(std::size_t i) const {
  if (third_order.empty() || std::isnan(third_order[i])) return kNaN;
  return remainder2(i) - third_order[i];
}

QuerySummary DecompositionReport::summary(std::int64_t q, std::int64_t c) const {
  QuerySummary s;
  s.f_initial = f_initial(q, c);
  s.f_final = f_final(q, c);
  double exact = 0.0;
  bool exact_everywhere = steps > 0;
  for (std::int64_t k = 0; k < steps; ++k) {
    const std::size_t i = index(k, q, c);
    s.sum_first_order += first_order[i];
    if (!std::isnan(second_order[i])) s.sum_second_order += second_order[i];
    s.sum_remainder2 += remainder2(i);
    if (std::isnan(exact_change[i])) exact_everywhere = false;
    else exact += exact_change[i];
  }
  if (exact_everywhere) s.sum_exact = exact;
  s.kernel_machine = s.f_initial + s.sum_first_order;
  if (!attribution.empty()) {
    double a = 0.0;
    for (std::int64_t m = 0; m < training_points; ++m)
      a += attribution[static_cast<std::size_t>((q * outputs + c) * training_points + m)];
    if (!attribution_regularizer.empty()) a += attribution_regularizer[static_cast<std::size_t>(q * outputs + c)];
    s.kernel_machine = s.f_initial + a;
  }
  const double learned = std::abs(s.f_final - s.f_initial);
  const double magnitude = std::max(std::abs(s.f_final), std::abs(s.f_initial));
  s.rel_error_first = relative_gap(s.f_initial + s.sum_first_order, s.f_final, learned, magnitude);
  s.rel_error_second = relative_gap(s.f_initial + s.sum_first_order + s.sum_second_order, s.f_final,
                                    learned, magnitude);
  return s;
}

namespace {
struct ComplexTotals {
  std::int64_t complex = 0, steps = 0;
  double df_complex = 0, df_all = 0;
  double r1_c = 0, r2_c = 0, r1_o = 0, r2_o = 0;
  bool f2_c = false, f2_o = false;

  void add(const DecompositionReport& r, std::size_t i) {
    ++steps;
    const double adf = std::abs(r.df[i]);
    df_all += adf;
    const bool has_f2 = !std::isnan(r.second_order[i]);
    if (r.complex[i]) {
      ++complex;
      df_complex += adf;
      if (has_f2) {
        f2_c = true;
        r1_c += std::abs(r.remainder1(i));
        r2_c += std::abs(r.remainder2(i));
      }
    } else if (has_f2) {
      f2_o = true;
      r1_o += std::abs(r.remainder1(i));
      r2_o += std::abs(r.remainder2(i));
    }
  }
  ComplexStepStats stats() const {
    ComplexStepStats s;
    s.complex_steps = complex;
    s.fraction = steps ? static_cast<double>(complex) / static_cast<double>(steps) : 0.0;
    s.change_share = df_all > 0 ? df_complex / df_all : 0.0;
    if (f2_c && r1_c > 0) s.r1_removed_complex = 1.0 - r2_c / r1_c;
    if (f2_o && r1_o > 0) s.r1_removed_elsewhere = 1.0 - r2_o / r1_o;
    return s;
  }
};
}  // namespace

ComplexStepStats DecompositionReport::complex_stats(std::int64_t q, std::int64_t c) const {
  ComplexTotals t;
  for (std::int64_t k = 0; k < steps; ++k) t.add(*this, index(k, q, c));
  return t.stats();
}

ComplexStepStats DecompositionReport::complex_stats() const {
  ComplexTotals t;
  for (std::size_t i = 0; i < df.size(); ++i) t.add(*this, i);
  return t.stats();
}

double DecompositionReport::run_identity_error() const {
  double worst = 0.0;
  for (std::int64_t q = 0; q < queries; ++q)
    for (std::int64_t c = 0; c < outputs; ++c) {
      const QuerySummary s = summary(q, c);
      const double rebuilt = s.f_initial + s.sum_first_order + s.sum_second_order + s.sum_remainder2;
      const double scale = std::max({std::abs(s.f_final), std::abs(s.f_initial), 1.0});
      // Non-finite predictions or terms cannot satisfy the identity: say so, do not divide it away.
      if (!std::isfinite(rebuilt) || !std::isfinite(s.f_final)) return std::numeric_limits<double>::infinity();
      keep_worst(worst, std::abs(rebuilt - s.f_final) / scale);
    }
  return worst;
}

double DecompositionReport::exact_identity_error() const {
  double worst = 0.0;
  for (std::int64_t q = 0; q < queries; ++q)
    for (std::int64_t c = 0; c < outputs; ++c) {
      const QuerySummary s = summary(q, c);
      if (std::isnan(s.sum_exact)) return kNaN;
      const double scale = std::max({std::abs(s.f_final), std::abs(s.f_initial), 1.0});
      const double rebuilt = s.f_initial + s.sum_exact;
      if (!std::isfinite(rebuilt) || !std::isfinite(s.f_final)) return std::numeric_limits<double>::infinity();
      keep_worst(worst, std::abs(rebuilt - s.f_final) / scale);
    }
  return worst;
}

double DecompositionReport::attribution_identity_error() const {
  if (attribution.empty()) return kNaN;
  double worst = 0.0;
  for (std::int64_t q = 0; q < queries; ++q)
    for (std::int64_t c = 0; c < outputs; ++c) {
      const QuerySummary s = summary(q, c);
      const double attributed = s.kernel_machine - s.f_initial;
      if (!std::isfinite(attributed) || !std::isfinite(s.sum_first_order)) return std::numeric_limits<double>::infinity();
      keep_worst(worst, std::abs(attributed - s.sum_first_order) / std::max(std::abs(s.sum_first_order), 1.0));
    }
  return worst;
}

double DecompositionReport::exact_attribution_identity_error() const {
  if (exact_attribution.empty()) return kNaN;
  double worst = 0.0;
  for (std::int64_t q = 0; q < queries; ++q)
    for (std::int64_t c = 0; c < outputs; ++c) {
      const auto row = static_cast<std::size_t>(q * outputs + c);
      double attributed = exact_attribution_regularizer[row];
      for (std::int64_t m = 0; m < training_points; ++m)
        attributed += exact_attribution[row * static_cast<std::size_t>(training_points) + static_cast<std::size_t>(m)];
      const double learned = f_final(q, c) - f_initial(q, c);
      if (!std::isfinite(attributed) || !std::isfinite(learned)) return std::numeric_limits<double>::infinity();
      keep_worst(worst, std::abs(attributed - learned) /
                            std::max({std::abs(f_final(q, c)), std::abs(f_initial(q, c)), 1.0}));
    }
  return worst;
}

bool carries_optimizer_state(const DecompositionOptions& o, const pk::nn::OptimizerConfig& optimizer) {
  const bool preconditioned = threshold_is_preconditioned(optimizer) && o.sharpness_every > 0;
  return ((o.attribution || o.pair_query >= 0) && !pk::nn::has_kernel_form(optimizer)) || o.exact_attribution ||
         preconditioned;
}

Decomposer::Decomposer(pk::nn::Model model, pk::nn::Loss loss, Tensor queries,
                       Tensor training_inputs, Tensor training_targets,
                       pk::nn::OptimizerKind optimizer, DecompositionOptions options)
    : Decomposer(std::move(model), loss, std::move(queries), std::move(training_inputs),
                 std::move(training_targets), pk::nn::OptimizerConfig{.kind = optimizer}, options) {}

Decomposer::Decomposer(pk::nn::Model model, pk::nn::Loss loss, Tensor queries,
                       Tensor training_inputs, Tensor training_targets,
                       const pk::nn::OptimizerConfig& optimizer, DecompositionOptions options)
    : model_(std::move(model)),
      loss_(loss),
      queries_(std::move(queries)),
      inputs_(std::move(training_inputs)),
      targets_(std::move(training_targets)) {
  if (queries_.shape().rank != 2 || queries_.shape().dim(1) != model_.input_dim())
    throw pk::ad::ShapeError("decompose: query points of shape " + queries_.shape().str() +
                             " for a model of " + std::to_string(model_.input_dim()) + " inputs");
  if (options.tau <= 0 || !(options.eps > 0))
    throw std::invalid_argument("decompose: tau and eps must be positive");
  if (options.order != 2 && options.order != 3)
    throw std::invalid_argument("decompose: order " + std::to_string(options.order) + " (expected 2 or 3)");
  if (options.window < 0 || !(options.window_tau > 0) || !(options.eos_band > 0))
    throw std::invalid_argument("decompose: window must be at least 0, window_tau and eos_band positive");
  report_.queries = queries_.shape().dim(0);
  report_.outputs = model_.output_dim();
  report_.training_points = inputs_.shape().as_rows();
  report_.kernel_form = pk::nn::has_kernel_form(optimizer);
  report_.optimizer = std::string(pk::nn::optimizer_name(optimizer.kind));
  report_.optimizer_config = optimizer;
  if (options.exact_attribution && !options.exact_kernel)
    throw std::invalid_argument("decompose: the exact attribution needs the exact kernel");
  if (options.pair_query >= report_.queries)
    throw std::invalid_argument("decompose: pair query " + std::to_string(options.pair_query) +
                                " but only " + std::to_string(report_.queries) + " query points");
  report_.options = options;
  const auto pc = static_cast<std::size_t>(report_.queries * report_.outputs);
  // --- optimiser shares (optimizer_shares.hpp): attribution beyond plain gradient descent ---
  const auto pcm = pc * static_cast<std::size_t>(report_.training_points);
  // The backward method (attribution_backward.hpp) needs only the replay here; the pair split
  // needs the per-point shares whichever way the attribution runs.
  const bool backward = options.attribution_method == AttributionMethod::backward;
  const bool per_point = (!backward && ((options.attribution && !report_.kernel_form) || options.exact_attribution)) ||
                         (options.pair_query >= 0 && !report_.kernel_form);
  if (carries_optimizer_state(options, optimizer)) shares_.emplace(model_, optimizer, inputs_, per_point);
  if (options.attribution) {
    report_.attribution.assign(pcm, 0.0);
    // Domingos' K^p = sum_k alpha_k K_k is the kernel of plain gradient descent's steps only.
    if (report_.kernel_form) report_.path_kernel.assign(pcm, 0.0);
    else report_.attribution_regularizer.assign(pc, 0.0);
    report_.attribution_method = report_.kernel_form ? "kernel" : backward ? "per_query_backward" : "per_point_state";
  }
  if (options.exact_attribution) {
    report_.exact_attribution_method = backward ? "per_query_backward" : "per_point_state";
    report_.exact_attribution.assign(pcm, 0.0);
    report_.exact_attribution_regularizer.assign(pc, 0.0);
  }
  if (shares_) report_.attribution_state_bytes = shares_->state_bytes();
  pair_points_ = report_.training_points + (report_.kernel_form ? 0 : 1);
  // --- end optimiser shares ---
  if (options.pair_query >= 0) {
    const auto n = static_cast<std::size_t>(pair_points_);
    pair_sums_.assign(n * n * static_cast<std::size_t>(report_.outputs), 0.0);
  }
  for (std::size_t i = 0; i < kBlockSums.size(); ++i) block_[i].assign((report_.*kBlockSums[i]).size(), 0.0);
}

Tensor Decomposer::kernel_to_training_set(TensorView w) {
  return model_tangent_kernel(model_, queries_, inputs_, Tensor(w), tape_);
}

void Decomposer::add_step(const pk::nn::StepView& step) {
  if (step.step != next_step_)
    throw std::invalid_argument("decompose: step " + std::to_string(step.step) +
                                " given where step " + std::to_string(next_step_) + " was expected");
  ++next_step_;
  DecompositionReport& r = report_;
  const DecompositionOptions& o = r.options;
  auto f = [this](Var x, Var w) { return model_.forward(x, w); };
  const Tensor w(step.weights_before), after(step.weights_after);
  Tensor dw(w.shape());
  for (std::int64_t i = 0; i < w.size(); ++i) dw[i] = after[i] - w[i];

  Tensor before_f, after_f, first;
  {
    Stopwatch t(r.seconds_first_order);
    FirstOrder fo = first_order_term(f, queries_, w, dw, tape_);
    before_f = std::move(fo.prediction);
    first = std::move(fo.first_order);
    after_f = predict(f, queries_, after, tape_);
  }
  if (step.step == first_step_) r.f_initial = before_f;
  r.f_final = after_f;

  const std::int64_t pc = r.queries * r.outputs;
  const std::size_t base = r.df.size();
  bool any_complex = false;
  // The rounding floor of each query point's quadrature: its own predictions' size, so a point's
  // result does not depend on which points share its piece.
  std::vector<double> row_floor(static_cast<std::size_t>(r.queries), 0.0);
  for (std::int64_t i = 0; i < pc; ++i) {
    const double df = after_f[i] - before_f[i];
    const double r1 = df - first[i];
    // df carries rounding of about eps_machine |f|: an R1 below that is noise, not curvature, so
    // the floor of T_c's denominator rises with the prediction's size. A non-finite R1 is complex.
    const double noise = 16 * std::numeric_limits<double>::epsilon() *
                         std::max(std::abs(after_f[i]), std::abs(before_f[i]));
    const bool complex = !(std::abs(r1) <= o.tau * std::max({std::abs(df), o.eps, noise}));
    any_complex = any_complex || complex;
    double& rf = row_floor[static_cast<std::size_t>(i / r.outputs)];
    rf = std::max({rf, 64 * std::numeric_limits<double>::epsilon() * std::abs(after_f[i]),
                   64 * std::numeric_limits<double>::epsilon() * std::abs(before_f[i])});
    r.df.push_back(df);
    r.first_order.push_back(first[i]);
    r.complex.push_back(complex ? 1 : 0);
  }
  r.learning_rate.push_back(step.learning_rate);
  r.loss.push_back(step.loss);

  // In complex mode F2 belongs to the entries (step, query point, output) of T_c, whatever else
  // shares the batch: the pass runs when some entry of this piece needs it, and only those keep
  // it, so the report does not depend on how the query points are cut into pieces.
  const bool want_f2 = o.second_order == SecondOrderMode::every_step ||
                       (o.second_order == SecondOrderMode::complex_steps && any_complex);
  r.second_order_computed.push_back(want_f2 ? 1 : 0);
  if (want_f2) {
    Stopwatch t(r.seconds_second_order);
    // Chains of dense layers and other layered models take a Taylor-mode route, any other model
    // the batched double backward (step_terms.hpp).
    const SecondOrder so = model_second_order_term(model_, queries_, w, dw, tape_);
    Tensor third;
    if (o.order >= 3) third = third_order_term(f, queries_, w, dw, tape_).third_order;
    for (std::int64_t i = 0; i < pc; ++i) {
      const bool keep = o.second_order == SecondOrderMode::every_step || r.complex[base + static_cast<std::size_t>(i)];
      r.second_order.push_back(keep ? so.second_order[i] : kNaN);
      if (o.order >= 3) r.third_order.push_back(keep ? third[i] : kNaN);
    }
  } else {
    r.second_order.insert(r.second_order.end(), static_cast<std::size_t>(pc), kNaN);
    if (o.order >= 3) r.third_order.insert(r.third_order.end(), static_cast<std::size_t>(pc), kNaN);
  }

  if (o.exact_kernel) {
    Stopwatch t(r.seconds_exact);
    Tensor df(Shape::matrix(r.queries, r.outputs));
    for (std::int64_t i = 0; i < pc; ++i) df[i] = r.df[base + static_cast<std::size_t>(i)];
    const ExactChange ex = exact_change(f, queries_, w, dw, df, tape_, o.exact_tolerance, 0.0, 2,
                                        o.exact_max_nodes, row_floor);
    r.exact_nodes.push_back(ex.nodes);
    for (std::int64_t i = 0; i < pc; ++i) {
      r.exact_change.push_back(ex.change[i]);
      r.exact_error.push_back(std::abs(ex.change[i] - df[i]));
    }
  } else {
    r.exact_nodes.push_back(0);
    r.exact_change.insert(r.exact_change.end(), static_cast<std::size_t>(pc), kNaN);
    r.exact_error.insert(r.exact_error.end(), static_cast<std::size_t>(pc), kNaN);
  }

  if (shares_) {  // optimiser shares hook: c_{k,m} of this step, and Adam's preconditioner
    Stopwatch t(r.seconds_attribution);
    shares_->add_step(step.step, step.weights_before, step.weights_after, step.learning_rate, step.batch,
                      step.output_derivatives, tape_);
    r.attribution_state_bytes = shares_->state_bytes();
    r.shares_closure_error = shares_->per_point() ? shares_->closure_error() : kNaN;  // no shares formed: no closure
  }
  r.stability_threshold.push_back(step.learning_rate > 0 ? stability_threshold(r.optimizer_config, step.learning_rate) : kNaN);
  if (o.sharpness_every > 0 && step.step % o.sharpness_every == 0 &&
      (step.step / o.sharpness_every) % sharpness_pieces_ == sharpness_turn_) {
    Stopwatch t(r.seconds_sharpness);
    const pk::nn::TrainingLoss training_loss(model_, loss_, inputs_, targets_);
    const Sharpness s = sharpness(training_loss, w, o.lanczos_iterations, o.lanczos_tolerance, 0x5eed, &tape_);
    r.sharpness.push_back(s.lambda_max);
    r.sharpness_residual.push_back(s.residual);
    const pk::nn::OptimizerConfig& oc = r.optimizer_config;
    r.preconditioned_sharpness.push_back(
        threshold_is_preconditioned(oc)
            ? preconditioned_sharpness(training_loss, w, shares_->adam_denominator(),
                                       oc.kind == pk::nn::OptimizerKind::adam ? oc.weight_decay : 0.0,
                                       o.lanczos_iterations, o.lanczos_tolerance, &tape_)
            : kNaN);
  } else {
    r.sharpness.push_back(kNaN);
    r.sharpness_residual.push_back(kNaN);
    r.preconditioned_sharpness.push_back(kNaN);
  }

  if (o.attribution && r.kernel_form) {
    Stopwatch t(r.seconds_attribution);
    attribute(step);
  }
  if (((o.attribution && !r.kernel_form) || o.exact_attribution) && o.attribution_method != AttributionMethod::backward) {
    Stopwatch t(r.seconds_attribution);
    attribute_shares(step, dw);
  }
  ++block_steps_;
  if ((step.step + 1) % kStepBlock == 0) close_block();
  if (o.pair_query >= 0 && want_f2) {
    Stopwatch t(r.seconds_attribution);
    if (r.kernel_form) split_f2_into_pairs(step);
    else split_f2_into_share_pairs(step);
  }
  r.steps = next_step_ - first_row_;
}

// --- streaming: rows handed over block by block ---
void Decomposer::start_at(std::int64_t step) {
  if (next_step_ != first_step_ || replayed_ > 0) throw std::logic_error("Decomposer::start_at after the first step");
  first_step_ = first_row_ = next_step_ = step;
}

void Decomposer::share_sharpness(std::int64_t turn, std::int64_t pieces) {
  if (pieces < 1 || turn < 0 || turn >= pieces)
    throw std::invalid_argument("Decomposer::share_sharpness: turn " + std::to_string(turn) + " of " +
                                std::to_string(pieces));
  sharpness_turn_ = turn;
  sharpness_pieces_ = pieces;
}

void Decomposer::replay_state(const pk::nn::StepView& step) {
  if (step.step != replayed_ || step.step >= first_step_ || next_step_ != first_step_)
    throw std::logic_error("Decomposer::replay_state: step " + std::to_string(step.step) +
                           " is not the next step before the range starting at " + std::to_string(first_step_));
  ++replayed_;
  if (!shares_) return;
  Stopwatch t(report_.seconds_attribution);
  shares_->add_step(step.step, step.weights_before, step.weights_after, step.learning_rate, step.batch,
                    step.output_derivatives, tape_);
  report_.attribution_state_bytes = shares_->state_bytes();
  report_.shares_closure_error = shares_->closure_error();
}

void Decomposer::close_block() {
  if (block_steps_ == 0) return;
  DecompositionReport& r = report_;
  for (std::size_t n = 0; n < kBlockSums.size(); ++n) {
    std::vector<double>& total = r.*kBlockSums[n];
    for (std::size_t i = 0; i < total.size(); ++i) total[i] += block_[n][i];
    closed_[n] = std::exchange(block_[n], std::vector<double>(total.size(), 0.0));
  }
  block_steps_ = 0;
}

DecompositionReport Decomposer::take_steps() {
  DecompositionReport& r = report_;
  DecompositionReport block;
  block.steps = r.steps;
  block.queries = r.queries;
  block.outputs = r.outputs;
  block.training_points = r.training_points;
  block.options = r.options;
  block.kernel_form = r.kernel_form;
  block.optimizer = r.optimizer;
  block.optimizer_config = r.optimizer_config;
  block.attribution_method = r.attribution_method;
  block.attribution_state_bytes = r.attribution_state_bytes;
  block.shares_closure_error = r.shares_closure_error;
  block.learning_rate = std::exchange(r.learning_rate, {});
  block.loss = std::exchange(r.loss, {});
  block.sharpness = std::exchange(r.sharpness, {});
  block.sharpness_residual = std::exchange(r.sharpness_residual, {});
  block.stability_threshold = std::exchange(r.stability_threshold, {});
  block.preconditioned_sharpness = std::exchange(r.preconditioned_sharpness, {});
  block.exact_attribution_error = std::exchange(r.exact_attribution_error, {});
  block.exact_nodes = std::exchange(r.exact_nodes, {});
  block.second_order_computed = std::exchange(r.second_order_computed, {});
  block.df = std::exchange(r.df, {});
  block.first_order = std::exchange(r.first_order, {});
  block.second_order = std::exchange(r.second_order, {});
  block.exact_change = std::exchange(r.exact_change, {});
  block.exact_error = std::exchange(r.exact_error, {});
  block.complex = std::exchange(r.complex, {});
  block.third_order = std::exchange(r.third_order, {});
  block.f_initial = r.f_initial;
  block.f_final = r.f_final;
  for (std::size_t n = 0; n < kBlockSums.size(); ++n) block.*kBlockSums[n] = std::exchange(closed_[n], {});
  r.steps = 0;
  first_row_ = next_step_;
  return block;
}
// --- end streaming ---

void Decomposer::attribute(const pk::nn::StepView& step) {
  DecompositionReport& r = report_;
  const std::int64_t c_out = r.outputs, m_all = r.training_points;
  const Tensor k = kernel_to_training_set(step.weights_before);  // (P*C) x (M*C)
  const std::int64_t cols = m_all * c_out;
  const double lr = step.learning_rate;
  for (std::int64_t q = 0; q < r.queries; ++q)
    for (std::int64_t c = 0; c < c_out; ++c) {
      const std::int64_t row = (q * c_out + c) * cols;
      double* a = block_[0].data() + (q * c_out + c) * m_all;
      double* kp = block_[1].data() + (q * c_out + c) * m_all;
      for (std::int64_t m = 0; m < m_all; ++m) kp[m] += lr * k[row + m * c_out + c];
      for (std::size_t b = 0; b < step.batch.size(); ++b) {
        const std::int64_t m = step.batch[b];
        double s = 0.0;
        for (std::int64_t c2 = 0; c2 < c_out; ++c2)
          s += k[row + m * c_out + c2] * step.output_derivatives[static_cast<std::int64_t>(b) * c_out + c2];
        a[m] -= lr * s;
      }
    }
}

void Decomposer::split_f2_into_pairs(const pk::nn::StepView& step) {
  DecompositionReport& r = report_;
  const std::int64_t c_out = r.outputs, nb = static_cast<std::int64_t>(step.batch.size());
  const std::int64_t d = model_.parameter_count();
  const std::int64_t features = inputs_.shape().dim(1);
  auto f = [this](Var x, Var w) { return model_.forward(x, w); };
  const Tensor w(step.weights_before);
  // v_b = J_k(x_m)^T L'_{k,m} for the batch's points: dw_k = -alpha sum_b v_b.
  Tensor batch_inputs(Shape::matrix(nb, features));
  for (std::int64_t b = 0; b < nb; ++b)
    std::copy_n(inputs_.data() + step.batch[static_cast<std::size_t>(b)] * features, features,
                batch_inputs.data() + b * features);
  const Tensor jac = per_sample_jacobians(f, batch_inputs, w, tape_);  // (nb*C) x D
  std::vector<Tensor> v(static_cast<std::size_t>(nb), Tensor(Shape::vector(d), 0.0));
  for (std::int64_t b = 0; b < nb; ++b)
    for (std::int64_t c = 0; c < c_out; ++c) {
      const double l = step.output_derivatives[b * c_out + c];
      const double* row = jac.data() + (b * c_out + c) * d;
      for (std::int64_t i = 0; i < d; ++i) v[static_cast<std::size_t>(b)][i] += l * row[i];
    }
  const std::int64_t q = r.options.pair_query;
  Tensor x(Shape::matrix(1, features));
  std::copy_n(queries_.data() + q * features, features, x.data());
  const double half_a2 = 0.5 * step.learning_rate * step.learning_rate;
  for (std::int64_t c = 0; c < c_out; ++c) {
    // Only where F2 was kept for this point and output, so the pairs add up to its sum of F2.
    if (std::isnan(r.second_order[r.index(step.step - first_row_, q, c)])) continue;
    auto fc = [&](Var wv) { return pk::ad::sum(pk::ad::slice(f(wv.tape().constant(x), wv), 1, c, c + 1)); };
    for (std::int64_t n = 0; n < nb; ++n) {
      const Tensor hv = pk::ad::hvp(fc, w, v[static_cast<std::size_t>(n)], nullptr,
                                    pk::ad::HvpMethod::forward_over_reverse, &tape_);
      const std::int64_t mn = step.batch[static_cast<std::size_t>(n)];
      for (std::int64_t b = 0; b < nb; ++b) {
        double s = 0.0;
        const Tensor& vb = v[static_cast<std::size_t>(b)];
        for (std::int64_t i = 0; i < d; ++i) s += vb[i] * hv[i];
        const std::int64_t mb = step.batch[static_cast<std::size_t>(b)];
        pair_sums_[static_cast<std::size_t>((c * pair_points_ + mb) * pair_points_ + mn)] += half_a2 * s;
      }
    }
  }
}

// A_m(x) += J_k(x) c_{k,m} for every point with a share, and, when asked, the exact attribution
// with the integrated Jacobian on the exact kernel's Gauss-Legendre nodes of this step.
void Decomposer::attribute_shares(const pk::nn::StepView& step, const Tensor& dw) {
  DecompositionReport& r = report_;
  auto f = [this](Var x, Var w) { return model_.forward(x, w); };
  const Tensor w(step.weights_before);
  if (r.options.attribution && !r.kernel_form) {
    const Tensor jac = per_sample_jacobians(f, queries_, w, tape_);  // (P*C) x D
    accumulate_shares(jac, *shares_, 1.0, block_[0], block_[2]);
  }
  if (!r.options.exact_attribution) return;
  const std::size_t pc = static_cast<std::size_t>(r.queries * r.outputs);
  std::vector<double> attribution(pc * static_cast<std::size_t>(r.training_points), 0.0), regularizer(pc, 0.0);
  const GaussLegendre rule = gauss_legendre(r.exact_nodes.back());
  Tensor point(w.shape());
  for (std::size_t i = 0; i < rule.nodes.size(); ++i) {
    for (std::int64_t j = 0; j < w.size(); ++j) point[j] = w[j] + rule.nodes[i] * dw[j];
    accumulate_shares(per_sample_jacobians(f, queries_, point, tape_), *shares_, rule.weights[i], attribution,
                      regularizer);
  }
  const std::size_t base = static_cast<std::size_t>(r.steps) * pc, m_all = static_cast<std::size_t>(r.training_points);
  double worst = 0.0;
  for (std::size_t row = 0; row < pc; ++row) {
    double step_total = regularizer[row];
    for (std::size_t m = 0; m < m_all; ++m) {
      step_total += attribution[row * m_all + m];
      block_[3][row * m_all + m] += attribution[row * m_all + m];
    }
    block_[4][row] += regularizer[row];
    keep_worst(worst, std::abs(step_total - r.df[base + row]));
  }
  r.exact_attribution_error.push_back(worst);
}

// F2_k = 1/2 dw^T H dw with dw = sum_m c_{k,m} + c_{k,reg}: the pairs of shares, the decay's as
// point M.
void Decomposer::split_f2_into_share_pairs(const pk::nn::StepView& step) {
  DecompositionReport& r = report_;
  const std::int64_t c_out = r.outputs, d = model_.parameter_count(), np = pair_points_;
  const std::int64_t features = inputs_.shape().dim(1);
  auto f = [this](Var x, Var w) { return model_.forward(x, w); };
  const Tensor w(step.weights_before);
  std::vector<std::int64_t> points;
  std::vector<Tensor> c;
  for (std::int64_t m = 0; m < r.training_points; ++m)
    if (shares_->active(m)) {
      points.push_back(m);
      c.emplace_back(Shape::vector(d), std::vector<double>(shares_->share(m).begin(), shares_->share(m).end()));
    }
  if (shares_->has_regularizer()) {
    points.push_back(r.training_points);
    const std::span<const double> reg = shares_->regularizer_share();
    c.emplace_back(Shape::vector(d), std::vector<double>(reg.begin(), reg.end()));
  }
  Tensor x(Shape::matrix(1, features));
  std::copy_n(queries_.data() + r.options.pair_query * features, features, x.data());
  for (std::int64_t out = 0; out < c_out; ++out) {
    auto fc = [&](Var wv) { return pk::ad::sum(pk::ad::slice(f(wv.tape().constant(x), wv), 1, out, out + 1)); };
    for (std::size_t n = 0; n < c.size(); ++n) {
      const Tensor hv = pk::ad::hvp(fc, w, c[n], nullptr, pk::ad::HvpMethod::forward_over_reverse, &tape_);
      for (std::size_t b = 0; b < c.size(); ++b) {
        double s = 0.0;
        for (std::int64_t i = 0; i < d; ++i) s += c[b][i] * hv[i];
        pair_sums_[static_cast<std::size_t>((out * np + points[b]) * np + points[n])] += 0.5 * s;
      }
    }
  }
}

DecompositionReport Decomposer::finish(TensorView final_weights) {
  DecompositionReport& r = report_;
  auto f = [this](Var x, Var w) { return model_.forward(x, w); };
  r.f_final = predict(f, queries_, Tensor(final_weights), tape_);
  if (next_step_ == first_step_) r.f_initial = r.f_final;
  close_block();
  for (std::vector<double>& sums : closed_) sums.clear();
  if (r.options.pair_query >= 0) {
    const std::int64_t np = pair_points_;
    // Index M, past the training points, is the weight decay's share.
    auto point = [&](std::int64_t i) { return i == r.training_points ? std::int64_t{-1} : i; };
    std::vector<F2Pair> pairs;
    r.pair_total = 0.0;
    for (std::int64_t c = 0; c < r.outputs; ++c)
      for (std::int64_t m = 0; m < np; ++m)
        for (std::int64_t n = m; n < np; ++n) {
          const double mn = pair_sums_[static_cast<std::size_t>((c * np + m) * np + n)];
          const double nm = pair_sums_[static_cast<std::size_t>((c * np + n) * np + m)];
          const double v = m == n ? mn : mn + nm;
          r.pair_total += v;
          if (v != 0.0) pairs.push_back({point(m), point(n), c, v});
        }
    const auto keep = std::min<std::size_t>(pairs.size(), static_cast<std::size_t>(r.options.pair_count));
    std::partial_sort(pairs.begin(), pairs.begin() + static_cast<std::ptrdiff_t>(keep), pairs.end(),
                      [](const F2Pair& a, const F2Pair& b) { return std::abs(a.value) > std::abs(b.value); });
    pairs.resize(keep);
    r.top_pairs = std::move(pairs);
  }
  return r;
}

namespace {
// The query points cut into pieces of options.query_chunk; each piece's options carry the pair
// query (local to its piece) and sharpness only where they belong, so no work is repeated.
struct Pieces {
  std::vector<Decomposer> parts;
  std::vector<std::int64_t> offsets;
};

Pieces make_pieces(const pk::nn::Model& model, const pk::nn::Loss& loss, const Tensor& queries,
                   const Tensor& inputs, const Tensor& targets, const pk::nn::OptimizerConfig& optimizer,
                   const DecompositionOptions& options) {
  if (queries.shape().rank != 2 || queries.shape().dim(1) != model.input_dim())
    throw pk::ad::ShapeError("decompose: query points of shape " + queries.shape().str() +
                             " for a model of " + std::to_string(model.input_dim()) + " inputs");
  if (options.query_chunk < 1) throw std::invalid_argument("decompose: query_chunk must be at least 1");
  const std::int64_t p = queries.shape().dim(0), features = queries.shape().dim(1);
  if (options.pair_query >= p)
    throw std::invalid_argument("decompose: pair query " + std::to_string(options.pair_query) +
                                " but only " + std::to_string(p) + " query points");
  Pieces pieces;
  // The sharpness does not depend on the query points: its measurements go round the pieces, so
  // no piece carries them all and threads stay balanced. Adam's preconditioned sharpness needs
  // the optimiser's state, which only the first piece then holds: it measures them all.
  const std::int64_t count = (std::max<std::int64_t>(p, 1) + options.query_chunk - 1) / options.query_chunk;
  const bool rotate = !threshold_is_preconditioned(optimizer);
  for (std::int64_t first = 0; first < std::max<std::int64_t>(p, 1); first += options.query_chunk) {
    const std::int64_t n = std::min(options.query_chunk, p - first);
    Tensor part(Shape::matrix(n, features));
    std::copy_n(queries.data() + first * features, n * features, part.data());
    DecompositionOptions o = options;
    o.pair_query = options.pair_query >= first && options.pair_query < first + n ? options.pair_query - first : -1;
    if (first > 0 && !rotate) o.sharpness_every = 0;
    pieces.parts.emplace_back(model, loss, std::move(part), inputs, targets, optimizer, o);
    if (rotate) pieces.parts.back().share_sharpness(first / options.query_chunk, count);
    pieces.offsets.push_back(first);
  }
  return pieces;
}

}  // namespace

DecompositionReport merge_query_pieces(std::vector<DecompositionReport> pieces,
                                       const std::vector<std::int64_t>& offsets,
                                       const DecompositionOptions& options) {
  if (pieces.empty() || pieces.size() != offsets.size())
    throw std::invalid_argument("merge_query_pieces: no pieces, or offsets that do not match them");
  if (pieces.size() == 1) {
    pieces[0].options.pair_query = options.pair_query;
    pieces[0].options.sharpness_every = options.sharpness_every;
    return std::move(pieces[0]);
  }
  DecompositionReport r = pieces[0];  // the per-step facts and the sharpness come from here
  r.options.pair_query = options.pair_query;
  r.options.sharpness_every = options.sharpness_every;
  const std::int64_t c_out = r.outputs;
  r.queries = 0;
  for (const DecompositionReport& p : pieces) r.queries += p.queries;
  const auto cells = static_cast<std::size_t>(r.steps * r.queries * c_out);
  for (auto* v : {&r.df, &r.first_order, &r.second_order, &r.exact_change, &r.exact_error}) v->assign(cells, 0.0);
  if (!r.third_order.empty()) r.third_order.assign(cells, 0.0);
  r.complex.assign(cells, 0);
  r.f_initial = Tensor(Shape::matrix(r.queries, c_out));
  r.f_final = Tensor(Shape::matrix(r.queries, c_out));
  r.attribution.clear();
  r.path_kernel.clear();
  r.attribution_regularizer.clear();
  r.exact_attribution.clear();
  r.exact_attribution_regularizer.clear();
  r.attribution_state_bytes = 0;
  r.seconds_first_order = r.seconds_second_order = r.seconds_exact = r.seconds_attribution = r.seconds_sharpness = 0;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const DecompositionReport& p = pieces[i];
    const std::int64_t q0 = offsets[i];
    for (std::int64_t k = 0; k < r.steps; ++k) {
      const auto ku = static_cast<std::size_t>(k);
      if (std::isnan(r.sharpness[ku]) && !std::isnan(p.sharpness[ku])) {  // measured by this piece
        r.sharpness[ku] = p.sharpness[ku];
        r.sharpness_residual[ku] = p.sharpness_residual[ku];
        r.preconditioned_sharpness[ku] = p.preconditioned_sharpness[ku];
      }
      r.exact_nodes[ku] = std::max(r.exact_nodes[ku], p.exact_nodes[ku]);
      r.second_order_computed[ku] = r.second_order_computed[ku] | p.second_order_computed[ku];
      for (std::int64_t q = 0; q < p.queries; ++q)
        for (std::int64_t c = 0; c < c_out; ++c) {
          const std::size_t from = p.index(k, q, c), to = r.index(k, q0 + q, c);
          r.df[to] = p.df[from];
          r.first_order[to] = p.first_order[from];
          r.second_order[to] = p.second_order[from];
          if (!r.third_order.empty()) r.third_order[to] = p.third_order[from];
          r.exact_change[to] = p.exact_change[from];
          r.exact_error[to] = p.exact_error[from];
          r.complex[to] = p.complex[from];
        }
    }
    std::copy_n(p.f_initial.data(), p.f_initial.size(), r.f_initial.data() + q0 * c_out);
    std::copy_n(p.f_final.data(), p.f_final.size(), r.f_final.data() + q0 * c_out);
    r.attribution.insert(r.attribution.end(), p.attribution.begin(), p.attribution.end());
    r.path_kernel.insert(r.path_kernel.end(), p.path_kernel.begin(), p.path_kernel.end());
    r.attribution_regularizer.insert(r.attribution_regularizer.end(), p.attribution_regularizer.begin(),
                                     p.attribution_regularizer.end());
    r.exact_attribution.insert(r.exact_attribution.end(), p.exact_attribution.begin(), p.exact_attribution.end());
    r.exact_attribution_regularizer.insert(r.exact_attribution_regularizer.end(),
                                           p.exact_attribution_regularizer.begin(), p.exact_attribution_regularizer.end());
    r.attribution_state_bytes += p.attribution_state_bytes;
    r.shares_closure_error = std::max(r.shares_closure_error, p.shares_closure_error);
    for (std::size_t k = 0; k < p.exact_attribution_error.size() && i > 0; ++k)
      keep_worst(r.exact_attribution_error[k], p.exact_attribution_error[k]);
    if (p.options.pair_query >= 0) {
      r.top_pairs = p.top_pairs;
      r.pair_total = p.pair_total;
    }
    r.seconds_first_order += p.seconds_first_order;
    r.seconds_second_order += p.seconds_second_order;
    r.seconds_exact += p.seconds_exact;
    r.seconds_attribution += p.seconds_attribution;
    r.seconds_sharpness += p.seconds_sharpness;
  }
  return r;
}

namespace {
// The offline decomposition over any source of steps (a StepReader, attribution_backward.hpp).

// Steps [first, end) in blocks of kStepBlock: within a block each piece runs through the block's
// steps on one thread, so the pieces need no coordination and nothing depends on the thread
// count; the block's rows, merged over the pieces, go to `sink` before the next block starts.
// The attribution runs forward with the steps, or (attribution_method.hpp) backward after them.
// The choice is the whole run's (of `run_steps` steps), so that every range states the same
// plan; a range of steps, whose sums must merge with the other ranges' block by block, can only
// run forward and is refused when the whole run's plan is backward.
DecompositionReport decompose_steps(const pk::nn::Model& model, const pk::nn::Trajectory& facts,
                                    std::int64_t first, std::int64_t end, std::int64_t run_steps,
                                    const StepReader& read,
                                    const Tensor& final_weights, TensorView queries,
                                    const DecompositionOptions& requested, const StepBlockSink& sink,
                                    const std::function<void(std::int64_t, std::int64_t)>& progress) {
  const AttributionPlan plan = plan_attribution(model, facts, run_steps, queries.shape().dim(0), requested, true);
  if (plan.method == AttributionMethod::backward && (first > 0 || end < run_steps))
    throw std::invalid_argument(
        "decompose: steps " + std::to_string(first) + ":" + std::to_string(end) + " of " +
        std::to_string(run_steps) + ": the attribution of this run runs backward in time (" + plan.reason +
        "), which a range of steps cannot; give --attribution-method forward to every range and to any "
        "single run compared with them");
  DecompositionOptions options = requested;
  options.attribution_method = plan.method;
  const bool backward = plan.method == AttributionMethod::backward;
  const Tensor training_inputs(facts.training_inputs());
  Pieces pieces = make_pieces(model, pk::nn::Loss(facts.loss), Tensor(queries), training_inputs,
                              Tensor(facts.training_targets()), facts.optimizer, options);
  for (Decomposer& part : pieces.parts) part.start_at(first);
  const auto count = pieces.parts.size();
  // State carried forward in time (the optimiser's per-point shares) is replayed over the steps
  // before the range with the operations of the whole run, so the range starts from its bytes.
  if (first > 0 && pieces.parts.front().carries_state())
    parallel_for(count, options.threads, [&](std::size_t i) {
      pk::nn::StepRecord scratch;
      for (std::int64_t k = 0; k < first; ++k) pieces.parts[i].replay_state(read(k, scratch));
    });
  const std::int64_t total = (end - first) * static_cast<std::int64_t>(count);
  std::atomic<std::int64_t> done{0};
  std::mutex progress_mutex;
  // With more than one thread the merge of a block and the sink (formatting and writing its rows,
  // the online totals) run beside the next block's work instead of between blocks: that serial
  // part would otherwise cap the speed-up. One block at most waits for the sink, so memory stays
  // two blocks; the sink still sees the blocks one at a time and in order.
  std::future<void> pending;
  // What the backward sums need of the rows the blocks hand on: each step's quadrature nodes and,
  // for the exact attribution's per-step check, df (Q x C per step and piece).
  std::vector<DecompositionReport> kept(backward ? count : 0);
  auto hand_over = [&](std::vector<DecompositionReport> blocks, std::int64_t b0) {
    if (pending.valid()) pending.get();
    auto deliver = [&sink, &pieces, &options, b0](std::vector<DecompositionReport> parts) {
      sink(merge_query_pieces(std::move(parts), pieces.offsets, options), b0);
    };
    if (options.threads > 1) pending = std::async(std::launch::async, deliver, std::move(blocks));
    else deliver(std::move(blocks));
  };
  try {
    for (std::int64_t b0 = first; b0 < end;) {
      const std::int64_t b1 = std::min(end, (b0 / kStepBlock + 1) * kStepBlock);
      std::vector<DecompositionReport> blocks(count);
      parallel_for(count, options.threads, [&](std::size_t i) {
        pk::nn::StepRecord scratch;
        for (std::int64_t k = b0; k < b1; ++k) {
          pieces.parts[i].add_step(read(k, scratch));
          const std::int64_t now = ++done;
          if (progress) {
            std::lock_guard lock(progress_mutex);
            progress(now, total);
          }
        }
        if (b1 == end) pieces.parts[i].close_block();
        blocks[i] = pieces.parts[i].take_steps();
        if (backward) {
          const DecompositionReport& b = blocks[i];
          kept[i].exact_nodes.insert(kept[i].exact_nodes.end(), b.exact_nodes.begin(), b.exact_nodes.end());
          if (options.exact_attribution) kept[i].df.insert(kept[i].df.end(), b.df.begin(), b.df.end());
        }
      });
      hand_over(std::move(blocks), b0);
      b0 = b1;
    }
    if (pending.valid()) pending.get();
  } catch (...) {
    if (pending.valid()) pending.wait();  // it refers to this frame: let it end before unwinding
    throw;
  }
  std::vector<DecompositionReport> reports(count);
  parallel_for(count, options.threads, [&](std::size_t i) {
    DecompositionReport& r = reports[i];
    r = pieces.parts[i].finish(final_weights);
    if (backward) {
      // The piece's report as attribute_backward reads it: all its steps' rows, then none again.
      r.steps = end;
      r.df = std::move(kept[i].df);
      r.exact_nodes = std::move(kept[i].exact_nodes);
      attribute_backward(model, facts.optimizer, training_inputs, queries, pieces.offsets[i], end, read, r);
      r.steps = 0;
      r.df.clear();
      r.exact_nodes.clear();
    }
    r.attribution_plan = plan;
  });
  return merge_query_pieces(std::move(reports), pieces.offsets, options);
}

// Appends the rows of the next steps to an in-memory report.
void append_rows(DecompositionReport& all, const DecompositionReport& block) {
  auto append = [](auto& to, const auto& from) { to.insert(to.end(), from.begin(), from.end()); };
  append(all.learning_rate, block.learning_rate);
  append(all.loss, block.loss);
  append(all.sharpness, block.sharpness);
  append(all.sharpness_residual, block.sharpness_residual);
  append(all.stability_threshold, block.stability_threshold);
  append(all.preconditioned_sharpness, block.preconditioned_sharpness);
  append(all.exact_attribution_error, block.exact_attribution_error);
  append(all.exact_nodes, block.exact_nodes);
  append(all.second_order_computed, block.second_order_computed);
  append(all.df, block.df);
  append(all.first_order, block.first_order);
  append(all.second_order, block.second_order);
  append(all.exact_change, block.exact_change);
  append(all.exact_error, block.exact_error);
  append(all.complex, block.complex);
  append(all.third_order, block.third_order);
  all.steps += block.steps;
}

// The whole report in memory: the streamed blocks appended to the tail's totals.
DecompositionReport decompose_in_memory(const pk::nn::Model& model, const pk::nn::Trajectory& facts,
                                        std::int64_t steps, const StepReader& read, const Tensor& final_weights,
                                        TensorView queries, const DecompositionOptions& options,
                                        const std::function<void(std::int64_t, std::int64_t)>& progress) {
  DecompositionReport rows;
  const StepBlockSink keep = [&](const DecompositionReport& block, std::int64_t) { append_rows(rows, block); };
  DecompositionReport r = decompose_steps(model, facts, 0, steps, steps, read, final_weights, queries, options, keep, progress);
  for (auto member : {&DecompositionReport::learning_rate, &DecompositionReport::loss,
                      &DecompositionReport::sharpness, &DecompositionReport::sharpness_residual,
                      &DecompositionReport::stability_threshold, &DecompositionReport::preconditioned_sharpness})
    r.*member = std::move(rows.*member);
  // The backward attribution leaves its per-step check in the tail; the forward one in the rows.
  if (r.exact_attribution_error.empty()) r.exact_attribution_error = std::move(rows.exact_attribution_error);
  for (auto member : {&DecompositionReport::df, &DecompositionReport::first_order, &DecompositionReport::second_order,
                      &DecompositionReport::exact_change, &DecompositionReport::exact_error,
                      &DecompositionReport::third_order})
    r.*member = std::move(rows.*member);
  r.exact_nodes = std::move(rows.exact_nodes);
  r.second_order_computed = std::move(rows.second_order_computed);
  r.complex = std::move(rows.complex);
  r.steps = rows.steps;
  return r;
}

StepReader reader_source(const pk::nn::TrajectoryReader& run) {
  return [&run](std::int64_t k, pk::nn::StepRecord& scratch) {
    run.read_step(k, scratch);
    return scratch.view();
  };
}
}  // namespace

DecompositionReport decompose(const pk::nn::Model& model, const pk::nn::Trajectory& trajectory,
                              TensorView queries, const DecompositionOptions& options,
                              const std::function<void(std::int64_t, std::int64_t)>& progress) {
  const StepReader read = [&](std::int64_t k, pk::nn::StepRecord&) { return trajectory.step_view(k); };
  return decompose_in_memory(model, trajectory, trajectory.steps(), read,
                             Tensor(trajectory.weights(trajectory.steps())), queries, options, progress);
}

DecompositionReport decompose(const pk::nn::Model& model, const pk::nn::TrajectoryReader& run,
                              TensorView queries, const DecompositionOptions& options,
                              const std::function<void(std::int64_t, std::int64_t)>& progress) {
  Tensor final_weights(Shape::vector(run.facts().parameter_count));
  run.read_weights(run.steps(), final_weights.span());
  return decompose_in_memory(model, run.facts(), run.steps(), reader_source(run), final_weights, queries,
                             options, progress);
}

DecompositionReport decompose_stream(const pk::nn::Model& model, const pk::nn::TrajectoryReader& run,
                                     TensorView queries, const DecompositionOptions& options,
                                     std::int64_t first, std::int64_t end, const StepBlockSink& sink,
                                     const std::function<void(std::int64_t, std::int64_t)>& progress) {
  if (first < 0 || end < first || end > run.steps())
    throw std::invalid_argument("decompose: steps " + std::to_string(first) + ":" + std::to_string(end) +
                                " outside a run of " + std::to_string(run.steps()) + " steps");
  Tensor final_weights(Shape::vector(run.facts().parameter_count));
  run.read_weights(end, final_weights.span());
  return decompose_steps(model, run.facts(), first, end, run.steps(), reader_source(run),
                         final_weights, queries, options, sink, progress);
}

DecompositionObserver::DecompositionObserver(pk::nn::Model model, pk::nn::Loss loss, Tensor queries,
                                             DecompositionOptions options)
    : model_(std::move(model)), loss_(loss), queries_(std::move(queries)), options_(options) {}

void DecompositionObserver::on_start(const pk::nn::RunInfo& info) {
  report_.reset();
  // Online the steps arrive in order: the attribution runs forward (attribution_method.hpp).
  plan_ = plan_attribution(model_, info, info.planned_steps, queries_.shape().dim(0), options_, false);
  DecompositionOptions resolved = options_;
  resolved.attribution_method = plan_.method;
  Pieces pieces = make_pieces(model_, loss_, queries_, Tensor(info.training_inputs),
                              Tensor(info.training_targets), info.optimizer, resolved);
  pieces_ = std::move(pieces.parts);
  offsets_ = std::move(pieces.offsets);
}

void DecompositionObserver::on_step(const pk::nn::StepView& step) {
  for (Decomposer& piece : pieces_) piece.add_step(step);
}

void DecompositionObserver::on_finish(const pk::nn::TrainingResult& result) {
  std::vector<DecompositionReport> reports;
  for (Decomposer& piece : pieces_) reports.push_back(piece.finish(result.final_weights));
  report_ = merge_query_pieces(std::move(reports), offsets_, options_);
  report_->attribution_plan = plan_;
}

const DecompositionReport& DecompositionObserver::report() const {
  if (!report_) throw std::logic_error("DecompositionObserver: the run has not finished");
  return *report_;
}

}  // namespace pk::kernel
