// One training step (forward, backward, update, observers) of the nn trainer on three MLP sizes,
// with no recorder, the in-memory trajectory recorder and the streaming disk recorder (flushing
// every step, its default, and every 100 steps), next to a
// bare gradient of the same loss (forward and backward through the recorded loss, nothing else).
// The "step_time" counter is the time of one step; compare it with the bare gradient's time.
//
//   tiny    2-16-16-1     batch 32
//   small   8-64-64-1     batch 128
//   medium  64-256-256-10 batch 256     (all tanh, mean squared error, full batch)
//
// Every configuration is checked once before it is timed: the bare gradient against the step the
// trainer takes, and each recorder's trajectory against the other's.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "autodiff/autodiff.hpp"
#include "nn/nn.hpp"

namespace {

using pk::ad::Tensor;
using pk::nn::Dataset;
using pk::nn::Loss;
using pk::nn::LossKind;
using pk::nn::Model;

struct Size {
  const char* name;
  const char* spec;
  std::int64_t batch;
  std::int64_t steps_per_run;  // steps per timed Trainer::run, so its setup is amortised
};

constexpr Size kSizes[] = {
    {"tiny", "2-16-16-1", 32, 400},
    {"small", "8-64-64-1", 128, 100},
    {"medium", "64-256-256-10", 256, 10},
};

constexpr double kLearningRate = 1e-3;

struct Problem {
  Model model;
  Dataset data;
  Tensor w0;
};

Problem make_problem(const Size& s) {
  Model model = pk::nn::mlp(s.spec, "tanh");
  pk::nn::Rng rng(7);
  Tensor x(pk::ad::Shape::matrix(s.batch, model.input_dim()));
  Tensor y(pk::ad::Shape::matrix(s.batch, model.output_dim()));
  for (std::int64_t i = 0; i < x.size(); ++i) x[i] = rng.normal();
  for (std::int64_t i = 0; i < y.size(); ++i) y[i] = rng.normal();
  Tensor w0 = pk::nn::initialise(model.layout(), pk::nn::InitScheme::pytorch_default, 1);
  return {model, Dataset(std::move(x), std::move(y)), std::move(w0)};
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "nn_step_bench: check failed: %s\n", what.c_str());
  std::abort();
}

double relative_difference(pk::ad::TensorView a, pk::ad::TensorView b) {
  double num = 0.0, den = 0.0;
  for (std::int64_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num / den);
}

std::filesystem::path scratch(const char* name) {
  return std::filesystem::temp_directory_path() /
         ("pathkernel_nn_step_bench_" + std::to_string(::getpid()) + "_" + name);
}

pk::nn::TrainingConfig config(std::int64_t steps) {
  return {.steps = steps, .schedule = pk::nn::Schedule::constant(kLearningRate)};
}

// The bare gradient: the recorded loss differentiated by one reverse sweep.
void BM_BareGradient(benchmark::State& state, const Size& size) {
  const Problem p = make_problem(size);
  const Loss loss(LossKind::mse);
  pk::ad::Tape tape;
  const pk::nn::TrainingLoss f(p.model, loss, p.data.inputs(), p.data.targets());
  // Check: the trainer's first step is -alpha times this gradient.
  const Tensor g = pk::ad::grad(f, p.w0, &tape);
  pk::nn::Trainer trainer(p.model, loss, p.data, config(1));
  const Tensor w1 = trainer.run(p.w0).final_weights;
  Tensor step(w1.shape()), expected(g.shape());
  for (std::int64_t i = 0; i < g.size(); ++i) {
    step[i] = w1[i] - p.w0[i];
    expected[i] = -kLearningRate * g[i];
  }
  if (relative_difference(step, expected) > 1e-12) fail(std::string(size.name) + ": step is not -alpha grad");
  for (auto _ : state) {
    Tensor gi = pk::ad::grad(f, p.w0, &tape);
    benchmark::DoNotOptimize(gi.data());
  }
  state.counters["step_time"] =
      benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["D"] = static_cast<double>(p.model.parameter_count());
}

enum class Recorder { none, memory, disk, disk_flush_100 };

void BM_Step(benchmark::State& state, const Size& size, Recorder which) {
  const Problem p = make_problem(size);
  const std::int64_t steps = size.steps_per_run;
  pk::nn::Trainer trainer(p.model, Loss(LossKind::mse), p.data, config(steps));
  pk::nn::TrajectoryRecorder memory;
  const std::filesystem::path dir = scratch(size.name);
  const bool on_disk = which == Recorder::disk || which == Recorder::disk_flush_100;
  pk::nn::DiskTrajectoryRecorder disk(dir, {.flush_every = which == Recorder::disk ? 1 : 100});
  if (which == Recorder::memory) trainer.add_observer(memory);
  if (on_disk) trainer.add_observer(disk);
  {
    // Check: one run of this configuration records what an in-memory recorder records.
    pk::nn::Trainer reference(p.model, Loss(LossKind::mse), p.data, config(steps));
    pk::nn::TrajectoryRecorder expected;
    reference.add_observer(expected);
    reference.run(p.w0);
    const pk::nn::TrainingResult r = trainer.run(p.w0);
    if (r.status != pk::nn::TrainingStatus::completed || r.steps != steps)
      fail(std::string(size.name) + ": " + r.message);
    if (!std::equal(r.final_weights.span().begin(), r.final_weights.span().end(),
                    expected.trajectory().weights(steps).span().begin()))
      fail(std::string(size.name) + ": runs differ");
    if (which == Recorder::memory && !(memory.trajectory() == expected.trajectory()))
      fail(std::string(size.name) + ": in-memory trajectory differs");
    if (on_disk && !(pk::nn::read_trajectory(dir) == expected.trajectory()))
      fail(std::string(size.name) + ": disk trajectory differs");
  }
  for (auto _ : state) {
    const pk::nn::TrainingResult r = trainer.run(p.w0);
    benchmark::DoNotOptimize(r.final_loss);
  }
  state.counters["step_time"] =
      benchmark::Counter(static_cast<double>(steps),
                         benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

void register_all() {
  for (const Size& s : kSizes) {
    const std::string n = s.name;
    benchmark::RegisterBenchmark(("bare_gradient/" + n).c_str(), BM_BareGradient, s)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("step_no_recorder/" + n).c_str(), BM_Step, s, Recorder::none)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("step_memory_recorder/" + n).c_str(), BM_Step, s, Recorder::memory)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("step_disk_recorder/" + n).c_str(), BM_Step, s, Recorder::disk)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("step_disk_recorder_flush100/" + n).c_str(), BM_Step, s,
                                 Recorder::disk_flush_100)
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
