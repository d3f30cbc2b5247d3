// pathkernel sharpness: the top Hessian eigenvalue of the training loss along a recorded run.
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "apps/commands.hpp"
#include "apps/report_page.hpp"
#include "apps/setup.hpp"
#include "kernel/decomposition.hpp"
#include "kernel/sharpness.hpp"

namespace pk::app {

int sharpness_command(const Args& args) {
  Options o("sharpness", "The largest eigenvalue lambda_max of the training loss's Hessian at every S-th\n"
                         "step of a recorded run (Lanczos on Hessian-vector products), beside\n"
                         "alpha_k * lambda_max: the classical edge of stability is 2.");
  o.value("run", "DIR", "a run directory written by `pathkernel train`", std::nullopt, true);
  o.value("every", "S", "every S-th step", "1");
  o.value("out", "FILE.csv", "also write step,lr,lambda_max,lr_times_lambda to this file");
  if (!o.parse(args)) return 0;
  if (o.given("out") && std::filesystem::exists(o.text("out")))  // before the work, not after it
    throw UsageError("--out " + o.text("out") + ": already exists; choose another name or remove it");
  const pk::nn::TrajectoryReader reader(o.text("run"));
  const pk::nn::Trajectory& run = reader.facts();
  const pk::nn::Model& model = reader.model();
  const pk::nn::Loss loss(run.loss);
  const std::int64_t every = o.integer("every", 1);
  const pk::ad::Tensor inputs(run.training_inputs()), targets(run.training_targets());
  auto training_loss = [&](pk::ad::Var w) {
    return loss.value(model.forward(w.tape().constant(inputs), w), targets);
  };
  std::ostringstream csv;
  csv << "step,lr,lambda_max,lr_times_lambda\n";
  std::printf("  step          lr  lambda_max  lr*lambda\n");
  pk::ad::Tape tape;
  const pk::kernel::DecompositionOptions lanczos;  // the settings every report uses
  pk::nn::StepRecord step;
  for (std::int64_t k = 0; k < reader.steps(); k += every) {
    reader.read_step(k, step);
    const pk::ad::Tensor w(pk::ad::Shape::vector(model.parameter_count()), step.weights_before);
    const double lambda = pk::kernel::sharpness(training_loss, w, lanczos.lanczos_iterations,
                                                 lanczos.lanczos_tolerance, 0x5eed, &tape).lambda_max;
    const double lr = step.learning_rate;
    std::printf("%6lld %11.4g %11.5g %10.4f%s\n", static_cast<long long>(k), lr, lambda, lr * lambda,
                lr * lambda > 2 ? "  beyond 2" : "");
    char line[160];
    std::snprintf(line, sizeof line, "%lld,%.17g,%.17g,%.17g\n", static_cast<long long>(k), lr, lambda, lr * lambda);
    csv << line;
  }
  if (o.given("out"))
    write_new_file(o.text("out"), [&](const std::filesystem::path& p) { write_text(p, csv.str()); });
  return 0;
}

}  // namespace pk::app
