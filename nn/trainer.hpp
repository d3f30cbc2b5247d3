#pragma once
// Training by gradient descent (or momentum, Adam) with an observer called at every step. At
// step k (from 0) the trainer draws the batch B_k, evaluates y_m = f(x_m; w_k) for m in B_k, the
// batch loss L_k(w_k) and its output derivatives L'_{k,m} (nn/loss.hpp), takes the gradient
// sum_m J_k(x_m)^T L'_{k,m} with one reverse sweep seeded by L', and applies the update with
// alpha_k. Observers then see everything the kernel module needs about that step.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"
#include "nn/batching.hpp"
#include "nn/dataset.hpp"
#include "nn/loss.hpp"
#include "nn/model.hpp"
#include "nn/optimizer.hpp"
#include "nn/run_facts.hpp"
#include "nn/schedule.hpp"
#include "nn/step.hpp"

namespace pk::nn {

/// What observers are told before step 0: the run's facts (nn/run_facts.hpp) and views of its
/// starting point.
struct RunInfo : RunFacts {
  ad::TensorView initial_weights;   // w_0, valid during on_start
  ad::TensorView training_inputs;   // x_m (M x F), valid during on_start
  ad::TensorView training_targets;  // y*_m (M x T), valid during on_start
};

/// How a run ended.
enum class TrainingStatus {
  completed,    // every planned step was taken
  diverged,     // a non-finite loss, derivative, gradient or weight stopped it
  stopped,      // Trainer::request_stop was called
  interrupted,  // (a trajectory read from disk) the process ended before the run finished
};

/// The name of a status ("completed", ...).
std::string_view status_name(TrainingStatus s);

/// The outcome of `Trainer::run`.
struct TrainingResult {
  TrainingStatus status = TrainingStatus::completed;
  /// Steps taken and reported to observers: w_0 ... w_steps are all finite.
  std::int64_t steps = 0;
  /// w_steps, the last finite weights.
  ad::Tensor final_weights;
  /// The loss over the whole training set at `final_weights`.
  double final_loss = 0.0;
  /// What happened, e.g. "diverged at step 12: the loss L_12(w_12) is inf".
  std::string message;
};

/// Sees a run as it happens. Observers run in the order they were added.
class StepObserver {
 public:
  virtual ~StepObserver() = default;
  /// Before step 0.
  virtual void on_start(const RunInfo& info) { (void)info; }
  /// After each finite step k, with w_{k+1} computed.
  virtual void on_step(const StepView& step) = 0;
  /// After the last step, whatever the status (not when an exception escapes the run).
  virtual void on_finish(const TrainingResult& result) { (void)result; }
};

/// What to run.
struct TrainingConfig {
  std::int64_t steps = 100;
  Schedule schedule = Schedule::constant(0.1);
  OptimizerConfig optimizer{};
  BatchConfig batches{};
};

/// Trains a model on a dataset. Holds copies of the model, loss and data.
class Trainer {
 public:
  /// Checks that the data fit the model (input and target dimensions, targets valid for the loss)
  /// and that the schedule covers the planned steps; throws SpecError otherwise.
  Trainer(Model model, Loss loss, Dataset data, TrainingConfig config);

  /// Adds an observer; it must outlive every later `run`.
  void add_observer(StepObserver& observer);
  /// Runs from `initial_weights` (a vector of D finite numbers). A divergence is not an
  /// exception: it ends the run with status `diverged`, observers having seen every finite step.
  TrainingResult run(ad::TensorView initial_weights);
  /// Called from an observer: the run ends after the current step with status `stopped`.
  void request_stop() { stop_requested_ = true; }

  const Model& model() const { return model_; }
  const Loss& loss() const { return loss_; }
  const Dataset& data() const { return data_; }
  const TrainingConfig& config() const { return config_; }

 private:
  Model model_;
  Loss loss_;
  Dataset data_;
  TrainingConfig config_;
  std::vector<StepObserver*> observers_;
  ad::Tape tape_;
  bool stop_requested_ = false;
};

/// The loss over all of `data` at w: L(w) = (1/M) sum_m l(y*_m, f(x_m; w)).
double dataset_loss(const Model& model, const Loss& loss, const Dataset& data, ad::TensorView w,
                    ad::Tape* workspace = nullptr);

/// The gradient of the loss over the rows `batch` of `data` at w, by a plain reverse sweep through
/// the recorded loss (a check on the trainer's L'-seeded sweep, and a bare gradient for
/// benchmarks). An empty `batch` means every row.
ad::Tensor loss_gradient(const Model& model, const Loss& loss, const Dataset& data, ad::TensorView w,
                         std::span<const std::int64_t> batch = {}, ad::Tape* workspace = nullptr);

}  // namespace pk::nn
