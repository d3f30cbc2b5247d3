#include "nn/trajectory.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <sstream>
#include <utility>

#include "nn/error.hpp"

namespace pk::nn {

// --- Trajectory ----------------------------------------------------------------------------

void Trajectory::check_step(std::int64_t k, const char* what) const {
  if (k < 0 || k >= steps())
    throw SpecError(std::string("trajectory ") + what + ": step " + std::to_string(k) + " outside [0, " +
                    std::to_string(steps()) + ")");
}

ad::TensorView Trajectory::weights(std::int64_t k) const {
  if (k < 0 || k > steps())
    throw SpecError("trajectory weights: index " + std::to_string(k) + " outside [0, " +
                    std::to_string(steps()) + "]");
  return {weights_.data() + k * parameter_count, ad::Shape::vector(parameter_count)};
}

StepView Trajectory::step_view(std::int64_t k) const {
  check_step(k, "step_view");
  StepView s;
  s.step = k;
  s.weights_before = weights(k);
  s.weights_after = weights(k + 1);
  s.learning_rate = learning_rate(k);
  s.batch = batch(k);
  s.output_derivatives = output_derivatives(k);
  s.loss = loss_value(k);
  return s;
}

ad::Tensor Trajectory::step(std::int64_t k) const {
  check_step(k, "step");
  ad::Tensor dw(ad::Shape::vector(parameter_count));
  const double* a = weights_.data() + k * parameter_count;
  const double* b = a + parameter_count;
  for (std::int64_t i = 0; i < parameter_count; ++i) dw[i] = b[i] - a[i];
  return dw;
}

double Trajectory::learning_rate(std::int64_t k) const {
  check_step(k, "learning_rate");
  return learning_rates_[static_cast<std::size_t>(k)];
}

double Trajectory::loss_value(std::int64_t k) const {
  check_step(k, "loss_value");
  return losses_[static_cast<std::size_t>(k)];
}

std::span<const std::int64_t> Trajectory::batch(std::int64_t k) const {
  check_step(k, "batch");
  const auto begin = static_cast<std::size_t>(batch_offsets_[static_cast<std::size_t>(k)]);
  const auto end = static_cast<std::size_t>(batch_offsets_[static_cast<std::size_t>(k) + 1]);
  return std::span<const std::int64_t>(batch_rows_).subspan(begin, end - begin);
}

ad::TensorView Trajectory::output_derivatives(std::int64_t k) const {
  check_step(k, "output_derivatives");
  const std::int64_t begin = batch_offsets_[static_cast<std::size_t>(k)];
  const std::int64_t n = batch_offsets_[static_cast<std::size_t>(k) + 1] - begin;
  return {output_derivatives_.data() + begin * output_count, ad::Shape::matrix(n, output_count)};
}

ad::Tensor Trajectory::dense_output_derivatives(std::int64_t k) const {
  const ad::TensorView d = output_derivatives(k);
  const std::span<const std::int64_t> rows = batch(k);
  ad::Tensor dense(ad::Shape::matrix(sample_count, output_count));
  for (std::size_t i = 0; i < rows.size(); ++i)
    std::copy_n(d.data() + static_cast<std::int64_t>(i) * output_count, output_count,
                dense.data() + rows[i] * output_count);
  return dense;
}

void Trajectory::start(const RunInfo& info) {
  static_cast<RunFacts&>(*this) = info;
  status = TrainingStatus::interrupted;
  message.clear();
  final_loss.reset();
  if (info.initial_weights.size() != parameter_count)
    throw SpecError("trajectory: initial weights of " + std::to_string(info.initial_weights.size()) +
                    " for " + std::to_string(parameter_count) + " parameters");
  if (info.training_inputs.shape() != ad::Shape::matrix(sample_count, input_dim) ||
      info.training_targets.shape() != ad::Shape::matrix(sample_count, target_dim))
    throw SpecError("trajectory: training data of shapes " + info.training_inputs.shape().str() + " and " +
                    info.training_targets.shape().str() + " for " + std::to_string(sample_count) +
                    " samples of " + std::to_string(input_dim) + " inputs and " + std::to_string(target_dim) +
                    " targets");
  inputs_.assign(info.training_inputs.span().begin(), info.training_inputs.span().end());
  targets_.assign(info.training_targets.span().begin(), info.training_targets.span().end());
  weights_.assign(info.initial_weights.span().begin(), info.initial_weights.span().end());
  learning_rates_.clear();
  losses_.clear();
  batch_offsets_.assign(1, 0);
  batch_rows_.clear();
  output_derivatives_.clear();
}

void Trajectory::append(std::span<const double> weights_after, double learning_rate,
                        std::span<const std::int64_t> batch, std::span<const double> derivatives,
                        double loss_value) {
  if (static_cast<std::int64_t>(weights_after.size()) != parameter_count ||
      derivatives.size() != batch.size() * static_cast<std::size_t>(output_count))
    throw SpecError("trajectory append: sizes do not match the run (D = " + std::to_string(parameter_count) +
                    ", C = " + std::to_string(output_count) + ")");
  weights_.insert(weights_.end(), weights_after.begin(), weights_after.end());
  learning_rates_.push_back(learning_rate);
  losses_.push_back(loss_value);
  batch_rows_.insert(batch_rows_.end(), batch.begin(), batch.end());
  batch_offsets_.push_back(static_cast<std::int64_t>(batch_rows_.size()));
  output_derivatives_.insert(output_derivatives_.end(), derivatives.begin(), derivatives.end());
}

void Trajectory::append(const StepView& step) {
  append(step.weights_after.span(), step.learning_rate, step.batch, step.output_derivatives.span(),
         step.loss);
}

void TrajectoryRecorder::on_start(const RunInfo& info) { trajectory_.start(info); }

void TrajectoryRecorder::on_step(const StepView& step) { trajectory_.append(step); }

void TrajectoryRecorder::on_finish(const TrainingResult& result) {
  trajectory_.status = result.status;
  trajectory_.message = result.message;
  if (std::isfinite(result.final_loss)) trajectory_.final_loss = result.final_loss;
}

}  // namespace pk::nn
