#pragma once
// The recorded trajectory of a run: everything the kernel module reads about each step.
//
// In memory, `TrajectoryRecorder` keeps a `Trajectory`. On disk, `DiskTrajectoryRecorder`
// streams it into a directory of NumPy files as the run goes, holding nothing in memory:
//
//   weights.npy             (N + 1, D)      w_0 ... w_N
//   learning_rates.npy      (N,)            alpha_k
//   losses.npy              (N,)            L_k(w_k), the batch loss before step k
//   batches.npy             (N, Bmax)       B_k as float64 row numbers, ascending, then -1 padding
//                                           when |B_k| < Bmax (Bmax = M for full-batch descent)
//   output_derivatives.npy  (N, Bmax, C)    L'_{k,m} for the m in batches[k] in the same order,
//                                           zeros in the padding; zero outside the batch
//   training_inputs.npy     (M, F)          x_m, the training inputs
//   training_targets.npy    (M, T)          y*_m, the training targets
//   run.json                                the facts of RunInfo, and "status" ("running" until
//                                           the run ends, then completed / diverged / stopped),
//                                           "steps" and "message"; replaced atomically
//
// Every .npy file is kept readable as the run goes (io/npy.hpp, NpyRowWriter): rows are flushed
// every `flush_every` steps and the header's row count rewritten. If the process dies, the
// directory holds a prefix: `read_trajectory` takes the largest N for which every file has its
// rows (ignoring stale header counts and partial rows) and reports status `interrupted`.
// `TrajectoryReader` reads the same directory one step at a time, so a run longer than memory is
// recorded and read back (and decomposed) without ever being held whole.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "autodiff/tensor.hpp"
#include "io/npy.hpp"
#include "nn/model.hpp"
#include "nn/run_json.hpp"
#include "nn/step.hpp"
#include "nn/trainer.hpp"

namespace pk::nn {

/// A recorded run: w_0 ... w_N and, for each step k < N, alpha_k, B_k, L'_{k,m} and L_k(w_k),
/// with the run's facts (RunFacts: the model's structure, loss, optimiser, schedule, batches, data).
class Trajectory : public RunFacts {
 public:
  TrainingStatus status = TrainingStatus::interrupted;
  std::string message;
  /// L(w_N) over the whole training set, when the run finished (not recomputed by readers).
  std::optional<double> final_loss;

  /// The training set the run used: x_m (M x F) and y*_m (M x T), so that a trajectory is
  /// enough to evaluate J_k(x_m) again.
  ad::TensorView training_inputs() const {
    return {inputs_.data(), ad::Shape::matrix(sample_count, input_dim)};
  }
  ad::TensorView training_targets() const {
    return {targets_.data(), ad::Shape::matrix(sample_count, target_dim)};
  }

  /// N, the number of recorded steps.
  std::int64_t steps() const { return static_cast<std::int64_t>(learning_rates_.size()); }
  /// True when the steps are plain gradient descent, dw_k = -alpha_k sum_m J_k(x_m)^T L'_{k,m}.
  bool has_kernel_form() const { return nn::has_kernel_form(optimizer.kind); }
  /// w_k for 0 <= k <= N.
  ad::TensorView weights(std::int64_t k) const;
  /// Step k (0 <= k < N), borrowing this trajectory's storage.
  StepView step_view(std::int64_t k) const;
  /// dw_k = w_{k+1} - w_k for 0 <= k < N.
  ad::Tensor step(std::int64_t k) const;
  /// alpha_k.
  double learning_rate(std::int64_t k) const;
  /// L_k(w_k), the batch loss before step k.
  double loss_value(std::int64_t k) const;
  /// B_k, ascending 0-based training rows.
  std::span<const std::int64_t> batch(std::int64_t k) const;
  /// L'_{k,m} for m in B_k: |B_k| x C, row i for training point batch(k)[i].
  ad::TensorView output_derivatives(std::int64_t k) const;
  /// L'_{k,m} for every training point: M x C, zero outside B_k.
  ad::Tensor dense_output_derivatives(std::int64_t k) const;

  /// Sets the fixed facts from `info` and starts with w_0; drops any earlier steps.
  void start(const RunInfo& info);
  /// Appends one step (w_{k+1} and the step's alpha, batch, L' and loss).
  void append(const StepView& step);
  /// Appends one step from its parts (how the disk reader rebuilds a trajectory).
  void append(std::span<const double> weights_after, double learning_rate,
              std::span<const std::int64_t> batch, std::span<const double> output_derivatives, double loss);

  friend bool operator==(const Trajectory&, const Trajectory&) = default;

 private:
  void check_step(std::int64_t k, const char* what) const;
  std::vector<double> inputs_;                  // M x F
  std::vector<double> targets_;                 // M x T
  std::vector<double> weights_;                 // (N + 1) x D
  std::vector<double> learning_rates_;          // N
  std::vector<double> losses_;                  // N
  std::vector<std::int64_t> batch_offsets_{0};  // N + 1: B_k is [offsets[k], offsets[k+1])
  std::vector<std::int64_t> batch_rows_;
  std::vector<double> output_derivatives_;  // sum |B_k| x C, aligned with batch_rows_
};

/// Keeps the trajectory of a run in memory.
class TrajectoryRecorder : public StepObserver {
 public:
  void on_start(const RunInfo& info) override;
  void on_step(const StepView& step) override;
  void on_finish(const TrainingResult& result) override;
  const Trajectory& trajectory() const { return trajectory_; }
  /// Moves the trajectory out (the recorder is empty afterwards).
  Trajectory take() { return std::move(trajectory_); }

 private:
  Trajectory trajectory_;
};

/// Options of the disk recorder.
struct DiskRecorderOptions {
  /// Flush every this many steps (and at the end). 1 loses at most the step being written when
  /// the process dies; larger values trade that for fewer system calls.
  std::int64_t flush_every = 1;
};

/// Streams the trajectory of a run into a directory (format at the top of this header). The
/// directory is created if needed; files of an earlier run there are replaced.
class DiskTrajectoryRecorder : public StepObserver {
 public:
  explicit DiskTrajectoryRecorder(std::filesystem::path directory, DiskRecorderOptions options = {});
  ~DiskTrajectoryRecorder() override;
  void on_start(const RunInfo& info) override;
  void on_step(const StepView& step) override;
  void on_finish(const TrainingResult& result) override;
  const std::filesystem::path& directory() const { return directory_; }

 private:
  struct Files;
  void write_run_json(std::string_view status, std::int64_t steps, const std::string& message);
  std::filesystem::path directory_;
  DiskRecorderOptions options_;
  std::unique_ptr<Files> files_;
  RunFacts info_;
  std::optional<double> final_loss_;
  std::vector<double> batch_row_;
  std::vector<double> derivative_row_;
  std::int64_t steps_ = 0;
};

/// A trajectory directory read step by step, for runs longer than memory: opening it reads
/// run.json, the training set and the .npy headers; each step is then read on demand with
/// positioned reads. Const reads may run on several threads at once.
///
/// The directory is a checked contract (docs/run-directory.md): opening it checks run.json
/// against itself and every array's shape against run.json, rebuilds the model from its layer
/// list, checks the training set (finite, targets valid for the loss) and w_0, and replays the
/// first steps with the recorded model, loss, optimiser, schedule and batches, so that an edited
/// name or constant is refused instead of giving a different answer. Each step read is checked
/// too: alpha_k finite and equal to the schedule's, B_k the batch the recorded seed draws, w and
/// L' finite, L' consistent with the recorded loss L_k. Any contradiction throws (io::JsonError,
/// io::NpyError or io::IoError) naming the file and the field, row or step.
class TrajectoryReader {
 public:
  /// `model` is needed only for a run of a user's model (run.json's layer list is null); when
  /// given, it must have the run's D, F and C, and the replay uses it.
  explicit TrajectoryReader(const std::filesystem::path& directory,
                            std::optional<Model> model = std::nullopt);

  /// The run's facts (no steps are loaded: its `steps()` is 0, `weights(0)` is w_0).
  const Trajectory& facts() const { return facts_; }
  /// The model the run trained, rebuilt from run.json's layer list.
  const Model& model() const { return *model_; }
  /// N, the steps readable.
  std::int64_t steps() const { return steps_; }
  /// w_k for 0 <= k <= N into `out` (D elements).
  void read_weights(std::int64_t k, std::span<double> out) const;
  /// Step k (0 <= k < N) into `out`, reusing its storage. Throws NpyError for a malformed batch.
  void read_step(std::int64_t k, StepRecord& out) const;

 private:
  void check_step(std::int64_t k, const StepRecord& step) const;
  std::filesystem::path directory_;
  Trajectory facts_;
  std::optional<Model> model_;
  Schedule schedule_ = Schedule::constant(0.0);
  std::int64_t steps_ = 0;
  // The batches the recorded seed draws, for mini-batch runs: B_k is [offsets[k], offsets[k+1]).
  std::vector<std::int64_t> expected_batch_rows_, expected_batch_offsets_;
  io::NpyRowReader weights_, rates_, losses_, batches_, derivatives_;
};

/// Reads a trajectory directory written by DiskTrajectoryRecorder into memory, complete or
/// interrupted (see the top of this header). Throws IoError or NpyError for missing or
/// inconsistent files: shapes that disagree with run.json, batch rows outside [0, M), or a
/// finished run whose files hold fewer steps than run.json says.
Trajectory read_trajectory(const std::filesystem::path& directory, std::optional<Model> model = std::nullopt);

}  // namespace pk::nn
