// pathkernel train: trains a network and records its trajectory in a run directory.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "apps/commands.hpp"
#include "apps/progress.hpp"
#include "apps/resources.hpp"
#include "apps/setup.hpp"
#include "io/staged_directory.hpp"

namespace pk::app {

namespace {
// Advances a progress bar from the trainer's steps.
class ProgressObserver : public pk::nn::StepObserver {
 public:
  explicit ProgressObserver(Progress& p) : progress_(p) {}
  void on_step(const pk::nn::StepView& step) override {
    if ((step.step + 1) % 10 == 0) progress_.update(static_cast<std::size_t>(step.step + 1));
  }

 private:
  Progress& progress_;
};
}  // namespace

int train_command(const Args& args) {
  Options o("train",
            "Trains an MLP by gradient descent (or momentum, Adam) and records every step:\n"
            "weights, learning rates, batches and per-sample output derivatives L', as .npy\n"
            "files in a run directory that `pathkernel decompose` reads.");
  declare_data_options(o);
  declare_model_options(o);
  declare_training_options(o);
  o.value("out", "DIR", "the run directory to create (must not exist)", std::nullopt, true);
  o.flag("quiet", "no progress bar");
  if (!o.parse(args)) return 0;
  const LoadedData data = load_data(o);
  const pk::nn::Model model = make_model(o, data.data);
  const pk::nn::Loss loss = make_loss(o);
  const pk::ad::Tensor w0 = initial_weights(o, model);
  const pk::nn::TrainingConfig config = make_training_config(o);
  pk::nn::Trainer trainer(model, loss, data.data, config);
  {
    // The trajectory on disk: w_0 ... w_N, and per step the rate, loss, batch and L'.
    const double d = static_cast<double>(model.parameter_count()), n = static_cast<double>(config.steps);
    const double m = static_cast<double>(data.data.size());
    const double bmax =
        config.batches.batch_size > 0 ? std::min(m, static_cast<double>(config.batches.batch_size)) : m;
    const double bytes =
        8.0 * ((n + 1.0) * d + n * (2.0 + bmax * (1.0 + static_cast<double>(model.output_dim()))) +
               m * static_cast<double>(data.data.input_dim() + data.data.target_dim()));
    require_disk(std::filesystem::path(o.text("out")).parent_path(), bytes,
                 "the trajectory of " + std::to_string(config.steps) + " steps");
    require_memory(
        8.0 * (bmax * 4.0 * static_cast<double>(model.input_dim() + model.output_dim()) + 6.0 * d) +
            8.0 * m * static_cast<double>(data.data.input_dim() + data.data.target_dim()),
        "training");
  }

  pk::io::StagedDirectory dir(o.text("out"));
  pk::nn::DiskTrajectoryRecorder recorder(dir.path());
  Progress progress("training", static_cast<std::size_t>(config.steps),
                    !o.flag_set("quiet") && Progress::stderr_is_terminal());
  ProgressObserver progress_observer(progress);
  trainer.add_observer(recorder);
  trainer.add_observer(progress_observer);
  const auto start = std::chrono::steady_clock::now();
  const pk::nn::TrainingResult result = trainer.run(w0);
  progress.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  dir.commit();
  if (result.status == pk::nn::TrainingStatus::diverged) {
    std::printf("%s on %s: %s; the %lld finite steps are kept (exit status %d)\n", model.name().c_str(),
                data.description.c_str(), result.message.c_str(), static_cast<long long>(result.steps),
                kExitDiverged);
  } else {
    std::printf("%s on %s: %s after %lld steps in %.2f s, training loss %.6g\n", model.name().c_str(),
                data.description.c_str(), std::string(pk::nn::status_name(result.status)).c_str(),
                static_cast<long long>(result.steps), seconds, result.final_loss);
  }
  std::printf("run directory: %s\n", dir.target().string().c_str());
  // A diverged run is kept (its finite prefix is worth decomposing) but is not a success.
  return result.status == pk::nn::TrainingStatus::diverged ? kExitDiverged : 0;
}

}  // namespace pk::app
