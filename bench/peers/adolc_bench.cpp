// pathkernel beside ADOL-C on the gradient of the tiny MLP loss of bench/mlp_problem.hpp (2-16-16-1,
// batch 32, tanh, float64, loss 1/(2B) sum ||y - t||^2), on identical inputs. ADOL-C works on
// scalars: the loss is written in `adouble` arithmetic, one operation per multiply-add, in the
// problem's layout (PyTorch's Linear: W as out x in row-major, then b, layer by layer).
//
//   gradient/adolc          ADOL-C's fastest honest use for repeated gradients of one function:
//                           the loss is taped once (trace_on ... trace_off, outside the timing)
//                           and each evaluation calls gradient() on that tape, a zero-order
//                           forward sweep at the point followed by a first-order reverse sweep.
//                           Valid here because the loss has no branches, so one tape serves
//                           every point.
//   gradient/adolc_retape   the same, taping again before every gradient(): what a program whose
//                           function changes between evaluations pays
//   gradient/pathkernel     the loss recorded on a cleared tape and one reverse sweep, as
//                           peer_libtorch_bench times it
//
// Before anything is timed the gradients are checked to agree to 1e-12 relative to the largest
// entry. After the suite the program prints the ratio table, against ADOL-C's faster route.
#include <adolc/adolc.h>
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "autodiff/autodiff.hpp"
#include "bench/mlp_problem.hpp"
#include "bench/peer_report.hpp"

namespace {

using pk::ad::Tape;
using pk::ad::Tensor;
using pk::ad::Var;
using pk::bench::MlpProblem;

constexpr short kTag = 1;

const MlpProblem& tiny() {
  static const MlpProblem problem({2, 16, 16, 1}, 32);
  return problem;
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "peer_adolc_bench: check failed: %s\n", what.c_str());
  std::abort();
}

// Tapes the loss under kTag at the problem's weights.
void tape_loss(const MlpProblem& p) {
  const auto n = static_cast<std::size_t>(p.parameter_count());
  trace_on(kTag);
  std::vector<adouble> w(n);
  for (std::size_t i = 0; i < n; ++i) w[i] <<= p.w[static_cast<std::int64_t>(i)];
  std::vector<adouble> h, next;
  h.reserve(static_cast<std::size_t>(p.x.size()));
  for (std::int64_t i = 0; i < p.x.size(); ++i) h.emplace_back(p.x[i]);
  std::size_t at = 0;
  for (std::size_t l = 0; l + 1 < p.widths.size(); ++l) {
    const auto in = static_cast<std::size_t>(p.widths[l]), out = static_cast<std::size_t>(p.widths[l + 1]);
    next.assign(static_cast<std::size_t>(p.batch) * out, adouble(0.0));
    for (std::size_t r = 0; r < static_cast<std::size_t>(p.batch); ++r)
      for (std::size_t o = 0; o < out; ++o) {
        adouble s = w[at + out * in + o];
        for (std::size_t i = 0; i < in; ++i) s += h[r * in + i] * w[at + o * in + i];
        next[r * out + o] = l + 2 < p.widths.size() ? tanh(s) : s;
      }
    at += out * in + out;
    h.swap(next);
  }
  adouble loss = 0.0;
  for (std::int64_t i = 0; i < p.target.size(); ++i) {
    const adouble d = h[static_cast<std::size_t>(i)] - p.target[i];
    loss += d * d;
  }
  loss *= 0.5 / static_cast<double>(p.batch);
  double value = 0.0;
  loss >>= value;
  trace_off();
}

Tensor pk_gradient_of(const MlpProblem& p, Tape& tape) {
  tape.clear();
  const Var w = tape.variable(p.w);
  return Tensor(pk::ad::grad(p.loss(w), w).value());
}

void check() {
  const MlpProblem& p = tiny();
  Tape tape;
  const Tensor ours = pk_gradient_of(p, tape);
  tape_loss(p);
  std::vector<double> theirs(static_cast<std::size_t>(p.parameter_count()));
  if (gradient(kTag, static_cast<int>(theirs.size()), p.w.data(), theirs.data()) < 0)
    fail("ADOL-C's gradient() reported an error");
  double diff = 0.0, scale = 0.0;
  for (std::size_t i = 0; i < theirs.size(); ++i) {
    diff = std::max(diff, std::abs(ours[static_cast<std::int64_t>(i)] - theirs[i]));
    scale = std::max(scale, std::abs(theirs[i]));
  }
  if (!(diff <= 1e-12 * scale))
    fail("tiny gradient: pathkernel and ADOL-C differ by " + std::to_string(diff) + " (largest entry " +
         std::to_string(scale) + ")");
}

void pk_gradient(benchmark::State& state) {
  const MlpProblem& p = tiny();
  Tape tape;
  for (auto _ : state) {
    tape.clear();
    const Var w = tape.variable(p.w);
    benchmark::DoNotOptimize(pk::ad::grad(p.loss(w), w).value().data());
  }
}

void adolc_gradient(benchmark::State& state) {
  const MlpProblem& p = tiny();
  tape_loss(p);
  std::vector<double> g(static_cast<std::size_t>(p.parameter_count()));
  for (auto _ : state) {
    gradient(kTag, static_cast<int>(g.size()), p.w.data(), g.data());
    benchmark::DoNotOptimize(g.data());
  }
}

void adolc_gradient_retape(benchmark::State& state) {
  const MlpProblem& p = tiny();
  std::vector<double> g(static_cast<std::size_t>(p.parameter_count()));
  for (auto _ : state) {
    tape_loss(p);
    gradient(kTag, static_cast<int>(g.size()), p.w.data(), g.data());
    benchmark::DoNotOptimize(g.data());
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::AddCustomContext("ADOL-C", pk::bench::provider_of("zos_forward"));
  benchmark::RegisterBenchmark("tiny/gradient/pathkernel", pk_gradient)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("tiny/gradient/adolc", adolc_gradient)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("tiny/gradient/adolc_retape", adolc_gradient_retape)
      ->Unit(benchmark::kMicrosecond);
  const std::vector<pk::bench::RatioRow> rows = {
      {"tiny", "gradient (ADOL-C taped once)", "tiny/gradient/pathkernel", {"tiny/gradient/adolc"}},
      {"tiny",
       "gradient (ADOL-C taped per evaluation)",
       "tiny/gradient/pathkernel",
       {"tiny/gradient/adolc_retape"}}};
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  check();
  pk::bench::TimeKeeper times;
  benchmark::RunSpecifiedBenchmarks(&times);
  pk::bench::print_ratio_table(times, rows, "MLP", "ADOL-C");
  benchmark::Shutdown();
  return 0;
}
