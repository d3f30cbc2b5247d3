// A small convolutional net on a batch of 256 8 x 8 images: forward value, gradient and
// Hessian-vector product (forward over reverse) of a sum-of-squares loss, with the parameters in
// one flat vector cut into layers with slice/reshape, as the MLP benchmark does. Each benchmark
// checks its answer before timing it: the forward against plain loops, the gradient and the HVP
// against central differences. Then the same net as an nn layered model through the kernel
// module: the 256 x 256 x C x C tangent kernel (the generic per-sample-Jacobian route) and one
// decomposition step's F1 and F2 at 32 query points (bench/conv_bench_torch.py times PyTorch on
// the same quantities).
//
//   input 1x8x8 -> conv2d(4, 3x3, padding 1) -> tanh -> avg_pool2d(2)
//               -> conv2d(8, 3x3, padding 1) -> tanh -> avg_pool2d(2) -> flatten -> linear(10)
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "autodiff/autodiff.hpp"
#include "kernel/model_tangent_kernel.hpp"
#include "kernel/step_terms.hpp"
#include "nn/architecture.hpp"

using namespace pk::ad;

namespace {

constexpr std::int64_t kBatch = 256;

struct Layer {
  std::int64_t in, out, side;  // channels in and out, image side (square images)
};
constexpr Layer kConv1{1, 4, 8}, kConv2{4, 8, 4};
constexpr std::int64_t kFlat = 8 * 2 * 2, kClasses = 10;

std::int64_t conv_params(const Layer& l) { return l.out * l.in * 9 + l.out; }
std::int64_t parameter_count() {
  return conv_params(kConv1) + conv_params(kConv2) + kClasses * kFlat + kClasses;
}

// SplitMix64 to [-1, 1): the same data on every platform.
struct Uniform {
  std::uint64_t s;
  double operator()() {
    s += 0x9E3779B97F4A7C15ULL;
    std::uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-52 - 1.0;
  }
};

struct ConvProblem {
  Tensor x, target, w;

  ConvProblem() {
    Uniform u{7};
    x = Tensor(Shape::matrix(kBatch, 64));
    for (std::int64_t i = 0; i < x.size(); ++i) x[i] = u();
    target = Tensor(Shape::matrix(kBatch, kClasses));
    for (std::int64_t i = 0; i < target.size(); ++i) target[i] = 0.5 * u();
    w = Tensor(Shape::vector(parameter_count()));
    // PyTorch's default bound 1/sqrt(fan_in) for each layer's weights and biases.
    std::int64_t at = 0;
    for (const auto& [count, fan_in] : std::vector<std::pair<std::int64_t, std::int64_t>>{
             {conv_params(kConv1), 9}, {conv_params(kConv2), 36}, {kClasses * kFlat + kClasses, kFlat}})
      for (std::int64_t i = 0; i < count; ++i) w[at++] = u() / std::sqrt(static_cast<double>(fan_in));
  }

  static Conv2dGeometry geometry(const Layer& l) {
    return {.channels = l.in, .height = l.side, .width = l.side, .kernel_h = 3, .kernel_w = 3,
            .padding_h = 1, .padding_w = 1};
  }

  /// The loss 1/(2B) sum ||net(x) - target||^2 as a recorded function of the flat parameters.
  Var loss(Var wv) const {
    Tape& t = wv.tape();
    Var h = t.constant(x);
    std::int64_t at = 0;
    auto take = [&](std::int64_t n) {
      const Var piece = slice(wv, at, at + n);
      at += n;
      return piece;
    };
    for (const Layer& l : {kConv1, kConv2}) {
      const Var weight = reshape(take(l.out * l.in * 9), Shape::matrix(l.out, l.in * 9));
      const Var bias = take(l.out);
      h = avg_pool2d(tanh(conv2d(h, weight, bias, geometry(l))), {l.out, l.side, l.side}, 2);
    }
    const Var weight = reshape(take(kClasses * kFlat), Shape::matrix(kClasses, kFlat));
    const Var y = add(matmul(h, weight, false, true), take(kClasses));
    return sum(square(sub(y, t.constant(target)))) * (0.5 / static_cast<double>(kBatch));
  }

  /// The same loss by plain loops, straight from the layer definitions.
  double reference_loss(const Tensor& wt) const {
    std::vector<double> h(x.span().begin(), x.span().end());
    std::int64_t at = 0;
    for (const Layer& l : {kConv1, kConv2}) {
      const std::int64_t s = l.side, half = s / 2;
      const std::int64_t wat = at, bat = at + l.out * l.in * 9;
      at = bat + l.out;
      std::vector<double> pooled(static_cast<std::size_t>(kBatch * l.out * half * half), 0.0);
      for (std::int64_t n = 0; n < kBatch; ++n)
        for (std::int64_t o = 0; o < l.out; ++o)
          for (std::int64_t r = 0; r < s; ++r)
            for (std::int64_t c = 0; c < s; ++c) {
              double acc = wt[bat + o];
              for (std::int64_t ci = 0; ci < l.in; ++ci)
                for (std::int64_t i = 0; i < 3; ++i)
                  for (std::int64_t j = 0; j < 3; ++j) {
                    const std::int64_t rr = r - 1 + i, cc = c - 1 + j;
                    if (rr < 0 || rr >= s || cc < 0 || cc >= s) continue;
                    acc += wt[wat + (o * l.in + ci) * 9 + i * 3 + j] *
                           h[static_cast<std::size_t>(((n * l.in + ci) * s + rr) * s + cc)];
                  }
              pooled[static_cast<std::size_t>(((n * l.out + o) * half + r / 2) * half + c / 2)] +=
                  std::tanh(acc) / 4.0;
            }
      h.swap(pooled);
    }
    double loss = 0.0;
    for (std::int64_t n = 0; n < kBatch; ++n)
      for (std::int64_t k = 0; k < kClasses; ++k) {
        double y = wt[at + kClasses * kFlat + k];
        for (std::int64_t i = 0; i < kFlat; ++i)
          y += wt[at + k * kFlat + i] * h[static_cast<std::size_t>(n * kFlat + i)];
        const double d = y - target(n, k);
        loss += d * d;
      }
    return 0.5 * loss / static_cast<double>(kBatch);
  }
};

const ConvProblem& problem() {
  static const ConvProblem p;
  return p;
}

void require(bool ok, const char* what, double got, double want) {
  if (ok) return;
  std::fprintf(stderr, "%s of the conv net is wrong: %.17g, expected %.17g\n", what, got, want);
  std::abort();
}

Tensor direction(const Tensor& w) {
  Tensor v(w.shape());
  for (std::int64_t i = 0; i < v.size(); ++i) v[i] = std::sin(1.0 + 0.37 * static_cast<double>(i));
  return v;
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
    require(std::abs(analytic - numeric) <= 1e-6 * std::max(1.0, std::abs(numeric)), "gradient",
            analytic, numeric);
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
      require(std::abs(hv[i] - numeric) <= 1e-5 * std::max(1.0, std::abs(numeric)), "hvp", hv[i],
              numeric);
    }
  }
  for (auto _ : state) {
    tape.clear();
    const Var w = tape.variable(p.w, v);
    const Var g = grad(p.loss(w), w);
    benchmark::DoNotOptimize(tape.node(g).tangent);
  }
}
const pk::nn::Model& layered_model() {
  static const pk::nn::Model m = pk::nn::sequential(pk::nn::parse_architecture(
      "conv2d(4,3,padding=1),tanh,avg_pool2d(2),conv2d(8,3,padding=1),tanh,avg_pool2d(2),flatten,linear(10)",
      {1, 8, 8}));
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
  for (auto _ : state) {
    const pk::kernel::SecondOrder t = pk::kernel::second_order_term(f, queries, p.w, step, tape);
    benchmark::DoNotOptimize(t.second_order.data());
  }
}
}  // namespace

BENCHMARK(BM_ConvTangentKernel256)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ConvStepTerms32)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ConvForward)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ConvGradient)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ConvHvp)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
