#pragma once
// The facts of a training run that do not change from step to step: what the trainer tells its
// observers before step 0, what a trajectory carries and what run.json stores. Defined once here
// and used by the trainer, the trajectory recorder and reader, the decomposition and the reports.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nn/architecture.hpp"
#include "nn/batching.hpp"
#include "nn/dataset.hpp"
#include "nn/loss.hpp"
#include "nn/mlp.hpp"
#include "nn/optimizer.hpp"
#include "nn/schedule.hpp"

namespace pk::nn {

/// Where the training data came from and how its inputs were mapped.
struct DataFacts {
  std::string source;                              // "sine", a CSV file's path, ...; empty when unknown
  std::vector<std::string> input_names;            // F names
  std::vector<std::string> target_names;           // T names
  std::optional<Standardization> standardization;  // when the inputs were standardised

  friend bool operator==(const DataFacts&, const DataFacts&) = default;
};

/// Everything needed to rebuild a run without parsing a display name.
struct RunFacts {
  std::string model;  // the model's display name, e.g. "mlp 2-16-16-1 tanh"
  /// The model's structure when it is a built-in MLP (its layer list in run.json); empty for a
  /// model given as a user's function, which a run directory cannot rebuild.
  std::optional<MlpSpec> mlp;
  /// The layer list of any other layered model (conv nets, ...): run.json's model.input_shape
  /// and model.layers. At most one of `mlp` and `architecture` is set.
  std::optional<Architecture> architecture;
  std::int64_t input_dim = 0;        // F, features per input
  std::int64_t parameter_count = 0;  // D
  std::int64_t sample_count = 0;     // M, training points
  std::int64_t output_count = 0;     // C, outputs per point
  std::int64_t target_dim = 0;       // T, target columns
  std::int64_t batch_capacity = 0;   // the largest |B_k| (M for full-batch descent)
  bool full_batch = true;
  BatchConfig batches;  // batch size (0: full batch), seed, drop_last
  LossKind loss = LossKind::mse;
  OptimizerConfig optimizer;  // the rule and every constant
  ScheduleSpec schedule;      // alpha_k as data
  std::int64_t planned_steps = 0;
  DataFacts data;

  /// The schedule's one-line description.
  std::string schedule_description() const { return Schedule::from_spec(schedule).describe(); }

  friend bool operator==(const RunFacts&, const RunFacts&) = default;
};

}  // namespace pk::nn
