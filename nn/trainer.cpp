#include "nn/trainer.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <utility>

#include "autodiff/functional.hpp"
#include "autodiff/grad.hpp"
#include "autodiff/ops.hpp"
#include "nn/architecture.hpp"
#include "nn/error.hpp"
#include "nn/training_loss.hpp"

namespace pk::nn {

namespace {
// The first non-finite element, or -1.
std::int64_t first_non_finite(std::span<const double> v) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) return static_cast<std::int64_t>(i);
  return -1;
}

std::string number(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

// Copies the rows `batch` of `from` into `to` (whose storage is reused between steps).
void gather(const ad::Tensor& from, std::span<const std::int64_t> batch, std::vector<double>& to) {
  const std::int64_t cols = from.shape().dim(1);
  to.resize(batch.size() * static_cast<std::size_t>(cols));
  for (std::size_t i = 0; i < batch.size(); ++i)
    std::copy_n(from.data() + batch[i] * cols, cols, to.data() + static_cast<std::int64_t>(i) * cols);
}
}  // namespace

std::string_view status_name(TrainingStatus s) {
  switch (s) {
    case TrainingStatus::completed:
      return "completed";
    case TrainingStatus::diverged:
      return "diverged";
    case TrainingStatus::stopped:
      return "stopped";
    case TrainingStatus::interrupted:
      return "interrupted";
  }
  return "?";
}

Trainer::Trainer(Model model, Loss loss, Dataset data, TrainingConfig config)
    : model_(std::move(model)), loss_(loss), data_(std::move(data)), config_(std::move(config)) {
  if (data_.input_dim() != model_.input_dim())
    throw SpecError("trainer: the data have " + std::to_string(data_.input_dim()) +
                    " input columns, model '" + model_.name() + "' takes " +
                    std::to_string(model_.input_dim()));
  loss_.check_targets(data_.targets(), model_.output_dim());
  if (config_.steps < 0) throw SpecError("trainer: negative step count " + std::to_string(config_.steps));
  const std::int64_t covered = config_.schedule.length();
  if (covered >= 0 && covered < config_.steps)
    throw SpecError("trainer: the schedule " + config_.schedule.describe() + " covers " +
                    std::to_string(covered) + " steps, the run plans " + std::to_string(config_.steps));
  BatchSampler probe(data_.size(), config_.batches);  // validates the batch configuration
  Optimizer check(config_.optimizer, model_.parameter_count());
}

void Trainer::add_observer(StepObserver& observer) { observers_.push_back(&observer); }

TrainingResult Trainer::run(ad::TensorView initial_weights) {
  check_parameters(model_, initial_weights, "trainer: initial weights");
  stop_requested_ = false;
  const std::int64_t d = model_.parameter_count(), c = model_.output_dim();
  const std::int64_t f = data_.input_dim(), tdim = data_.target_dim();
  BatchSampler sampler(data_.size(), config_.batches);
  Optimizer optimizer(config_.optimizer, d);

  RunInfo info;
  info.model = model_.name();
  if (const Architecture* arch = model_.architecture()) {
    if (std::optional<MlpSpec> spec = arch->as_mlp())
      info.mlp = std::move(spec);
    else
      info.architecture = *arch;
  }
  info.input_dim = f;
  info.parameter_count = d;
  info.sample_count = data_.size();
  info.output_count = c;
  info.target_dim = tdim;
  info.batch_capacity = sampler.capacity();
  info.full_batch = sampler.full_batch();
  info.batches = config_.batches;
  info.loss = loss_.kind();
  info.optimizer = config_.optimizer;
  info.schedule = config_.schedule.spec();
  info.planned_steps = config_.steps;
  info.data = {data_.source(), data_.input_names(), data_.target_names(), data_.standardization()};
  info.initial_weights = initial_weights;
  info.training_inputs = data_.inputs();
  info.training_targets = data_.targets();
  for (StepObserver* o : observers_) o->on_start(info);

  std::vector<double> w(initial_weights.span().begin(), initial_weights.span().end());
  std::vector<double> w_next(static_cast<std::size_t>(d));
  std::vector<double> batch_inputs, batch_targets, derivative;
  TrainingResult result;
  result.status = TrainingStatus::completed;
  const ad::Shape ws = ad::Shape::vector(d);

  for (std::int64_t k = 0; k < config_.steps; ++k) {
    const std::span<const std::int64_t> batch = sampler.next();
    const auto b = static_cast<std::int64_t>(batch.size());
    ad::TensorView x = data_.inputs(), t = data_.targets();
    if (!sampler.full_batch()) {
      gather(data_.inputs(), batch, batch_inputs);
      gather(data_.targets(), batch, batch_targets);
      x = ad::TensorView(batch_inputs.data(), ad::Shape::matrix(b, f));
      t = ad::TensorView(batch_targets.data(), ad::Shape::matrix(b, tdim));
    }
    const double alpha = config_.schedule(k);

    tape_.clear();
    const ad::Var wv = tape_.variable(ad::TensorView(w.data(), ws));
    const ad::Var y = model_.forward(tape_.constant(x), wv);
    derivative.resize(static_cast<std::size_t>(b * c));
    const double loss = loss_.value_and_derivative(y.value(), t, derivative);

    std::string problem;
    if (!std::isfinite(loss)) {
      problem = "the loss L_" + std::to_string(k) + "(w_" + std::to_string(k) + ") is " + number(loss);
    } else if (const std::int64_t i = first_non_finite(derivative); i >= 0) {
      problem = "the output derivative L'_{" + std::to_string(k) + ",m} for training point " +
                std::to_string(batch[static_cast<std::size_t>(i / c)]) + " is not finite";
    }
    ad::TensorView gradient;
    if (problem.empty()) {
      const ad::Var seed = tape_.constant(ad::TensorView(derivative.data(), ad::Shape::matrix(b, c)));
      gradient = ad::grad(y, wv, {.create_graph = false, .seed = seed}).value();
      if (const std::int64_t i = first_non_finite(gradient.span()); i >= 0)
        problem = "gradient element " + std::to_string(i) + " is not finite";
    }
    if (problem.empty()) {
      optimizer.step(w, gradient.span(), alpha, w_next);
      if (const std::int64_t i = first_non_finite(w_next); i >= 0)
        problem = "weight " + std::to_string(i) + " of w_" + std::to_string(k + 1) + " is " +
                  number(w_next[static_cast<std::size_t>(i)]);
    }
    if (!problem.empty()) {
      result.status = TrainingStatus::diverged;
      result.message = "diverged at step " + std::to_string(k) + " (learning rate " + number(alpha) +
                       "): " + problem + "; the trajectory keeps w_0 ... w_" + std::to_string(k);
      break;
    }

    StepView view;
    view.step = k;
    view.weights_before = ad::TensorView(w.data(), ws);
    view.weights_after = ad::TensorView(w_next.data(), ws);
    view.learning_rate = alpha;
    view.batch = batch;
    view.outputs = y.value();
    view.output_derivatives = ad::TensorView(derivative.data(), ad::Shape::matrix(b, c));
    view.loss = loss;
    for (StepObserver* o : observers_) o->on_step(view);
    std::swap(w, w_next);
    result.steps = k + 1;
    if (stop_requested_) {
      result.status = TrainingStatus::stopped;
      result.message = "stopped on request after step " + std::to_string(k);
      break;
    }
  }
  if (result.status == TrainingStatus::completed)
    result.message = "completed " + std::to_string(result.steps) + " steps";
  result.final_weights = ad::Tensor(ad::Shape::vector(d), w);
  result.final_loss = dataset_loss(model_, loss_, data_, result.final_weights, &tape_);
  for (StepObserver* o : observers_) o->on_finish(result);
  return result;
}

double dataset_loss(const Model& model, const Loss& loss, const Dataset& data, ad::TensorView w,
                    ad::Tape* workspace) {
  const ad::Tensor y = evaluate(model, data.inputs(), w, workspace);
  return loss.value(y, data.targets());
}

ad::Tensor loss_gradient(const Model& model, const Loss& loss, const Dataset& data, ad::TensorView w,
                         std::span<const std::int64_t> batch, ad::Tape* workspace) {
  check_parameters(model, w, "loss_gradient");
  if (batch.empty()) return ad::grad(TrainingLoss(model, loss, data.inputs(), data.targets()), w, workspace);
  const Dataset part = data.rows(batch);
  return ad::grad(TrainingLoss(model, loss, part.inputs(), part.targets()), w, workspace);
}

}  // namespace pk::nn
