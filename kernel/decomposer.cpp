#include "kernel/decomposition.hpp"
// The Decomposer: one piece of query points taken through a run step by step (F1, F2, the
// exact kernel, attribution, sharpness), its rows handed over block by block for streaming. A
// little over 500 lines, on purpose: the terms of one step share its Jacobians and tape, and
// what each term computes is in its own file (step_terms, optimizer_shares, sharpness, ...).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include "autodiff/error.hpp"
#include "autodiff/functional.hpp"
#include "autodiff/ops.hpp"
#include "kernel/gauss_legendre.hpp"
#include "kernel/layered_second_order.hpp"
#include "kernel/model_tangent_kernel.hpp"
#include "kernel/optimizer_shares.hpp"
#include "kernel/report_arithmetic.hpp"
#include "kernel/sharpness.hpp"
#include "kernel/step_terms.hpp"
#include "kernel/tangent_kernel.hpp"
#include "nn/training_loss.hpp"

namespace pk::kernel {

using namespace report_arithmetic;

using pk::ad::Shape;
using pk::ad::Tensor;
using pk::ad::TensorView;
using pk::ad::Var;

namespace {
class Stopwatch {
 public:
  explicit Stopwatch(double& total) : total_(total), start_(std::chrono::steady_clock::now()) {}
  ~Stopwatch() { total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

 private:
  double& total_;
  std::chrono::steady_clock::time_point start_;
};
}  // namespace

bool carries_optimizer_state(const DecompositionOptions& o, const pk::nn::OptimizerConfig& optimizer) {
  const bool preconditioned = threshold_is_preconditioned(optimizer) && o.sharpness_every > 0;
  return ((o.attribution || o.pair_query >= 0) && !pk::nn::has_kernel_form(optimizer)) ||
         o.exact_attribution || preconditioned;
}

Decomposer::Decomposer(pk::nn::Model model, pk::nn::Loss loss, Tensor queries, Tensor training_inputs,
                       Tensor training_targets, pk::nn::OptimizerKind optimizer, DecompositionOptions options)
    : Decomposer(std::move(model), loss, std::move(queries), std::move(training_inputs),
                 std::move(training_targets), pk::nn::OptimizerConfig{.kind = optimizer}, options) {}

Decomposer::Decomposer(pk::nn::Model model, pk::nn::Loss loss, Tensor queries, Tensor training_inputs,
                       Tensor training_targets, const pk::nn::OptimizerConfig& optimizer,
                       DecompositionOptions options)
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
    throw std::invalid_argument("decompose: pair query " + std::to_string(options.pair_query) + " but only " +
                                std::to_string(report_.queries) + " query points");
  report_.options = options;
  const auto pc = static_cast<std::size_t>(report_.queries * report_.outputs);
  // --- optimiser shares (optimizer_shares.hpp): attribution beyond plain gradient descent ---
  const auto pcm = pc * static_cast<std::size_t>(report_.training_points);
  // The backward method (attribution_backward.hpp) needs only the replay here; the pair split
  // needs the per-point shares whichever way the attribution runs.
  const bool backward = options.attribution_method == AttributionMethod::backward;
  const bool per_point =
      (!backward && ((options.attribution && !report_.kernel_form) || options.exact_attribution)) ||
      (options.pair_query >= 0 && !report_.kernel_form);
  if (carries_optimizer_state(options, optimizer)) shares_.emplace(model_, optimizer, inputs_, per_point);
  if (options.attribution) {
    report_.attribution.assign(pcm, 0.0);
    // Domingos' K^p = sum_k alpha_k K_k is the kernel of plain gradient descent's steps only.
    if (report_.kernel_form)
      report_.path_kernel.assign(pcm, 0.0);
    else
      report_.attribution_regularizer.assign(pc, 0.0);
    report_.attribution_method = report_.kernel_form ? "kernel"
                                 : backward          ? "per_query_backward"
                                                     : "per_point_state";
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
    throw std::invalid_argument("decompose: step " + std::to_string(step.step) + " given where step " +
                                std::to_string(next_step_) + " was expected");
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
    const double noise =
        16 * std::numeric_limits<double>::epsilon() * std::max(std::abs(after_f[i]), std::abs(before_f[i]));
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
      const bool keep =
          o.second_order == SecondOrderMode::every_step || r.complex[base + static_cast<std::size_t>(i)];
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
    const ExactChange ex =
        exact_change(f, queries_, w, dw, df, tape_, o.exact_tolerance, 0.0, 2, o.exact_max_nodes, row_floor);
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
    r.shares_closure_error =
        shares_->per_point() ? shares_->closure_error() : kNaN;  // no shares formed: no closure
  }
  r.stability_threshold.push_back(
      step.learning_rate > 0 ? stability_threshold(r.optimizer_config, step.learning_rate) : kNaN);
  if (o.sharpness_every > 0 && step.step % o.sharpness_every == 0 &&
      (step.step / o.sharpness_every) % sharpness_pieces_ == sharpness_turn_) {
    Stopwatch t(r.seconds_sharpness);
    const pk::nn::TrainingLoss training_loss(model_, loss_, inputs_, targets_);
    const Sharpness s =
        sharpness(training_loss, w, o.lanczos_iterations, o.lanczos_tolerance, 0x5eed, &tape_);
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
  if (((o.attribution && !r.kernel_form) || o.exact_attribution) &&
      o.attribution_method != AttributionMethod::backward) {
    Stopwatch t(r.seconds_attribution);
    attribute_shares(step, dw);
  }
  ++block_steps_;
  if ((step.step + 1) % kStepBlock == 0) close_block();
  if (o.pair_query >= 0 && want_f2) {
    Stopwatch t(r.seconds_attribution);
    if (r.kernel_form)
      split_f2_into_pairs(step);
    else
      split_f2_into_share_pairs(step);
  }
  r.steps = next_step_ - first_row_;
}

// --- streaming: rows handed over block by block ---
void Decomposer::start_at(std::int64_t step) {
  if (next_step_ != first_step_ || replayed_ > 0)
    throw std::logic_error("Decomposer::start_at after the first step");
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
                           " is not the next step before the range starting at " +
                           std::to_string(first_step_));
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
  std::vector<double> attribution(pc * static_cast<std::size_t>(r.training_points), 0.0),
      regularizer(pc, 0.0);
  const GaussLegendre rule = gauss_legendre(r.exact_nodes.back());
  Tensor point(w.shape());
  for (std::size_t i = 0; i < rule.nodes.size(); ++i) {
    for (std::int64_t j = 0; j < w.size(); ++j) point[j] = w[j] + rule.nodes[i] * dw[j];
    accumulate_shares(per_sample_jacobians(f, queries_, point, tape_), *shares_, rule.weights[i], attribution,
                      regularizer);
  }
  const std::size_t base = static_cast<std::size_t>(r.steps) * pc,
                    m_all = static_cast<std::size_t>(r.training_points);
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
      c.emplace_back(Shape::vector(d),
                     std::vector<double>(shares_->share(m).begin(), shares_->share(m).end()));
    }
  if (shares_->has_regularizer()) {
    points.push_back(r.training_points);
    const std::span<const double> reg = shares_->regularizer_share();
    c.emplace_back(Shape::vector(d), std::vector<double>(reg.begin(), reg.end()));
  }
  Tensor x(Shape::matrix(1, features));
  std::copy_n(queries_.data() + r.options.pair_query * features, features, x.data());
  for (std::int64_t out = 0; out < c_out; ++out) {
    auto fc = [&](Var wv) {
      return pk::ad::sum(pk::ad::slice(f(wv.tape().constant(x), wv), 1, out, out + 1));
    };
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

}  // namespace pk::kernel
