#include "kernel/optimizer_shares.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "autodiff/error.hpp"
#include "autodiff/functional.hpp"
#include "autodiff/grad.hpp"
#include "autodiff/ops.hpp"
#include "kernel/sharpness.hpp"
#include "kernel/tangent_kernel.hpp"

namespace pk::kernel {

using pk::ad::Shape;
using pk::ad::Tensor;
using pk::ad::TensorView;
using pk::ad::Var;
using pk::nn::OptimizerKind;

bool threshold_is_preconditioned(const pk::nn::OptimizerConfig& config) {
  return config.kind == OptimizerKind::adam || config.kind == OptimizerKind::adamw;
}

double stability_threshold(const pk::nn::OptimizerConfig& config, double alpha) {
  if (!(alpha > 0.0))
    throw std::invalid_argument("stability_threshold: learning rate " + std::to_string(alpha) +
                                " is not positive");
  const double lambda = config.weight_decay;
  switch (config.kind) {
    case OptimizerKind::gradient_descent:
      return 2.0 / alpha - lambda;
    case OptimizerKind::momentum: {
      const double mu = config.momentum;
      // On h w^2 / 2 the heavy-ball iteration has an eigenvalue -1 at alpha h = 2 (1 + mu); PyTorch's
      // Nesterov step, w - alpha (g + mu b), at alpha h (1 + 2 mu) = 2 (1 + mu).
      if (config.nesterov) return 2.0 * (1.0 + mu) / ((1.0 + 2.0 * mu) * alpha) - lambda;
      return 2.0 * (1.0 + mu) / alpha - lambda;
    }
    case OptimizerKind::adam:
    case OptimizerKind::adamw:
      return (2.0 + 2.0 * config.beta1) / ((1.0 - config.beta1) * alpha);
  }
  return std::nan("");
}

double preconditioned_sharpness(pk::ad::Function loss, const Tensor& w, std::span<const double> denominator,
                                double coupled_decay, int max_iterations, double tolerance,
                                pk::ad::Tape* workspace) {
  if (static_cast<std::int64_t>(denominator.size()) != w.size())
    throw std::invalid_argument("preconditioned_sharpness: " + std::to_string(denominator.size()) +
                                " divisors for " + std::to_string(w.size()) + " parameters");
  Tensor scale(w.shape()), u(w.shape());
  for (std::int64_t i = 0; i < w.size(); ++i) {
    scale[i] = 1.0 / std::sqrt(denominator[static_cast<std::size_t>(i)]);
    u[i] = w[i] / scale[i];
  }
  auto in_u = [&](Var uv) {
    const Var wv = pk::ad::mul(uv.tape().constant(scale), uv);
    Var l = loss(wv);
    if (coupled_decay != 0.0)
      l = pk::ad::add(l, pk::ad::mul_scalar(pk::ad::sum(pk::ad::square(wv)), 0.5 * coupled_decay));
    return l;
  };
  return sharpness(in_u, u, max_iterations, tolerance, 0x5eed, workspace).lambda_max;
}

Tensor batch_rows(const Tensor& inputs, std::span<const std::int64_t> batch, std::int64_t step) {
  const std::int64_t m_all = inputs.shape().as_rows(), features = inputs.shape().dim(1);
  const auto nb = static_cast<std::int64_t>(batch.size());
  Tensor rows(Shape::matrix(nb, features));
  for (std::int64_t b = 0; b < nb; ++b) {
    const std::int64_t m = batch[static_cast<std::size_t>(b)];
    if (m < 0 || m >= m_all)
      throw std::out_of_range("optimizer shares: step " + std::to_string(step) + " names training point " +
                              std::to_string(m) + " of " + std::to_string(m_all));
    std::copy_n(inputs.data() + m * features, features, rows.data() + b * features);
  }
  return rows;
}

std::vector<double> per_sample_gradients(const pk::nn::Model& model, const Tensor& batch_inputs,
                                         const Tensor& w, TensorView output_derivatives, pk::ad::Tape& tape) {
  const std::int64_t nb = batch_inputs.shape().as_rows(), c_out = model.output_dim(),
                     d = model.parameter_count();
  const auto f = [&model](Var x, Var wv) { return model.forward(x, wv); };
  const Tensor jac = per_sample_jacobians(f, batch_inputs, w, tape);  // (nb*C) x D
  std::vector<double> v(static_cast<std::size_t>(nb * d), 0.0);
  for (std::int64_t b = 0; b < nb; ++b)
    for (std::int64_t c = 0; c < c_out; ++c) {
      const double l = output_derivatives[b * c_out + c];
      const double* row = jac.data() + (b * c_out + c) * d;
      double* vb = v.data() + b * d;
      for (std::int64_t i = 0; i < d; ++i) vb[i] += l * row[i];
    }
  return v;
}

OptimizerShares::OptimizerShares(pk::nn::Model model, const pk::nn::OptimizerConfig& config,
                                 Tensor training_inputs, bool per_point)
    : model_(std::move(model)),
      config_(config),
      inputs_(std::move(training_inputs)),
      m_(inputs_.shape().as_rows()),
      d_(model_.parameter_count()),
      c_(model_.output_dim()),
      features_(model_.input_dim()),
      per_point_(per_point),
      replay_(config, model_.parameter_count()) {
  if (inputs_.shape().rank != 2 || inputs_.shape().dim(1) != features_)
    throw pk::ad::ShapeError("optimizer shares: training inputs of shape " + inputs_.shape().str() +
                             " for a model of " + std::to_string(features_) + " inputs");
  const auto md = static_cast<std::size_t>(m_ * d_), d = static_cast<std::size_t>(d_);
  replayed_.assign(d, 0.0);
  if (!per_point_) return;
  // Plain gradient descent carries nothing from step to step.
  if (config.kind != OptimizerKind::gradient_descent) state_.assign(md, 0.0);
  shares_.assign(md, 0.0);
  regularizer_state_.assign(d, 0.0);
  regularizer_share_.assign(d, 0.0);
  active_.assign(static_cast<std::size_t>(m_), 0);
}

std::span<const double> OptimizerShares::share(std::int64_t m) const {
  if (!per_point_) throw std::logic_error("optimizer shares: built without per-point state");
  return {shares_.data() + m * d_, static_cast<std::size_t>(d_)};
}

std::int64_t OptimizerShares::state_bytes_for(const pk::nn::OptimizerConfig& config, std::int64_t m,
                                              std::int64_t d, std::int64_t batch, bool per_point) {
  // replayed w_{k+1}, and Adam's two moments and divisor inside the replayed optimiser
  std::int64_t doubles = d + (threshold_is_preconditioned(config) ? 3 * d : 0);
  std::int64_t bytes = 0;
  if (per_point) {
    doubles += (config.kind != OptimizerKind::gradient_descent ? m * d : 0) + m * d  // buffers, shares
               + 2 * d + batch * d;  // the decay's buffer and share, the batch's gradients
    bytes += m;                      // active flags
  }
  return bytes + doubles * static_cast<std::int64_t>(sizeof(double));
}

std::int64_t OptimizerShares::state_bytes() const {
  return state_bytes_for(config_, m_, d_, max_batch_, per_point_);
}

void OptimizerShares::check_replay(std::int64_t step, double replay_gap, double size) const {
  // The replay follows the recorded run's own operations, so only another rule or other constants
  // make it miss. The shares' sum is a different sum of the same numbers: where a parameter's
  // per-point gradients cancel, Adam's division by a small sqrt(v) magnifies its rounding (by at
  // most 1/eps), so its closure is reported, not enforced.
  if (!(replay_gap <= 1e-9 * size))
    throw std::runtime_error("optimizer shares: step " + std::to_string(step) + " of this " +
                             std::string(pk::nn::optimizer_name(config_.kind)) +
                             " run does not follow its recorded optimiser and constants (replayed w_" +
                             std::to_string(step + 1) + " misses the recorded one by " +
                             std::to_string(size > 0 ? replay_gap / size : replay_gap) + " of the step)");
}

void OptimizerShares::add_step(std::int64_t step, TensorView w, TensorView w_next, double alpha,
                               std::span<const std::int64_t> batch, TensorView output_derivatives,
                               pk::ad::Tape& tape) {
  if (step != next_step_)
    throw std::invalid_argument("optimizer shares: step " + std::to_string(step) + " given where step " +
                                std::to_string(next_step_) + " was expected");
  const auto nb = static_cast<std::int64_t>(batch.size());
  if (w.size() != d_ || w_next.size() != d_ || output_derivatives.size() != nb * c_)
    throw pk::ad::ShapeError("optimizer shares: step " + std::to_string(step) + " has weights of " +
                             std::to_string(w.size()) + " and " + std::to_string(nb) + " x " +
                             std::to_string(c_) + " output derivatives for D = " + std::to_string(d_));
  const Tensor batch_inputs = batch_rows(inputs_, batch, step);

  // The batch gradient as the trainer takes it (one reverse sweep seeded by L'), so the replayed
  // optimiser, and with it Adam's preconditioner, is the recorded run's to the bit.
  const Tensor wt(w);
  {
    tape.clear();
    const Var wv = tape.variable(wt);
    const Var y = model_.forward(tape.constant(batch_inputs), wv);
    const Var seed = tape.constant(output_derivatives);
    const Tensor gradient(pk::ad::grad(y, wv, {.create_graph = false, .seed = seed}).value());
    replay_.step(w.span(), gradient.span(), alpha, replayed_);
  }
  if (!per_point_) {
    double size = 0.0, replay_gap = 0.0;
    for (std::int64_t i = 0; i < d_; ++i) {
      size = std::max(size, std::abs(w_next[i] - w[i]));
      replay_gap = std::max(replay_gap, std::abs(replayed_[static_cast<std::size_t>(i)] - w_next[i]));
    }
    check_replay(step, replay_gap, size);
    ++next_step_;
    return;
  }

  // v_{k,m} = J_k(x_m)^T L'_{k,m} for the batch's points.
  gradients_ = per_sample_gradients(model_, batch_inputs, wt, output_derivatives, tape);
  max_batch_ = std::max(max_batch_, nb);

  // The point's gradient at this step, zero outside the batch: recurrences below run over every
  // point that has state, in the optimiser's own order of operations.
  std::vector<std::int64_t> slot(static_cast<std::size_t>(m_), -1);
  for (std::int64_t b = 0; b < nb; ++b) {
    slot[static_cast<std::size_t>(batch[static_cast<std::size_t>(b)])] = b;
    active_[static_cast<std::size_t>(batch[static_cast<std::size_t>(b)])] = 1;
  }
  const double lambda = config_.weight_decay;
  const bool first = step == 0;
  const double* wp = w.data();
  double* reg_state = regularizer_state_.data();
  double* reg_share = regularizer_share_.data();
  switch (config_.kind) {
    case OptimizerKind::gradient_descent:
      for (std::int64_t m = 0; m < m_; ++m) {
        double* c = shares_.data() + m * d_;
        const std::int64_t b = slot[static_cast<std::size_t>(m)];
        if (b < 0)
          std::fill_n(c, d_, 0.0);
        else
          for (std::int64_t i = 0; i < d_; ++i)
            c[i] = -alpha * gradients_[static_cast<std::size_t>(b * d_ + i)];
      }
      for (std::int64_t i = 0; i < d_; ++i) reg_share[i] = -alpha * (lambda * wp[i]);
      break;
    case OptimizerKind::momentum: {
      const double mu = config_.momentum;
      auto advance = [&](double* buffer, double* c, const double* g) {
        for (std::int64_t i = 0; i < d_; ++i) {
          const double gi = g ? g[i] : 0.0;
          buffer[i] = first ? gi : mu * buffer[i] + gi;
          c[i] = -alpha * (config_.nesterov ? gi + mu * buffer[i] : buffer[i]);
        }
      };
      for (std::int64_t m = 0; m < m_; ++m) {
        if (!active_[static_cast<std::size_t>(m)]) continue;
        const std::int64_t b = slot[static_cast<std::size_t>(m)];
        advance(state_.data() + m * d_, shares_.data() + m * d_,
                b < 0 ? nullptr : gradients_.data() + b * d_);
      }
      std::vector<double> decay(static_cast<std::size_t>(d_));
      for (std::int64_t i = 0; i < d_; ++i) decay[static_cast<std::size_t>(i)] = lambda * wp[i];
      advance(reg_state, reg_share, decay.data());
      break;
    }
    case OptimizerKind::adam:
    case OptimizerKind::adamw: {
      const double b1 = config_.beta1, step_size = replay_.adam_step_size();
      const std::span<const double> denom = replay_.adam_denominator();
      auto advance = [&](double* moment, double* c, const double* g) {
        for (std::int64_t i = 0; i < d_; ++i) {
          moment[i] = moment[i] * b1 + (1.0 - b1) * (g ? g[i] : 0.0);
          c[i] = -step_size * moment[i] / denom[static_cast<std::size_t>(i)];
        }
      };
      for (std::int64_t m = 0; m < m_; ++m) {
        if (!active_[static_cast<std::size_t>(m)]) continue;
        const std::int64_t b = slot[static_cast<std::size_t>(m)];
        advance(state_.data() + m * d_, shares_.data() + m * d_,
                b < 0 ? nullptr : gradients_.data() + b * d_);
      }
      if (config_.kind == OptimizerKind::adam) {
        std::vector<double> decay(static_cast<std::size_t>(d_));
        for (std::int64_t i = 0; i < d_; ++i) decay[static_cast<std::size_t>(i)] = lambda * wp[i];
        advance(reg_state, reg_share, decay.data());
      } else {
        // AdamW shrinks w_k before its step: that shrink is the decay's whole share.
        for (std::int64_t i = 0; i < d_; ++i) reg_share[i] = -(alpha * lambda) * wp[i];
      }
      break;
    }
  }

  double gap = 0.0, size = 0.0, replay_gap = 0.0;
  for (std::int64_t i = 0; i < d_; ++i) {
    double sum = reg_share[i];
    for (std::int64_t m = 0; m < m_; ++m)
      if (active_[static_cast<std::size_t>(m)]) sum += shares_[static_cast<std::size_t>(m * d_ + i)];
    const double dw = w_next[i] - wp[i];
    gap = std::max(gap, std::abs(sum - dw));
    size = std::max(size, std::abs(dw));
    replay_gap = std::max(replay_gap, std::abs(replayed_[static_cast<std::size_t>(i)] - w_next[i]));
  }
  check_replay(step, replay_gap, size);
  const double closure = size > 0 ? gap / size : (gap > 0 ? INFINITY : 0.0);
  closure_error_ = std::max(closure_error_, closure);
  ++next_step_;
}

void accumulate_shares(const Tensor& jacobians, const OptimizerShares& shares, double weight,
                       std::span<double> attribution, std::span<double> regularizer) {
  const std::int64_t d = shares.parameter_count(), m_all = shares.training_points();
  const std::int64_t rows = jacobians.shape().as_rows();
  if (jacobians.size() != rows * d || static_cast<std::int64_t>(attribution.size()) != rows * m_all ||
      static_cast<std::int64_t>(regularizer.size()) != rows)
    throw pk::ad::ShapeError("accumulate_shares: Jacobians of shape " + jacobians.shape().str() + " for " +
                             std::to_string(attribution.size()) +
                             " attributions and D = " + std::to_string(d));
  const std::span<const double> reg = shares.regularizer_share();
  for (std::int64_t r = 0; r < rows; ++r) {
    const double* j = jacobians.data() + r * d;
    for (std::int64_t m = 0; m < m_all; ++m) {
      if (!shares.active(m)) continue;
      const std::span<const double> c = shares.share(m);
      double s = 0.0;
      for (std::int64_t i = 0; i < d; ++i) s += j[i] * c[static_cast<std::size_t>(i)];
      attribution[static_cast<std::size_t>(r * m_all + m)] += weight * s;
    }
    double s = 0.0;
    for (std::int64_t i = 0; i < d; ++i) s += j[i] * reg[static_cast<std::size_t>(i)];
    regularizer[static_cast<std::size_t>(r)] += weight * s;
  }
}

}  // namespace pk::kernel
