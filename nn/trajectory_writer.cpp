// DiskTrajectoryRecorder: a run streamed into a run directory as it goes (format in
// nn/trajectory.hpp and nn/run_json.hpp).
#include <algorithm>
#include <cmath>

#include "io/text_file.hpp"
#include "nn/error.hpp"
#include "nn/trajectory.hpp"

namespace pk::nn {

struct DiskTrajectoryRecorder::Files {
  io::NpyRowWriter weights, rates, losses, batches, derivatives;
};

DiskTrajectoryRecorder::DiskTrajectoryRecorder(std::filesystem::path directory, DiskRecorderOptions options)
    : directory_(std::move(directory)), options_(options) {
  if (options_.flush_every < 1)
    throw SpecError("disk recorder: flush_every must be at least 1, got " +
                    std::to_string(options_.flush_every));
}

DiskTrajectoryRecorder::~DiskTrajectoryRecorder() = default;

void DiskTrajectoryRecorder::write_run_json(std::string_view status, std::int64_t steps,
                                            const std::string& message) {
  RunManifest manifest;
  manifest.facts = info_;
  manifest.status = std::string(status);
  manifest.steps = steps;
  manifest.message = message;
  manifest.final_loss = final_loss_;
  const std::string text = run_json_text(manifest);
  // Replaced whole, so a reader never sees half of it.
  io::replace_file(directory_ / run_files::manifest, [&](std::ostream& out) { out << text; });
}

void DiskTrajectoryRecorder::on_start(const RunInfo& info) {
  std::error_code ec;
  std::filesystem::create_directories(directory_, ec);
  if (ec) throw IoError(directory_.string() + ": cannot create directory: " + ec.message());
  files_.reset();
  info_ = info;
  final_loss_.reset();
  io::write_npy(directory_ / run_files::training_inputs, info.training_inputs);
  io::write_npy(directory_ / run_files::training_targets, info.training_targets);
  steps_ = 0;
  const std::int64_t bmax = info.batch_capacity, c = info.output_count;
  files_ = std::make_unique<Files>(Files{
      io::NpyRowWriter(directory_ / run_files::weights, {info.parameter_count}),
      io::NpyRowWriter(directory_ / run_files::learning_rates, {}),
      io::NpyRowWriter(directory_ / run_files::losses, {}),
      io::NpyRowWriter(directory_ / run_files::batches, {bmax}),
      io::NpyRowWriter(directory_ / run_files::output_derivatives, {bmax, c}),
  });
  batch_row_.assign(static_cast<std::size_t>(bmax), -1.0);
  derivative_row_.assign(static_cast<std::size_t>(bmax * c), 0.0);
  files_->weights.append(info.initial_weights.span());
  files_->weights.flush();
  write_run_json("running", 0, "");
}

void DiskTrajectoryRecorder::on_step(const StepView& step) {
  if (!files_) throw SpecError("disk recorder: on_step before on_start");
  const std::size_t b = step.batch.size();
  const std::span<const double> d = step.output_derivatives.span();
  std::fill(batch_row_.begin(), batch_row_.end(), -1.0);
  std::fill(derivative_row_.begin(), derivative_row_.end(), 0.0);
  for (std::size_t i = 0; i < b; ++i) batch_row_[i] = static_cast<double>(step.batch[i]);
  std::copy(d.begin(), d.end(), derivative_row_.begin());
  // The step's scalars and L' before its w_{k+1}: weights are the last file a step reaches.
  files_->rates.append(std::span(&step.learning_rate, 1));
  files_->losses.append(std::span(&step.loss, 1));
  files_->batches.append(batch_row_);
  files_->derivatives.append(derivative_row_);
  files_->weights.append(step.weights_after.span());
  ++steps_;
  if (steps_ % options_.flush_every == 0) {
    files_->rates.flush();
    files_->losses.flush();
    files_->batches.flush();
    files_->derivatives.flush();
    files_->weights.flush();
  }
}

void DiskTrajectoryRecorder::on_finish(const TrainingResult& result) {
  if (!files_) return;
  files_->rates.close();
  files_->losses.close();
  files_->batches.close();
  files_->derivatives.close();
  files_->weights.close();
  files_.reset();
  if (std::isfinite(result.final_loss)) final_loss_ = result.final_loss;
  write_run_json(status_name(result.status), steps_, result.message);
}

}  // namespace pk::nn
