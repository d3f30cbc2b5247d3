#pragma once
// run.json, the manifest of a run directory: format "pathkernel-run", version 2. It states every
// fact of the run (nn/run_facts.hpp) as structured data — the model's layer list, the loss, the
// optimiser with every constant, the schedule, the batches, the data's columns and
// standardisation — together with D, M, C, N and the shape of every array beside it, so that a
// reader rebuilds the run without parsing a display name and checks the arrays against it before
// any numerics. A run.json without a version, or of another version, is refused with a message
// that says how to re-create the run.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nn/run_facts.hpp"

namespace pk::nn {

/// The version this build writes and reads.
inline constexpr int kRunFormatVersion = 2;

/// The files of a run directory.
namespace run_files {
inline constexpr const char* manifest = "run.json";
inline constexpr const char* weights = "weights.npy";                        // (N + 1, D)
inline constexpr const char* learning_rates = "learning_rates.npy";          // (N,)
inline constexpr const char* losses = "losses.npy";                          // (N,)
inline constexpr const char* batches = "batches.npy";                        // (N, Bmax)
inline constexpr const char* output_derivatives = "output_derivatives.npy";  // (N, Bmax, C)
inline constexpr const char* training_inputs = "training_inputs.npy";        // (M, F)
inline constexpr const char* training_targets = "training_targets.npy";      // (M, T)
}  // namespace run_files

/// What run.json holds: the run's facts and how far it got.
struct RunManifest {
  RunFacts facts;
  /// "running" while the trainer writes, then "completed", "diverged" or "stopped".
  std::string status = "running";
  /// Steps recorded (N) when the run finished; while running, the steps at the last update.
  std::int64_t steps = 0;
  std::string message;
  /// L(w_N), the loss over the whole training set at the last weights, when the run finished.
  std::optional<double> final_loss;

  /// The shape of each array file of the directory for `steps` recorded steps, by file name.
  std::map<std::string, std::vector<std::int64_t>> array_shapes(std::int64_t steps) const;

  friend bool operator==(const RunManifest&, const RunManifest&) = default;
};

/// run.json's text (UTF-8, two-space indented, every double exact).
std::string run_json_text(const RunManifest& manifest);

/// Parses run.json's text; `file` names it in messages. Throws io::JsonError naming the member
/// that is missing, of the wrong type, out of range or inconsistent with the others (sizes
/// against the layer list, the loss and the batch settings; array shapes against the sizes).
RunManifest parse_run_json(std::string_view text, const std::string& file);

/// Reads and parses `path` (at most 64 MiB).
RunManifest read_run_json(const std::filesystem::path& path);

}  // namespace pk::nn
