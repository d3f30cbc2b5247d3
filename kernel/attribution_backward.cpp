#include "kernel/attribution_backward.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "autodiff/error.hpp"
#include "autodiff/functional.hpp"
#include "kernel/gauss_legendre.hpp"
#include "kernel/optimizer_shares.hpp"
#include "kernel/tangent_kernel.hpp"

namespace pk::kernel {

using pk::ad::Shape;
using pk::ad::Tensor;
using pk::ad::TensorView;
using pk::ad::Var;
using pk::nn::OptimizerKind;

AttributionPlan plan_attribution(const pk::nn::Model& model, const pk::nn::RunFacts& facts,
                                 std::int64_t steps, std::int64_t queries,
                                 const DecompositionOptions& options, bool steps_in_reverse) {
  const bool kernel_form = pk::nn::has_kernel_form(facts.optimizer);
  AttributionProblem p;
  p.optimizer = facts.optimizer;
  p.training_points = facts.sample_count;
  p.parameters = model.parameter_count();
  p.outputs = model.output_dim();
  p.steps = steps;
  p.batch_capacity = facts.batch_capacity > 0 ? facts.batch_capacity : facts.sample_count;
  // The pieces as decompose cuts them (at least one, even without query points).
  const std::int64_t chunk = std::max<std::int64_t>(options.query_chunk, 1);
  for (std::int64_t first = 0; first < std::max<std::int64_t>(queries, 1); first += chunk)
    p.piece_queries.push_back(std::min(chunk, queries - first));
  p.shares_attribution = options.attribution && !kernel_form;
  p.exact_attribution = options.exact_attribution;
  p.pairs_need_shares = options.pair_query >= 0 && !kernel_form;
  p.steps_in_reverse = steps_in_reverse;
  return plan_attribution(options.attribution_method, p);
}

namespace {
// One sum being accumulated backwards: the first-order attribution (J_k) or the exact one
// (Jbar_k), with its recurrence buffer (Q*C x D; empty for plain gradient descent).
struct Target {
  bool exact = false;
  std::vector<double>* attribution = nullptr;
  std::vector<double>* regularizer = nullptr;
  std::vector<double> state;
};

double dot(const double* a, const double* b, std::int64_t n) {
  double s = 0.0;
  for (std::int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}
}  // namespace

void attribute_backward(const pk::nn::Model& model, const pk::nn::OptimizerConfig& optimizer,
                        const Tensor& training_inputs, TensorView queries, std::int64_t first,
                        std::int64_t steps, const StepReader& read, DecompositionReport& report) {
  DecompositionReport& r = report;
  const DecompositionOptions& o = r.options;
  const std::int64_t d = model.parameter_count(), c_out = r.outputs, rows = r.queries * c_out;
  const std::int64_t m_all = r.training_points, features = model.input_dim();
  if (queries.shape().rank != 2 || queries.shape().dim(1) != features || first < 0 ||
      first + r.queries > queries.shape().dim(0) || r.steps != steps)
    throw pk::ad::ShapeError("attribute_backward: query rows " + std::to_string(first) + " .. " +
                             std::to_string(first + r.queries) + " of " + queries.shape().str() + " for " +
                             std::to_string(steps) + " steps of a report of " + std::to_string(r.steps));
  Tensor piece(Shape::matrix(r.queries, features));
  std::copy_n(queries.data() + first * features, r.queries * features, piece.data());

  const OptimizerKind kind = optimizer.kind;
  const bool adam = threshold_is_preconditioned(optimizer);
  const bool memory = adam || kind == OptimizerKind::momentum;
  const double lambda = optimizer.weight_decay;
  pk::ad::Tape tape;
  pk::nn::StepRecord scratch;
  std::int64_t bytes = 0;

  std::vector<Target> targets;
  if (o.attribution && !r.kernel_form)
    targets.push_back({false, &r.attribution, &r.attribution_regularizer, {}});
  if (o.exact_attribution)
    targets.push_back({true, &r.exact_attribution, &r.exact_attribution_regularizer, {}});
  for (Target& t : targets) {
    if (memory) t.state.assign(static_cast<std::size_t>(rows * d), 0.0);
    t.attribution->assign(static_cast<std::size_t>(rows * m_all), 0.0);
    t.regularizer->assign(static_cast<std::size_t>(rows), 0.0);
  }
  // Adam's P_k and alpha_k / (1 - b1^(k+1)) depend on every earlier step: replayed forward once
  // and kept (N x D), by the same replay the forward route uses.
  std::vector<double> denominators, step_sizes;
  if (adam && !targets.empty()) {
    OptimizerShares replay(model, optimizer, training_inputs, false);
    denominators.resize(static_cast<std::size_t>(steps * d));
    step_sizes.resize(static_cast<std::size_t>(steps));
    for (std::int64_t k = 0; k < steps; ++k) {
      const pk::nn::StepView s = read(k, scratch);
      replay.add_step(k, s.weights_before, s.weights_after, s.learning_rate, s.batch, s.output_derivatives,
                      tape);
      std::copy(replay.adam_denominator().begin(), replay.adam_denominator().end(),
                denominators.begin() + k * d);
      step_sizes[static_cast<std::size_t>(k)] = replay.adam_step_size();
    }
    bytes += replay.state_bytes();
  }

  if (o.exact_attribution) r.exact_attribution_error.assign(static_cast<std::size_t>(steps), 0.0);
  std::vector<double> u(static_cast<std::size_t>(rows * d)), decay(static_cast<std::size_t>(d));
  std::int64_t batch_capacity = 0;
  auto f = [&model](Var x, Var w) { return model.forward(x, w); };

  for (std::int64_t k = steps - 1; k >= 0 && !targets.empty(); --k) {
    const pk::nn::StepView s = read(k, scratch);
    const Tensor w(s.weights_before);
    const double alpha = s.learning_rate;
    const auto nb = static_cast<std::int64_t>(s.batch.size());
    batch_capacity = std::max(batch_capacity, nb);
    const std::vector<double> v =
        per_sample_gradients(model, batch_rows(training_inputs, s.batch, k), w, s.output_derivatives, tape);
    // The decay's "gradient" lambda w_k for the coupled rules; AdamW's shrink is its whole share.
    for (std::int64_t i = 0; i < d; ++i)
      decay[static_cast<std::size_t>(i)] =
          kind == OptimizerKind::adamw ? -(alpha * lambda) * w[i] : lambda * w[i];
    for (Target& t : targets) {
      // G_k: the query points' Jacobians at w_k, or integrated along the step on the nodes the
      // exact kernel converged on for this piece.
      Tensor g;
      if (!t.exact) {
        g = per_sample_jacobians(f, piece, w, tape);
      } else {
        const Tensor after(s.weights_after);
        const GaussLegendre rule = gauss_legendre(r.exact_nodes[static_cast<std::size_t>(k)]);
        g = Tensor(Shape::matrix(rows, d), 0.0);
        Tensor point(w.shape());
        for (std::size_t n = 0; n < rule.nodes.size(); ++n) {
          for (std::int64_t i = 0; i < d; ++i) point[i] = w[i] + rule.nodes[n] * (after[i] - w[i]);
          const Tensor jn = per_sample_jacobians(f, piece, point, tape);
          for (std::int64_t i = 0; i < rows * d; ++i) g[i] += rule.weights[n] * jn[i];
        }
        // The step's closure: sum_m Jbar_k c_{k,m} + Jbar_k c_{k,reg} = Jbar_k dw_k to the shares'
        // rounding, against the change it integrates.
        double worst = 0.0;
        for (std::int64_t row = 0; row < rows; ++row) {
          double jdw = 0.0;
          for (std::int64_t i = 0; i < d; ++i) jdw += g[row * d + i] * (after[i] - w[i]);
          const double e = std::abs(jdw - r.df[static_cast<std::size_t>(k * rows + row)]);
          if (!(e <= worst)) worst = e;
        }
        r.exact_attribution_error[static_cast<std::size_t>(k)] = worst;
      }
      // u_k from G_k and the buffer of the later steps (the adjoint of the optimiser's recurrence).
      double* st = t.state.data();
      for (std::int64_t i = 0; i < rows * d; ++i) {
        const double step_term = -alpha * g[i];
        switch (kind) {
          case OptimizerKind::gradient_descent:
            u[static_cast<std::size_t>(i)] = step_term;
            break;
          case OptimizerKind::momentum:
            st[i] = step_term + optimizer.momentum * st[i];
            u[static_cast<std::size_t>(i)] =
                optimizer.nesterov ? step_term + optimizer.momentum * st[i] : st[i];
            break;
          case OptimizerKind::adam:
          case OptimizerKind::adamw: {
            const double divisor = denominators[static_cast<std::size_t>(k * d + i % d)];
            st[i] = -step_sizes[static_cast<std::size_t>(k)] * g[i] / divisor + optimizer.beta1 * st[i];
            u[static_cast<std::size_t>(i)] = (1.0 - optimizer.beta1) * st[i];
            break;
          }
        }
      }
      // A_m += u_k . v_{k,m} for the batch's points, A_reg += u_k . (lambda w_k) (AdamW: G_k . its shrink).
      const double* reg_weights = kind == OptimizerKind::adamw ? g.data() : u.data();
      for (std::int64_t row = 0; row < rows; ++row) {
        const double* ur = u.data() + row * d;
        double* a = t.attribution->data() + row * m_all;
        for (std::int64_t b = 0; b < nb; ++b)
          a[s.batch[static_cast<std::size_t>(b)]] += dot(ur, v.data() + b * d, d);
        (*t.regularizer)[static_cast<std::size_t>(row)] += dot(reg_weights + row * d, decay.data(), d);
      }
    }
  }
  if (!targets.empty()) {
    std::int64_t doubles =
        static_cast<std::int64_t>(u.size() + decay.size() + denominators.size() + step_sizes.size()) +
        rows * d + batch_capacity * d;  // the step's G_k and v_{k,m}
    for (const Target& t : targets) doubles += static_cast<std::int64_t>(t.state.size());
    bytes += doubles * static_cast<std::int64_t>(sizeof(double));
  } else {
    bytes = 0;
  }
  r.attribution_state_bytes += bytes;
}

}  // namespace pk::kernel
