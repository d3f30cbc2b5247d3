#pragma once
// One training step, the single type in which the trainer hands a step to its observers, a
// trajectory (in memory or on disk) gives it back, and the decomposition consumes it.

#include <cstdint>
#include <span>
#include <vector>

#include "autodiff/tensor.hpp"

namespace pk::nn {

/// One step k: w_k -> w_{k+1} with alpha_k over the batch B_k. The views borrow from whoever
/// made the step (the trainer during an observer call, a Trajectory, a StepRecord).
struct StepView {
  std::int64_t step = 0;                // k, from 0
  ad::TensorView weights_before;        // w_k (D)
  ad::TensorView weights_after;         // w_{k+1} (D)
  double learning_rate = 0.0;           // alpha_k
  std::span<const std::int64_t> batch;  // B_k: ascending 0-based training rows
  /// f(x_m; w_k) for m in B_k: |B_k| x C, row i for training point batch[i]. Only the trainer
  /// has them; a recorded step leaves this empty.
  ad::TensorView outputs;
  /// L'_{k,m} for m in B_k: |B_k| x C, row i for training point batch[i]; the 1/|B_k| is
  /// included, and L'_{k,m} = 0 for every m outside the batch (not stored).
  ad::TensorView output_derivatives;
  double loss = 0.0;  // L_k(w_k), the batch loss before the update
};

/// The storage of one step read from disk (TrajectoryReader::read_step), reused from step to
/// step; `view()` is the step itself.
struct StepRecord {
  std::int64_t step = 0;                   // k
  std::int64_t output_count = 0;           // C, the columns of output_derivatives
  std::vector<double> weights_before;      // w_k (D)
  std::vector<double> weights_after;       // w_{k+1} (D)
  double learning_rate = 0.0;              // alpha_k
  double loss = 0.0;                       // L_k(w_k)
  std::vector<std::int64_t> batch;         // B_k, ascending
  std::vector<double> output_derivatives;  // L'_{k,m} for m in B_k, |B_k| x C row-major

  /// The step, borrowing this record's storage.
  StepView view() const;
};

}  // namespace pk::nn
