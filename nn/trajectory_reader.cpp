// TrajectoryReader: a run directory read step by step, and checked as it is read (the contract is
// at the reader's declaration in nn/trajectory.hpp).
#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "nn/error.hpp"
#include "nn/trajectory.hpp"

namespace pk::nn {

namespace {

std::string shape_text(const std::string& rows, const std::vector<std::int64_t>& row_shape) {
  std::string s = "(" + rows;
  for (const std::int64_t e : row_shape) s += ", " + std::to_string(e);
  return s + (row_shape.empty() ? ",)" : ")");
}

// Opens `name` for row reads and checks its row shape against run.json.
io::NpyRowReader open_rows(const std::filesystem::path& directory, const char* name,
                           const std::vector<std::int64_t>& row_shape) {
  io::NpyRowReader r(directory / name);
  if (r.row_shape() != row_shape)
    throw NpyError(r.path().string(), "shape " + shape_text(std::to_string(r.rows()), r.row_shape()) +
                                          " does not fit run.json (" + shape_text("N", row_shape) +
                                          " expected)");
  return r;
}

// A whole array that run.json sizes exactly, finite.
ad::Tensor read_matrix(const std::filesystem::path& path, std::int64_t rows, std::int64_t cols) {
  const io::NpyArray a = io::read_npy(path);
  if (a.shape != std::vector<std::int64_t>{rows, cols})
    throw NpyError(path.string(), "shape " + a.shape_str() + " does not fit run.json ((" +
                                      std::to_string(rows) + ", " + std::to_string(cols) + ") expected)");
  io::require_finite(path.string(), a.data, 0, cols);
  return a.to_tensor();
}

bool close(double a, double b, double relative, double absolute) {
  if (!std::isfinite(a) || !std::isfinite(b)) return a == b;
  return std::abs(a - b) <= relative * std::max(std::abs(a), std::abs(b)) + absolute;
}

// L_k recomputed from L' alone where the loss allows it exactly: mean squared error gives
// L = |B|/2 sum ||L'_m||^2; the cross-entropies give the probabilities p = y* + |B| L' and so the
// loss, as long as no p is so near 0 or 1 that rounding of L' decides its logarithm. Returns NaN
// when it cannot say, and infinity when some p is no probability at all.
double loss_from_derivatives(LossKind kind, std::span<const double> d, std::span<const std::int64_t> batch,
                             ad::TensorView targets, std::int64_t c) {
  const auto b = static_cast<double>(batch.size());
  double total = 0.0;
  constexpr double edge = 1e-6;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const double* row = d.data() + static_cast<std::int64_t>(i) * c;
    const double* t = targets.data() + batch[i] * targets.shape().dim(1);
    switch (kind) {
      case LossKind::mse:
        for (std::int64_t j = 0; j < c; ++j) total += 0.5 * (b * row[j]) * (b * row[j]);
        break;
      case LossKind::binary_cross_entropy:
        for (std::int64_t j = 0; j < c; ++j) {
          const double p = t[j] + b * row[j];
          if (!(p > -edge && p < 1.0 + edge)) return std::numeric_limits<double>::infinity();
          if (!(p > edge && p < 1.0 - edge)) return std::nan("");
          total -= t[j] * std::log(p) + (1.0 - t[j]) * std::log1p(-p);
        }
        break;
      case LossKind::softmax_cross_entropy: {
        const auto target = static_cast<std::int64_t>(t[0]);
        const double p = 1.0 + b * row[target];
        if (!(p > -edge && p < 1.0 + edge)) return std::numeric_limits<double>::infinity();
        if (!(p > edge && p < 1.0 - edge)) return std::nan("");
        total -= std::log(p);
        break;
      }
    }
  }
  return total / b;
}

}  // namespace

TrajectoryReader::TrajectoryReader(const std::filesystem::path& directory, std::optional<Model> model)
    : directory_(directory) {
  const RunManifest manifest = read_run_json(directory / run_files::manifest);
  const RunFacts& f = manifest.facts;
  const std::string manifest_file = (directory / run_files::manifest).string();
  if (model) {
    if (model->parameter_count() != f.parameter_count || model->input_dim() != f.input_dim ||
        model->output_dim() != f.output_count)
      throw io::JsonError(
          manifest_file,
          "the model given (" + model->name() + ": D = " + std::to_string(model->parameter_count()) +
              ", F = " + std::to_string(model->input_dim()) + ", C = " + std::to_string(model->output_dim()) +
              ") is not the run's (D = " + std::to_string(f.parameter_count) +
              ", F = " + std::to_string(f.input_dim) + ", C = " + std::to_string(f.output_count) + ")");
    model_ = std::move(model);
  } else if (f.mlp) {
    model_ = mlp(*f.mlp);
  } else if (f.architecture) {
    model_ = sequential(*f.architecture);
  } else {
    throw io::JsonError(manifest_file, "the run's model \"" + f.model +
                                           "\" was a user's function (\"model.layers\" is "
                                           "null): give the reader that model to rebuild the run");
  }
  const bool finished = manifest.status != "running";
  const std::int64_t d = f.parameter_count, c = f.output_count, bmax = f.batch_capacity;
  weights_ = open_rows(directory, run_files::weights, {d});
  rates_ = open_rows(directory, run_files::learning_rates, {});
  losses_ = open_rows(directory, run_files::losses, {});
  batches_ = open_rows(directory, run_files::batches, {bmax});
  derivatives_ = open_rows(directory, run_files::output_derivatives, {bmax, c});
  if (weights_.rows() < 1)
    throw NpyError((directory / run_files::weights).string(), "holds no rows: w_0 is missing");
  steps_ =
      std::min({weights_.rows() - 1, rates_.rows(), losses_.rows(), batches_.rows(), derivatives_.rows()});
  if (finished) {
    // A finished run's files hold exactly its steps: more rows are as wrong as fewer.
    const std::pair<const io::NpyRowReader*, std::int64_t> expected[] = {{&weights_, manifest.steps + 1},
                                                                         {&rates_, manifest.steps},
                                                                         {&losses_, manifest.steps},
                                                                         {&batches_, manifest.steps},
                                                                         {&derivatives_, manifest.steps}};
    for (const auto& [reader, rows] : expected)
      if (reader->rows() != rows)
        throw NpyError(reader->path().string(), "holds " + std::to_string(reader->rows()) +
                                                    " rows, but run.json says the run " + manifest.status +
                                                    " after " + std::to_string(manifest.steps) + " steps (" +
                                                    std::to_string(rows) + " rows expected)");
  }

  const ad::Tensor inputs = read_matrix(directory / run_files::training_inputs, f.sample_count, f.input_dim);
  const ad::Tensor targets =
      read_matrix(directory / run_files::training_targets, f.sample_count, f.target_dim);
  try {
    Loss(f.loss).check_targets(targets, c);
  } catch (const SpecError& e) {
    throw NpyError((directory / run_files::training_targets).string(),
                   std::string("not targets of the recorded loss: ") + e.what());
  }
  std::vector<double> w0(static_cast<std::size_t>(d));
  weights_.read_row(0, w0);
  io::require_finite(weights_.path().string(), w0, 0, d);

  schedule_ = Schedule::from_spec(f.schedule);
  RunInfo info;
  static_cast<RunFacts&>(info) = f;
  info.initial_weights = ad::TensorView(w0.data(), ad::Shape::vector(d));
  info.training_inputs = inputs;
  info.training_targets = targets;
  facts_.start(info);
  facts_.status = manifest.status == "completed"  ? TrainingStatus::completed
                  : manifest.status == "diverged" ? TrainingStatus::diverged
                  : manifest.status == "stopped"  ? TrainingStatus::stopped
                                                  : TrainingStatus::interrupted;
  facts_.message = finished ? manifest.message
                            : "interrupted: the files hold the first " + std::to_string(steps_) + " steps";
  facts_.final_loss = manifest.final_loss;

  if (!f.full_batch) {
    BatchSampler sampler(f.sample_count, f.batches);
    expected_batch_offsets_.assign(1, 0);
    for (std::int64_t k = 0; k < steps_; ++k) {
      const std::span<const std::int64_t> b = sampler.next();
      expected_batch_rows_.insert(expected_batch_rows_.end(), b.begin(), b.end());
      expected_batch_offsets_.push_back(static_cast<std::int64_t>(expected_batch_rows_.size()));
    }
  }

  // Replay the first steps from w_0 with what run.json states. Names and constants are all in
  // play here, so an edited activation, loss, optimiser or rate shows as a different w_1, w_2.
  const std::int64_t replay = std::min<std::int64_t>(steps_, 2);
  if (replay > 0) {
    TrainingConfig config;
    config.steps = replay;
    config.schedule = schedule_;
    config.optimizer = f.optimizer;
    config.batches = f.batches;
    Trainer trainer(*model_, Loss(f.loss), Dataset(inputs, targets, f.data.input_names, f.data.target_names),
                    config);
    TrajectoryRecorder recorder;
    trainer.add_observer(recorder);
    (void)trainer.run(info.initial_weights);
    const Trajectory& again = recorder.trajectory();
    StepRecord step;
    for (std::int64_t k = 0; k < std::min(replay, again.steps()); ++k) {
      read_step(k, step);
      const ad::TensorView expected = again.weights(k + 1);
      double scale = 0.0;
      for (std::int64_t i = 0; i < d; ++i)
        scale = std::max(scale, std::abs(step.weights_after[static_cast<std::size_t>(i)] -
                                         step.weights_before[static_cast<std::size_t>(i)]));
      for (std::int64_t i = 0; i < d; ++i)
        if (!close(step.weights_after[static_cast<std::size_t>(i)], expected[i], 0.0, 1e-9 * scale + 1e-300))
          throw IoError((directory / run_files::weights).string() + ": w_" + std::to_string(k + 1) +
                        " (parameter " + std::to_string(i) +
                        ") is not what the model, loss, optimiser and schedule of run.json give "
                        "from w_" +
                        std::to_string(k) + ": the run directory contradicts itself");
      if (!close(step.loss, again.loss_value(k), 1e-9, 1e-300))
        throw IoError((directory / run_files::losses).string() + ": row " + std::to_string(k) +
                      " is not the loss the recorded model gives at w_" + std::to_string(k));
    }
    if (again.steps() < replay)
      throw IoError((directory / run_files::weights).string() +
                    ": replaying the first steps of run.json diverges, "
                    "but the recorded run did not");
  }
}

void TrajectoryReader::read_weights(std::int64_t k, std::span<double> out) const {
  if (k < 0 || k > steps_)
    throw IoError(directory_.string() + ": weights w_" + std::to_string(k) +
                  " asked for, the run has w_0 ... w_" + std::to_string(steps_));
  weights_.read_row(k, out);
  io::require_finite(weights_.path().string(), out, k, facts_.parameter_count);
}

void TrajectoryReader::read_step(std::int64_t k, StepRecord& out) const {
  if (k < 0 || k >= steps_)
    throw IoError(directory_.string() + ": step " + std::to_string(k) + " asked for, the run has " +
                  std::to_string(steps_));
  const std::int64_t c = facts_.output_count, bmax = facts_.batch_capacity;
  const std::int64_t m = facts_.sample_count;
  out.step = k;
  out.output_count = c;
  out.weights_before.resize(static_cast<std::size_t>(facts_.parameter_count));
  out.weights_after.resize(static_cast<std::size_t>(facts_.parameter_count));
  read_weights(k, out.weights_before);
  read_weights(k + 1, out.weights_after);
  double scalar = 0.0;
  rates_.read_row(k, std::span(&scalar, 1));
  out.learning_rate = scalar;
  losses_.read_row(k, std::span(&scalar, 1));
  out.loss = scalar;
  std::vector<double> brow(static_cast<std::size_t>(bmax));
  batches_.read_row(k, brow);
  const std::string batches_file = batches_.path().string();
  out.batch.clear();
  for (std::int64_t i = 0; i < bmax && brow[static_cast<std::size_t>(i)] >= 0.0; ++i) {
    const double v = brow[static_cast<std::size_t>(i)];
    if (v != std::floor(v) || v >= static_cast<double>(m) ||
        (!out.batch.empty() && static_cast<std::int64_t>(v) <= out.batch.back()))
      throw NpyError(batches_file, "step " + std::to_string(k) + ": entry " + std::to_string(i) + " (" +
                                       std::to_string(v) + ") is not an ascending row number in [0, " +
                                       std::to_string(m) + ")");
    out.batch.push_back(static_cast<std::int64_t>(v));
  }
  for (std::int64_t i = static_cast<std::int64_t>(out.batch.size()); i < bmax; ++i)
    if (brow[static_cast<std::size_t>(i)] != -1.0)
      throw NpyError(batches_file, "step " + std::to_string(k) + ": entry " + std::to_string(i) +
                                       " follows the padding but is not -1");
  if (out.batch.empty()) throw NpyError(batches_file, "step " + std::to_string(k) + " has an empty batch");
  out.output_derivatives.resize(static_cast<std::size_t>(bmax * c));
  derivatives_.read_row(k, out.output_derivatives);
  io::require_finite(derivatives_.path().string(), out.output_derivatives, k * bmax, c);
  for (std::size_t i = out.batch.size() * static_cast<std::size_t>(c); i < out.output_derivatives.size(); ++i)
    if (out.output_derivatives[i] != 0.0)
      throw NpyError(derivatives_.path().string(),
                     "step " + std::to_string(k) + ": L' is not zero in the batch's padding");
  out.output_derivatives.resize(out.batch.size() * static_cast<std::size_t>(c));
  check_step(k, out);
}

void TrajectoryReader::check_step(std::int64_t k, const StepRecord& s) const {
  const std::string step = "step " + std::to_string(k);
  if (!std::isfinite(s.learning_rate) || !close(s.learning_rate, schedule_(k), 1e-12, 0.0))
    throw NpyError(rates_.path().string(), step + ": the learning rate " + std::to_string(s.learning_rate) +
                                               " is not the schedule's " + std::to_string(schedule_(k)) +
                                               " (run.json \"schedule\")");
  if (!std::isfinite(s.loss)) throw NpyError(losses_.path().string(), step + ": the loss is not finite");
  const auto m = facts_.sample_count;
  bool batch_ok = true;
  if (facts_.full_batch) {
    batch_ok = static_cast<std::int64_t>(s.batch.size()) == m;  // ascending and in range: 0 ... M-1
  } else {
    const auto begin = expected_batch_rows_.begin() + expected_batch_offsets_[static_cast<std::size_t>(k)];
    const auto end = expected_batch_rows_.begin() + expected_batch_offsets_[static_cast<std::size_t>(k) + 1];
    batch_ok = std::equal(begin, end, s.batch.begin(), s.batch.end());
  }
  if (!batch_ok)
    throw NpyError(batches_.path().string(), step + ": the batch of " + std::to_string(s.batch.size()) +
                                                 " rows is not the one run.json's batch settings draw");
  const double from_derivatives = loss_from_derivatives(facts_.loss, s.output_derivatives, s.batch,
                                                        facts_.training_targets(), facts_.output_count);
  if (!std::isnan(from_derivatives) && !close(from_derivatives, s.loss, 1e-6, 1e-12))
    throw NpyError(derivatives_.path().string(), step + ": L' gives the loss " +
                                                     std::to_string(from_derivatives) +
                                                     " but losses.npy records " + std::to_string(s.loss) +
                                                     ": the output derivatives do not belong to this run");
}

Trajectory read_trajectory(const std::filesystem::path& directory, std::optional<Model> model) {
  const TrajectoryReader reader(directory, std::move(model));
  Trajectory t = reader.facts();
  StepRecord step;
  for (std::int64_t k = 0; k < reader.steps(); ++k) {
    reader.read_step(k, step);
    t.append(step.weights_after, step.learning_rate, step.batch, step.output_derivatives, step.loss);
  }
  return t;
}

}  // namespace pk::nn
