// The cost of the path-kernel decomposition per training step, next to the training step itself,
// and of the 256 x 256 tangent kernel by its two routes.
//
// Decomposition: the MLP 8-64-64-1 (tanh, mean squared error) on 256 training points of a
// sine-like regression, 64 query points, plain gradient descent. A run of kSteps steps is
// recorded once; each iteration decomposes it with a fresh Decomposer (construction and finish
// included, amortised over the steps). "step_time" is the time per step; "x_training_step" divides
// it by the time of one Trainer step on the same problem, measured in the same process (the
// issue's targets: first order <= 1, second order at every step <= 2, exact kernel <= 4).
//
//   training_step                    Trainer::run over kSteps steps, no observers
//   decompose/first_order            df and F1 only (second order none, no exact, no attribution)
//   decompose/second_order_every     + F2 at every step
//   decompose/third_order_every      + F2 and F3 at every step (--order 3: a third nested derivative)
//   decompose/exact_kernel           + the exact path kernel (adaptive Gauss-Legendre)
//   decompose/attribution            + A_m and K^p (a 64 x 256 tangent kernel per step)
//
// Attribution through the optimiser's shares, forward in time (per-point state, M x D) against
// backward (per-query state, Q x C x D), on a run where M is large and Q small: the MLP 2-16-16-1
// on 2000 points, 4 query points, mini-batches of 20, 20 steps, momentum 0.9 and Adam (first order
// and attribution only). Each reports its state bytes and time per step; the backward case also
// "forward_over_backward_time" and "forward_over_backward_state", the forward case's measured in
// the same process (best of 3). Both are checked against each other (1e-12 of max |A_m|) first.
//
//   attribution_method/{momentum,adam}/{forward,backward}
//
// Tangent kernel: K(X, X) for 256 points, by per-sample Jacobians and by dense Gram matrices, for
//   tiny 2-16-16-1, small 8-64-64-1, medium 64-256-256-10.
// The per-sample route on the medium MLP forms a 2560 x 85002 Jacobian (1.7 GB) and takes
// seconds, so it runs once (Iterations(1)). Every configuration is checked before it is timed:
// the decompositions' identities, and the two kernel routes' agreement (to 1e-12 of the largest
// entry; for the medium MLP on the first 32 points, to keep the check affordable).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "autodiff/autodiff.hpp"
#include "kernel/decomposition.hpp"
#include "kernel/model_tangent_kernel.hpp"
#include "nn/nn.hpp"

namespace {

using pk::ad::Shape;
using pk::ad::Tensor;
using pk::kernel::DecompositionOptions;
using pk::kernel::DecompositionReport;
using pk::kernel::SecondOrderMode;

constexpr std::int64_t kTrainingPoints = 256;
constexpr std::int64_t kQueries = 64;
constexpr std::int64_t kSteps = 20;
constexpr double kLearningRate = 0.05;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "kernel_bench: check failed: %s\n", what.c_str());
  std::abort();
}

// x ~ N(0, 1) in `features` dimensions, y = sin(x . v) per output with fixed v: smooth, learnable.
struct Problem {
  pk::nn::Model model;
  pk::nn::Dataset data;
  Tensor queries;
  Tensor w0;
};

Problem make_problem(const char* widths, std::int64_t points, std::int64_t queries) {
  pk::nn::Model model = pk::nn::mlp(widths, "tanh");
  const std::int64_t f = model.input_dim(), c = model.output_dim();
  pk::nn::Rng rng(11);
  Tensor x(Shape::matrix(points, f)), y(Shape::matrix(points, c)), q(Shape::matrix(queries, f));
  for (std::int64_t i = 0; i < x.size(); ++i) x[i] = rng.normal();
  for (std::int64_t i = 0; i < q.size(); ++i) q[i] = rng.normal();
  for (std::int64_t r = 0; r < points; ++r)
    for (std::int64_t o = 0; o < c; ++o) {
      double s = 0.0;
      for (std::int64_t j = 0; j < f; ++j)
        s += x(r, j) * std::cos(static_cast<double>(1 + j + 3 * o)) / std::sqrt(static_cast<double>(f));
      y(r, o) = std::sin(2.0 * s);
    }
  Tensor w0 = pk::nn::initialise(model.layout(), pk::nn::InitScheme::pytorch_default, 3);
  return {std::move(model), pk::nn::Dataset(std::move(x), std::move(y)), std::move(q), std::move(w0)};
}

const Problem& small_problem() {
  static const Problem p = make_problem("8-64-64-1", kTrainingPoints, kQueries);
  return p;
}

pk::nn::TrainingConfig training_config() {
  return {.steps = kSteps, .schedule = pk::nn::Schedule::constant(kLearningRate)};
}

const pk::nn::Trajectory& recorded_run() {
  static const pk::nn::Trajectory t = [] {
    const Problem& p = small_problem();
    pk::nn::Trainer trainer(p.model, pk::nn::Loss(pk::nn::LossKind::mse), p.data, training_config());
    pk::nn::TrajectoryRecorder recorder;
    trainer.add_observer(recorder);
    const pk::nn::TrainingResult r = trainer.run(p.w0);
    if (r.status != pk::nn::TrainingStatus::completed) fail("training: " + r.message);
    if (!(r.final_loss < recorder.trajectory().loss_value(0))) fail("training does not lower the loss");
    return recorder.take();
  }();
  return t;
}

// Seconds per Trainer step on the small problem: the best of several timed runs, so the ratio's
// denominator is not inflated by a cold start.
double training_step_seconds() {
  static const double seconds = [] {
    const Problem& p = small_problem();
    pk::nn::Trainer trainer(p.model, pk::nn::Loss(pk::nn::LossKind::mse), p.data, training_config());
    trainer.run(p.w0);  // warm the tape's arena
    double best = 1e300;
    for (int rep = 0; rep < 20; ++rep) {
      const auto start = std::chrono::steady_clock::now();
      const pk::nn::TrainingResult r = trainer.run(p.w0);
      benchmark::DoNotOptimize(r.final_loss);
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return best / static_cast<double>(kSteps);
  }();
  return seconds;
}

void BM_TrainingStep(benchmark::State& state) {
  const Problem& p = small_problem();
  pk::nn::Trainer trainer(p.model, pk::nn::Loss(pk::nn::LossKind::mse), p.data, training_config());
  // Check: the trainer reproduces the recorded run bit for bit.
  const pk::nn::TrainingResult check = trainer.run(p.w0);
  if (!std::equal(check.final_weights.span().begin(), check.final_weights.span().end(),
                  recorded_run().weights(kSteps).span().begin()))
    fail("training is not reproducible");
  for (auto _ : state) {
    const pk::nn::TrainingResult r = trainer.run(p.w0);
    benchmark::DoNotOptimize(r.final_loss);
  }
  state.counters["step_time"] =
      benchmark::Counter(static_cast<double>(kSteps),
                         benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["D"] = static_cast<double>(p.model.parameter_count());
}

enum class Extra { none, second_order_every, third_order_every, exact_kernel, attribution };

DecompositionOptions options_for(Extra extra) {
  DecompositionOptions o;
  const bool curvature = extra == Extra::second_order_every || extra == Extra::third_order_every;
  o.second_order = curvature ? SecondOrderMode::every_step : SecondOrderMode::none;
  o.order = extra == Extra::third_order_every ? 3 : 2;
  o.exact_kernel = extra == Extra::exact_kernel;
  o.attribution = extra == Extra::attribution;
  return o;
}

DecompositionReport decompose_recorded(const DecompositionOptions& o) {
  const Problem& p = small_problem();
  return pk::kernel::decompose(p.model, recorded_run(), p.queries, o);
}

void BM_Decompose(benchmark::State& state, Extra extra) {
  const DecompositionOptions o = options_for(extra);
  double mean_nodes = 0.0;
  {
    // Check the report before timing: the run identity always, and what this configuration adds.
    const DecompositionReport r = decompose_recorded(o);
    if (!(r.run_identity_error() <= 1e-10)) fail("run identity");
    if (extra == Extra::exact_kernel && !(r.exact_identity_error() <= 1e-10)) fail("exact kernel identity");
    for (const int n : r.exact_nodes) mean_nodes += static_cast<double>(n) / static_cast<double>(r.steps);
    if (extra == Extra::attribution && !(r.attribution_identity_error() <= 1e-12))
      fail("attribution identity");
    if (extra == Extra::second_order_every || extra == Extra::third_order_every) {
      double r1 = 0.0, r2 = 0.0, r3 = 0.0;
      for (std::size_t i = 0; i < r.df.size(); ++i) {
        r1 += std::abs(r.remainder1(i));
        r2 += std::abs(r.remainder2(i));
        if (extra == Extra::third_order_every) r3 += std::abs(r.remainder3(i));
      }
      if (!(r2 < 0.5 * r1)) fail("the second-order term does not reduce the remainder");
      if (extra == Extra::third_order_every && !(r3 < 0.5 * r2))
        fail("the third-order term does not reduce the remainder");
    }
  }
  const double train = training_step_seconds();
  double seconds = 0.0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    const DecompositionReport r = decompose_recorded(o);
    benchmark::DoNotOptimize(r.df.data());
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  const double per_step = seconds / static_cast<double>(state.iterations() * kSteps);
  state.counters["step_time"] =
      benchmark::Counter(static_cast<double>(kSteps),
                         benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["x_training_step"] = per_step / train;
  state.counters["training_step_us"] = train * 1e6;
  if (extra == Extra::exact_kernel)
    state.counters["quadrature_nodes"] = mean_nodes;  // the last rule's, per step
}

// The attribution methods' problem: large M, small Q.
constexpr std::int64_t kAttributionPoints = 2000, kAttributionQueries = 4;

struct AttributionRun {
  Problem problem;
  pk::nn::Trajectory trajectory;
};

const AttributionRun& attribution_run(pk::nn::OptimizerKind kind) {
  auto make = [](pk::nn::OptimizerKind k) {
    AttributionRun a{make_problem("2-16-16-1", kAttributionPoints, kAttributionQueries), {}};
    const bool adam = k == pk::nn::OptimizerKind::adam;
    const pk::nn::TrainingConfig config{.steps = kSteps,
                                        .schedule = pk::nn::Schedule::constant(adam ? 0.005 : 0.05),
                                        .optimizer = {.kind = k, .momentum = 0.9, .weight_decay = 0.001},
                                        .batches = {.batch_size = 20, .seed = 7}};
    pk::nn::Trainer trainer(a.problem.model, pk::nn::Loss(pk::nn::LossKind::mse), a.problem.data, config);
    pk::nn::TrajectoryRecorder recorder;
    trainer.add_observer(recorder);
    const pk::nn::TrainingResult r = trainer.run(a.problem.w0);
    if (r.status != pk::nn::TrainingStatus::completed) fail("training: " + r.message);
    a.trajectory = recorder.take();
    return a;
  };
  static const AttributionRun momentum = make(pk::nn::OptimizerKind::momentum);
  static const AttributionRun adam = make(pk::nn::OptimizerKind::adam);
  return kind == pk::nn::OptimizerKind::adam ? adam : momentum;
}

DecompositionReport attribute(const AttributionRun& a, pk::kernel::AttributionMethod method) {
  DecompositionOptions o;
  o.second_order = SecondOrderMode::none;
  o.exact_kernel = false;
  o.attribution = true;
  o.attribution_method = method;
  return pk::kernel::decompose(a.problem.model, a.trajectory, a.problem.queries, o);
}

double seconds_of(const AttributionRun& a, pk::kernel::AttributionMethod method) {
  double best = 1e300;
  for (int rep = 0; rep < 3; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    const DecompositionReport r = attribute(a, method);
    benchmark::DoNotOptimize(r.attribution.data());
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

void BM_AttributionMethod(benchmark::State& state, pk::nn::OptimizerKind kind,
                          pk::kernel::AttributionMethod method) {
  using pk::kernel::AttributionMethod;
  const AttributionRun& a = attribution_run(kind);
  const DecompositionReport forward = attribute(a, AttributionMethod::forward);
  const DecompositionReport backward = attribute(a, AttributionMethod::backward);
  {
    // Check: the same attribution either way, adding up to the first-order total.
    double scale = 0.0, gap = 0.0;
    for (std::size_t i = 0; i < forward.attribution.size(); ++i) {
      scale = std::max(scale, std::abs(forward.attribution[i]));
      gap = std::max(gap, std::abs(forward.attribution[i] - backward.attribution[i]));
    }
    if (!(scale > 0 && gap <= 1e-12 * scale)) fail("forward and backward attributions differ");
    if (!(backward.attribution_identity_error() <= 1e-12)) fail("backward attribution identity");
    if (forward.attribution_method != "per_point_state" ||
        backward.attribution_method != "per_query_backward")
      fail("attribution methods not as forced");
  }
  const DecompositionReport& mine = method == AttributionMethod::forward ? forward : backward;
  double seconds = 0.0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    const DecompositionReport r = attribute(a, method);
    benchmark::DoNotOptimize(r.attribution.data());
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  state.counters["step_time"] =
      benchmark::Counter(static_cast<double>(kSteps),
                         benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["state_bytes"] = static_cast<double>(mine.attribution_state_bytes);
  state.counters["M"] = static_cast<double>(kAttributionPoints);
  state.counters["Q"] = static_cast<double>(kAttributionQueries);
  state.counters["D"] = static_cast<double>(a.problem.model.parameter_count());
  if (method == AttributionMethod::backward) {
    const double mine_seconds = seconds / static_cast<double>(state.iterations());
    state.counters["forward_over_backward_time"] = seconds_of(a, AttributionMethod::forward) / mine_seconds;
    state.counters["forward_over_backward_state"] = static_cast<double>(forward.attribution_state_bytes) /
                                                    static_cast<double>(backward.attribution_state_bytes);
  }
}

struct KernelSize {
  const char* name;
  const char* widths;
};
constexpr KernelSize kKernelSizes[] = {
    {"tiny", "2-16-16-1"},
    {"small", "8-64-64-1"},
    {"medium", "64-256-256-10"},
};

double max_abs(const Tensor& t) {
  double m = 0.0;
  for (double v : t.span()) m = std::max(m, std::abs(v));
  return m;
}

Tensor first_rows(const Tensor& x, std::int64_t n) {
  const std::int64_t cols = x.shape().dim(1);
  return Tensor(pk::ad::TensorView(x.data(), Shape::matrix(n, cols)));
}

void BM_TangentKernel(benchmark::State& state, const KernelSize& size, pk::kernel::KernelRoute route) {
  const Problem p = make_problem(size.widths, kTrainingPoints, 1);
  const Tensor& x = p.data.inputs();
  pk::ad::Tape tape;
  {
    // Check: the two routes agree to 1e-12 of the largest entry, and the kernel is symmetric.
    const bool medium = std::string(size.name) == "medium";
    const Tensor pts = medium ? first_rows(x, 32) : x;
    const Tensor fast =
        pk::kernel::model_tangent_kernel(p.model, pts, pts, p.w0, tape, pk::kernel::KernelRoute::dense_grams);
    const Tensor slow =
        pk::kernel::model_tangent_kernel(p.model, pts, pts, p.w0, tape, pk::kernel::KernelRoute::jacobians);
    if (!(pk::ad::max_abs_diff(fast, slow) <= 1e-12 * max_abs(slow)))
      fail(std::string(size.name) + ": kernel routes differ");
    const std::int64_t n = fast.shape().dim(0);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < i; ++j)
        if (fast(i, j) != fast(j, i) && std::abs(fast(i, j) - fast(j, i)) > 1e-13 * max_abs(fast))
          fail(std::string(size.name) + ": kernel not symmetric");
  }
  for (auto _ : state) {
    const Tensor k = pk::kernel::model_tangent_kernel(p.model, x, x, p.w0, tape, route);
    benchmark::DoNotOptimize(k.data());
  }
  state.counters["D"] = static_cast<double>(p.model.parameter_count());
  state.counters["C"] = static_cast<double>(p.model.output_dim());
}

void register_all() {
  benchmark::RegisterBenchmark("training_step/small", BM_TrainingStep)->Unit(benchmark::kMillisecond);
  const std::pair<const char*, Extra> extras[] = {{"first_order", Extra::none},
                                                  {"second_order_every", Extra::second_order_every},
                                                  {"third_order_every", Extra::third_order_every},
                                                  {"exact_kernel", Extra::exact_kernel},
                                                  {"attribution", Extra::attribution}};
  for (const auto& [name, extra] : extras)
    benchmark::RegisterBenchmark((std::string("decompose/") + name + "/small").c_str(), BM_Decompose, extra)
        ->Unit(benchmark::kMillisecond);
  for (const auto kind : {pk::nn::OptimizerKind::momentum, pk::nn::OptimizerKind::adam})
    for (const auto method :
         {pk::kernel::AttributionMethod::forward, pk::kernel::AttributionMethod::backward})
      benchmark::RegisterBenchmark(
          (std::string("attribution_method/") + std::string(pk::nn::optimizer_name(kind)) + "/" +
           std::string(pk::kernel::attribution_method_name(method)))
              .c_str(),
          BM_AttributionMethod, kind, method)
          ->Unit(benchmark::kMillisecond);
  for (const KernelSize& s : kKernelSizes) {
    const std::string n = s.name;
    benchmark::RegisterBenchmark(("tangent_kernel_dense_grams/" + n).c_str(), BM_TangentKernel, s,
                                 pk::kernel::KernelRoute::dense_grams)
        ->Unit(benchmark::kMillisecond);
    auto* b = benchmark::RegisterBenchmark(("tangent_kernel_per_sample_jacobians/" + n).c_str(),
                                           BM_TangentKernel, s, pk::kernel::KernelRoute::jacobians);
    b->Unit(benchmark::kMillisecond);
    if (n == "medium") b->Iterations(1);
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
