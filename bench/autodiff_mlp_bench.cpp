// Forward value, gradient, Hessian-vector products (both routes) and, for the tiny network, the
// full Hessian of an MLP loss at three sizes. Each benchmark checks its answer before timing it.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "autodiff/autodiff.hpp"
#include "autodiff/op_author.hpp"
#include "bench/mlp_problem.hpp"

using namespace pk::ad;
using pk::bench::MlpProblem;

namespace {
const MlpProblem& problem(int size) {
  static const MlpProblem tiny({2, 16, 16, 1}, 32);
  static const MlpProblem small({8, 64, 64, 1}, 128);
  static const MlpProblem medium({64, 256, 256, 10}, 256);
  return size == 0 ? tiny : size == 1 ? small : medium;
}

const char* name_of(int size) { return size == 0 ? "tiny" : size == 1 ? "small" : "medium"; }

void require(bool ok, const char* what, int size, double got, double want) {
  if (ok) return;
  std::fprintf(stderr, "%s on the %s MLP is wrong: %.17g, expected %.17g\n", what, name_of(size), got, want);
  std::abort();
}

// A fixed direction with entries of both signs and unequal sizes.
Tensor direction(const Tensor& w) {
  Tensor v(w.shape());
  for (std::int64_t i = 0; i < v.size(); ++i) v[i] = std::sin(1.0 + 0.37 * static_cast<double>(i));
  return v;
}

double inner(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (std::int64_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// g . v against the central difference of the loss along v.
void check_gradient_along(const MlpProblem& p, const Tensor& g, int size) {
  const Tensor v = direction(p.w);
  const double h = 1e-5;
  Tensor up(p.w), down(p.w);
  for (std::int64_t i = 0; i < v.size(); ++i) {
    up[i] += h * v[i];
    down[i] -= h * v[i];
  }
  const double numeric = (p.reference_loss(up) - p.reference_loss(down)) / (2 * h);
  const double analytic = inner(g, v);
  require(std::abs(analytic - numeric) <= 1e-6 * std::max(1.0, std::abs(numeric)), "gradient", size, analytic,
          numeric);
}

void BM_Forward(benchmark::State& state) {
  const int size = static_cast<int>(state.range(0));
  const MlpProblem& p = problem(size);
  Tape tape;
  {
    const Var w = tape.constant(p.w);
    const double want = p.reference_loss(p.w);
    const double got = p.loss(w).item();
    require(std::abs(got - want) <= 1e-12 * std::max(1.0, std::abs(want)), "forward", size, got, want);
  }
  for (auto _ : state) {
    tape.clear();
    const Var w = tape.constant(p.w);
    benchmark::DoNotOptimize(p.loss(w).item());
  }
  state.counters["FLOP/s"] =
      benchmark::Counter(p.forward_flops(), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Gradient(benchmark::State& state) {
  const int size = static_cast<int>(state.range(0));
  const MlpProblem& p = problem(size);
  Tape tape;
  {
    const Var w = tape.variable(p.w);
    check_gradient_along(p, Tensor(grad(p.loss(w), w).value()), size);
  }
  for (auto _ : state) {
    tape.clear();
    const Var w = tape.variable(p.w);
    benchmark::DoNotOptimize(grad(p.loss(w), w).value().data());
  }
}

// The HVP against central differences of the gradient along v.
void check_hvp(const MlpProblem& p, const Tensor& hv, int size) {
  const Tensor v = direction(p.w);
  const double h = 1e-5;
  Tensor up(p.w), down(p.w);
  for (std::int64_t i = 0; i < v.size(); ++i) {
    up[i] += h * v[i];
    down[i] -= h * v[i];
  }
  auto f = [&](Var w) { return p.loss(w); };
  const Tensor gu = grad(f, up), gd = grad(f, down);
  for (std::int64_t i = 0; i < hv.size(); ++i) {
    const double numeric = (gu[i] - gd[i]) / (2 * h);
    require(std::abs(hv[i] - numeric) <= 1e-5 * std::max(1.0, std::abs(numeric)), "hvp", size, hv[i],
            numeric);
  }
}

void BM_HvpForwardOverReverse(benchmark::State& state) {
  const int size = static_cast<int>(state.range(0));
  const MlpProblem& p = problem(size);
  const Tensor v = direction(p.w);
  auto f = [&](Var w) { return p.loss(w); };
  Tape tape;
  check_hvp(p, hvp(f, p.w, v, nullptr, HvpMethod::forward_over_reverse, &tape), size);
  for (auto _ : state) {
    tape.clear();
    const Var w = tape.variable(p.w, v);
    const Var g = grad(p.loss(w), w);
    benchmark::DoNotOptimize(node(tape, g).tangent);
  }
}

void BM_HvpReverseOverReverse(benchmark::State& state) {
  const int size = static_cast<int>(state.range(0));
  const MlpProblem& p = problem(size);
  const Tensor v = direction(p.w);
  auto f = [&](Var w) { return p.loss(w); };
  Tape tape;
  check_hvp(p, hvp(f, p.w, v, nullptr, HvpMethod::reverse_over_reverse, &tape), size);
  for (auto _ : state) {
    benchmark::DoNotOptimize(hvp(f, p.w, v, nullptr, HvpMethod::reverse_over_reverse, &tape).data());
  }
}

void BM_HessianTiny(benchmark::State& state) {
  const MlpProblem& p = problem(0);
  auto f = [&](Var w) { return p.loss(w); };
  Tape tape;
  {
    const Tensor h = hessian(f, p.w, &tape);
    const Tensor v = direction(p.w);
    Tensor hv(v.shape(), 0.0);
    const std::int64_t d = v.size();
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = 0; j < d; ++j) hv[i] += h(i, j) * v[j];
    check_hvp(p, hv, 0);
  }
  for (auto _ : state) benchmark::DoNotOptimize(hessian(f, p.w, &tape).data());
}
}  // namespace

BENCHMARK(BM_Forward)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Gradient)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_HvpForwardOverReverse)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_HvpReverseOverReverse)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_HessianTiny)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
