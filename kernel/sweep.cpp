#include "kernel/sweep.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <stdexcept>

#include "kernel/optimizer_shares.hpp"
#include "kernel/parallel_for.hpp"
#include "kernel/sharpness.hpp"
#include "nn/training_loss.hpp"

namespace pk::kernel {

using pk::ad::Tensor;
using pk::ad::Var;

double log_log_slope(const std::vector<double>& x, const std::vector<double>& y) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  int n = 0;
  for (std::size_t i = 0; i < x.size() && i < y.size(); ++i) {
    if (!(x[i] > 0) || !(y[i] > 0) || !std::isfinite(x[i]) || !std::isfinite(y[i])) continue;
    const double lx = std::log(x[i]), ly = std::log(y[i]);
    sx += lx;
    sy += ly;
    sxx += lx * lx;
    sxy += lx * ly;
    ++n;
  }
  if (n < 2) return std::nan("");
  const double denominator = n * sxx - sx * sx;
  if (denominator == 0) return std::nan("");
  return (n * sxy - sx * sy) / denominator;
}

double relative_norm(const std::vector<double>& miss, const std::vector<double>& learned) {
  // 2-norms scaled by their largest entry, so large predictions cannot overflow the squares.
  auto norm = [](const std::vector<double>& v) {
    double top = 0.0;
    for (double x : v) {
      if (!std::isfinite(x)) return std::numeric_limits<double>::infinity();
      top = std::max(top, std::abs(x));
    }
    if (top == 0.0) return 0.0;
    double sum = 0.0;
    for (double x : v) sum += (x / top) * (x / top);
    return top * std::sqrt(sum);
  };
  const double denominator = norm(learned);
  if (!(denominator > 0.0)) return std::nan("");
  return norm(miss) / denominator;
}

double relative_error(const DecompositionReport& r, Correction correction) {
  std::vector<double> miss, learned;
  for (std::int64_t q = 0; q < r.queries; ++q)
    for (std::int64_t c = 0; c < r.outputs; ++c) {
      double predicted = 0.0;
      for (std::int64_t k = 0; k < r.steps; ++k) {
        const std::size_t i = r.index(k, q, c);
        predicted += r.first_order[i];
        const bool add =
            correction == Correction::all_steps || (correction == Correction::complex_steps && r.complex[i]);
        if (add && !std::isnan(r.second_order[i])) predicted += r.second_order[i];
      }
      const double change = r.f_final(q, c) - r.f_initial(q, c);
      miss.push_back(change - predicted);
      learned.push_back(change);
    }
  return relative_norm(miss, learned);
}

namespace {
SweepRun run_one(const pk::nn::Model& model, const pk::nn::Loss& loss, const pk::nn::Dataset& data,
                 const Tensor& queries, const Tensor& w0, double lr, std::int64_t steps, double lambda,
                 const SweepOptions& options) {
  pk::nn::TrainingConfig config;
  config.steps = steps;
  config.schedule = pk::nn::Schedule::constant(lr);
  config.batches = options.batches;
  config.optimizer = options.optimizer;
  pk::nn::Trainer trainer(model, loss, data, config);
  DecompositionObserver decomposition(model, loss, queries, options.decomposition);
  trainer.add_observer(decomposition);
  const pk::nn::TrainingResult result = trainer.run(w0);
  SweepRun run;
  run.learning_rate = lr;
  run.steps = result.steps;
  run.lr_times_lambda = lr * lambda;
  run.status = result.status;
  run.final_loss = result.final_loss;
  run.report = decomposition.report();
  run.rel_error_first = relative_error(run.report, Correction::none);
  // "With every F2" means what it says only when F2 was computed at every step.
  run.rel_error_second = options.decomposition.second_order == SecondOrderMode::every_step
                             ? relative_error(run.report, Correction::all_steps)
                             : std::nan("");
  run.rel_error_complex = relative_error(run.report, Correction::complex_steps);
  run.complex = run.report.complex_stats();
  run.exact_error = run.report.exact_identity_error();
  run.identity_error = run.report.run_identity_error();
  return run;
}
}  // namespace

SweepResult learning_rate_sweep(const pk::nn::Model& model, const pk::nn::Loss& loss,
                                const pk::nn::Dataset& data, const Tensor& queries,
                                const Tensor& initial_weights, const SweepOptions& options) {
  if (options.lr_fractions.empty()) throw std::invalid_argument("sweep: no learning rates");
  for (double f : options.lr_fractions)
    if (!(f > 0) || !std::isfinite(f))
      throw std::invalid_argument("sweep: learning-rate fractions must be positive");
  if (options.min_steps < 1) throw std::invalid_argument("sweep: min_steps must be at least 1");

  SweepResult result;
  const pk::nn::TrainingLoss training_loss(model, loss, data.inputs(), data.targets());
  result.lambda_max = sharpness(training_loss, initial_weights, options.decomposition.lanczos_iterations,
                                options.decomposition.lanczos_tolerance)
                          .lambda_max;
  if (!(result.lambda_max > 0))
    throw std::runtime_error(
        "sweep: the training loss has no positive curvature at w_0 "
        "(lambda_max = " +
        std::to_string(result.lambda_max) + "), so there is no stability limit to sweep towards");
  const double decay = options.optimizer.weight_decay;
  result.stability_limit =
      threshold_is_preconditioned(options.optimizer)
          ? 2.0 / result.lambda_max
          // stability_threshold is c / alpha - lambda: solve it for lambda_max.
          : (stability_threshold(options.optimizer, 1.0) + decay) / (result.lambda_max + decay);

  std::vector<double> rates;
  for (double f : options.lr_fractions) rates.push_back(f * result.stability_limit);
  std::sort(rates.begin(), rates.end());
  result.lr_times_steps = options.lr_times_steps > 0 ? options.lr_times_steps
                                                     : rates.back() * static_cast<double>(options.min_steps);

  result.runs.resize(rates.size());
  std::size_t finished = 0;
  std::mutex progress_mutex;
  parallel_for(rates.size(), options.threads, [&](std::size_t i) {
    const auto steps = std::max<std::int64_t>(1, std::llround(result.lr_times_steps / rates[i]));
    result.runs[i] =
        run_one(model, loss, data, queries, initial_weights, rates[i], steps, result.lambda_max, options);
    if (options.progress) {
      std::lock_guard lock(progress_mutex);
      options.progress(++finished, rates.size());
    }
  });

  result.small_lr_limit = options.small_lr_limit;
  for (const bool small_only : {false, true}) {
    std::vector<double> lr, first, second;
    for (const SweepRun& r : result.runs) {
      if (r.status != pk::nn::TrainingStatus::completed) continue;
      if (small_only && r.lr_times_lambda > options.small_lr_limit) continue;
      lr.push_back(r.learning_rate);
      first.push_back(r.rel_error_first);
      second.push_back(r.rel_error_second);
    }
    (small_only ? result.slope_first_small : result.slope_first) = log_log_slope(lr, first);
    (small_only ? result.slope_second_small : result.slope_second) = log_log_slope(lr, second);
  }
  return result;
}

}  // namespace pk::kernel
