// pathkernel sharpness: the top Hessian eigenvalue of the training loss along a recorded run.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "apps/commands.hpp"
#include "apps/report_page.hpp"
#include "apps/setup.hpp"
#include "kernel/decomposition.hpp"
#include "kernel/sharpness.hpp"
#include "nn/training_loss.hpp"

namespace pk::app {

int sharpness_command(const Args& args) {
  Options o("sharpness",
            "The largest eigenvalue lambda_max of the training loss's Hessian at every S-th\n"
            "step of a recorded run (Lanczos on Hessian-vector products), beside\n"
            "alpha_k * lambda_max: the classical edge of stability is 2. The last row is\n"
            "the final weights w_N, with the last step's learning rate.");
  o.value("run", "DIR", "a run directory written by `pathkernel train`", std::nullopt, true);
  o.value("every", "S", "every S-th step, and always the final weights w_N", "1");
  o.value("lanczos-tolerance", "TOL", "relative change of the estimate that stops Lanczos", "1e-8");
  o.value("out", "FILE.csv", "also write step,lr,lambda_max,lr_times_lambda,residual to this file");
  if (!o.parse(args)) return 0;
  if (o.given("out") && std::filesystem::exists(o.text("out")))  // before the work, not after it
    throw UsageError("--out " + o.text("out") + ": already exists; choose another name or remove it");
  const pk::nn::TrajectoryReader reader(o.text("run"));
  const pk::nn::Trajectory& run = reader.facts();
  const pk::nn::Model& model = reader.model();
  const pk::nn::Loss loss(run.loss);
  const std::int64_t every = o.integer("every", 1);
  const double tolerance = o.positive("lanczos-tolerance");
  const pk::ad::Tensor inputs(run.training_inputs()), targets(run.training_targets());
  const pk::nn::TrainingLoss training_loss(model, loss, inputs, targets);
  std::ostringstream csv;
  csv << "step,lr,lambda_max,lr_times_lambda,residual\n";
  std::printf("  step          lr  lambda_max  lr*lambda  residual ||Hv - lambda v||\n");
  pk::ad::Tape tape;
  const pk::kernel::DecompositionOptions lanczos;  // the settings every report uses
  pk::nn::StepRecord step;
  pk::ad::Tensor w(pk::ad::Shape::vector(model.parameter_count()));
  double lr = 0.0;
  auto measure = [&](std::int64_t k) {
    const pk::kernel::Sharpness s =
        pk::kernel::sharpness(training_loss, w, lanczos.lanczos_iterations, tolerance, 0x5eed, &tape);
    const double lambda = s.lambda_max;
    std::printf("%6lld %11.4g %11.5g %10.4f %9.2e%s\n", static_cast<long long>(k), lr, lambda, lr * lambda,
                s.residual, lr * lambda > 2 ? "  beyond 2" : "");
    char line[200];
    std::snprintf(line, sizeof line, "%lld,%.17g,%.17g,%.17g,%.17g\n", static_cast<long long>(k), lr, lambda,
                  lr * lambda, s.residual);
    csv << line;
  };
  for (std::int64_t k = 0; k < reader.steps(); k += every) {
    reader.read_step(k, step);
    std::copy(step.weights_before.begin(), step.weights_before.end(), w.data());
    lr = step.learning_rate;
    measure(k);
  }
  // w_N has no step of its own: alpha is the last step's, the one that would act on it next.
  reader.read_weights(reader.steps(), w.span());
  if (reader.steps() > 0) {
    reader.read_step(reader.steps() - 1, step);
    lr = step.learning_rate;
  }
  measure(reader.steps());
  if (o.given("out"))
    write_new_file(o.text("out"), [&](const std::filesystem::path& p) { write_text(p, csv.str()); });
  return 0;
}

}  // namespace pk::app
