// A small convolutional net (bench/conv_problem.hpp) on a batch of 256 8 x 8 images: forward
// value, gradient and Hessian-vector product (forward over reverse) of a sum-of-squares loss,
// with the parameters in one flat vector cut into layers with slice/reshape, as the MLP
// benchmark does. Each benchmark
// checks its answer before timing it: the forward against plain loops, the gradient and the HVP
// against central differences. Then the same net as an nn layered model through the kernel
// module: the 256 x 256 x C x C tangent kernel (the structured conv route,
// kernel/conv_tangent_kernel.hpp), one decomposition step's F1 and F2 at 32 query points, and
// the decomposition of a 60-step full-batch run at 32 query points with F1 and F2 at every step
// (bench/conv_bench_torch.py times PyTorch on the same quantities, and
// bench/peers/libtorch_conv_bench.cpp libtorch's C++ API beside pathkernel in one run).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "autodiff/autodiff.hpp"
#include "autodiff/op_author.hpp"
#include "bench/conv_problem.hpp"
#include "kernel/decomposition.hpp"
#include "kernel/layered_second_order.hpp"
#include "kernel/model_tangent_kernel.hpp"
#include "kernel/step_terms.hpp"
#include "nn/nn.hpp"

using namespace pk::ad;
using namespace pk::bench;

namespace {

const ConvProblem& problem() {
  static const ConvProblem p;
  return p;
}

void require(bool ok, const char* what, double got, double want) {
  if (ok) return;
  std::fprintf(stderr, "%s of the conv net is wrong: %.17g, expected %.17g\n", what, got, want);
  std::abort();
}

void BM_ConvForward(benchmark::State& state) {
  const ConvProblem& p = problem();
  Tape tape;
  {
    const double want = p.reference_loss(p.w);
    const double got = p.loss(tape.constant(p.w)).item();
    require(std::abs(got - want) <= 1e-12 * std::max(1.0, std::abs(want)), "forward", got, want);
  }
  for (auto _ : state) {
    tape.clear();
    benchmark::DoNotOptimize(p.loss(tape.constant(p.w)).item());
  }
}

void BM_ConvGradient(benchmark::State& state) {
  const ConvProblem& p = problem();
  Tape tape;
  {
    const Var w = tape.variable(p.w);
    const Tensor g(grad(p.loss(w), w).value());
    const Tensor v = direction(p.w);
    const double h = 1e-5;
    Tensor up(p.w), down(p.w);
    for (std::int64_t i = 0; i < v.size(); ++i) {
      up[i] += h * v[i];
      down[i] -= h * v[i];
    }
    const double numeric = (p.reference_loss(up) - p.reference_loss(down)) / (2 * h);
    double analytic = 0.0;
    for (std::int64_t i = 0; i < v.size(); ++i) analytic += g[i] * v[i];
    require(std::abs(analytic - numeric) <= 1e-6 * std::max(1.0, std::abs(numeric)), "gradient", analytic,
            numeric);
  }
  for (auto _ : state) {
    tape.clear();
    const Var w = tape.variable(p.w);
    benchmark::DoNotOptimize(grad(p.loss(w), w).value().data());
  }
}

void BM_ConvHvp(benchmark::State& state) {
  const ConvProblem& p = problem();
  const Tensor v = direction(p.w);
  auto f = [&](Var w) { return p.loss(w); };
  Tape tape;
  {
    const Tensor hv = hvp(f, p.w, v, nullptr, HvpMethod::forward_over_reverse, &tape);
    const double h = 1e-5;
    Tensor up(p.w), down(p.w);
    for (std::int64_t i = 0; i < v.size(); ++i) {
      up[i] += h * v[i];
      down[i] -= h * v[i];
    }
    const Tensor gu = grad(f, up), gd = grad(f, down);
    for (std::int64_t i = 0; i < hv.size(); ++i) {
      const double numeric = (gu[i] - gd[i]) / (2 * h);
      require(std::abs(hv[i] - numeric) <= 1e-5 * std::max(1.0, std::abs(numeric)), "hvp", hv[i], numeric);
    }
  }
  for (auto _ : state) {
    tape.clear();
    const Var w = tape.variable(p.w, v);
    const Var g = grad(p.loss(w), w);
    benchmark::DoNotOptimize(node(tape, g).tangent);
  }
}
const pk::nn::Model& layered_model() {
  static const pk::nn::Model m = pk::nn::sequential(pk::nn::parse_architecture(kConvArchitecture, {1, 8, 8}));
  return m;
}

void BM_ConvTangentKernel256(benchmark::State& state) {
  const ConvProblem& p = problem();
  const pk::nn::Model& m = layered_model();
  require(m.parameter_count() == p.w.size(), "parameter count", static_cast<double>(m.parameter_count()),
          static_cast<double>(p.w.size()));
  Tape tape;
  for (auto _ : state) {
    const Tensor k = pk::kernel::model_tangent_kernel(m, p.x, p.x, p.w, tape);
    benchmark::DoNotOptimize(k.data());
  }
}

void BM_ConvStepTerms32(benchmark::State& state) {
  const ConvProblem& p = problem();
  const pk::nn::Model& m = layered_model();
  Tensor queries(Shape::matrix(32, 64));
  for (std::int64_t i = 0; i < queries.size(); ++i) queries[i] = p.x[i];
  const Tensor dw = direction(p.w);
  Tensor step(p.w);
  for (std::int64_t i = 0; i < dw.size(); ++i) step[i] = 1e-3 * dw[i];
  auto f = [&](Var x, Var w) { return m.forward(x, w); };
  Tape tape;
  const bool taylor = state.range(0) != 0;
  if (taylor) {
    // The Taylor-mode route (what the decomposition takes) against the batched double backward.
    const pk::kernel::SecondOrder a = pk::kernel::second_order_term(f, queries, p.w, step, tape);
    const pk::kernel::SecondOrder b =
        pk::kernel::layered_second_order_term(*m.architecture(), m, queries, p.w, step, tape);
    for (std::int64_t i = 0; i < a.second_order.size(); ++i) {
      require(std::abs(a.first_order[i] - b.first_order[i]) <= 1e-12, "F1 (Taylor mode)", b.first_order[i],
              a.first_order[i]);
      require(std::abs(a.second_order[i] - b.second_order[i]) <= 1e-12, "F2 (Taylor mode)", b.second_order[i],
              a.second_order[i]);
    }
  }
  for (auto _ : state) {
    const pk::kernel::SecondOrder t =
        taylor ? pk::kernel::layered_second_order_term(*m.architecture(), m, queries, p.w, step, tape)
               : pk::kernel::second_order_term(f, queries, p.w, step, tape);
    benchmark::DoNotOptimize(t.second_order.data());
  }
}
// A 60-step full-batch gradient-descent run of the layered model on the problem's data (mean
// squared error), recorded once; the benchmark decomposes it.
const pk::nn::Trajectory& sixty_steps() {
  static const pk::nn::Trajectory run = [] {
    const ConvProblem& p = problem();
    pk::nn::Trainer trainer(layered_model(), pk::nn::Loss(pk::nn::LossKind::mse),
                            pk::nn::Dataset(p.x, p.target),
                            {.steps = 60, .schedule = pk::nn::Schedule::constant(0.5)});
    pk::nn::TrajectoryRecorder recorder;
    trainer.add_observer(recorder);
    const pk::nn::TrainingResult r = trainer.run(p.w);
    require(r.status == pk::nn::TrainingStatus::completed, "60-step run", 0.0, 60.0);
    return recorder.take();
  }();
  return run;
}

void BM_ConvDecomposition60Steps32Queries(benchmark::State& state) {
  const ConvProblem& p = problem();
  const pk::nn::Model& m = layered_model();
  const pk::nn::Trajectory& run = sixty_steps();
  const Tensor queries(TensorView(p.x.data(), Shape::matrix(32, 64)));
  pk::kernel::DecompositionOptions o;
  o.second_order = pk::kernel::SecondOrderMode::every_step;
  o.exact_kernel = false;
  o.attribution = false;
  {
    // The run identity, and the first step's F1 and F2 against the batched step terms.
    const pk::kernel::DecompositionReport r = pk::kernel::decompose(m, run, queries, o);
    require(r.steps == 60 && r.run_identity_error() <= 1e-10, "decomposition (run identity)",
            r.run_identity_error(), 0.0);
    Tape tape;
    auto f = [&](Var x, Var w) { return m.forward(x, w); };
    const pk::kernel::SecondOrder t =
        pk::kernel::second_order_term(f, queries, Tensor(run.weights(0)), run.step(0), tape);
    for (std::int64_t i = 0; i < t.first_order.size(); ++i) {
      require(std::abs(r.first_order[static_cast<std::size_t>(i)] - t.first_order[i]) <= 1e-12,
              "decomposition (F1 of step 0)", r.first_order[static_cast<std::size_t>(i)], t.first_order[i]);
      require(std::abs(r.second_order[static_cast<std::size_t>(i)] - t.second_order[i]) <= 1e-12,
              "decomposition (F2 of step 0)", r.second_order[static_cast<std::size_t>(i)], t.second_order[i]);
    }
  }
  double first = 0.0, second = 0.0;
  for (auto _ : state) {
    const pk::kernel::DecompositionReport r = pk::kernel::decompose(m, run, queries, o);
    benchmark::DoNotOptimize(r.second_order.data());
    first += r.seconds_first_order;
    second += r.seconds_second_order;
  }
  // Where the time goes: f and F1 (two forward passes a step) and F2.
  state.counters["f_F1_ms"] = benchmark::Counter(1e3 * first, benchmark::Counter::kAvgIterations);
  state.counters["F2_ms"] = benchmark::Counter(1e3 * second, benchmark::Counter::kAvgIterations);
}
}  // namespace

BENCHMARK(BM_ConvDecomposition60Steps32Queries)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ConvTangentKernel256)->Unit(benchmark::kMillisecond);
// Argument 0: the generic batched double backward; 1: the Taylor-mode route for layered models.
BENCHMARK(BM_ConvStepTerms32)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ConvForward)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ConvGradient)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ConvHvp)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
