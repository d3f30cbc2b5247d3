// pathkernel beside libtorch on the conv net of bench/conv_problem.hpp (1x8x8 -> conv2d(4, 3,
// padding 1) -> tanh -> avg_pool2d(2) -> conv2d(8, 3, padding 1) -> tanh -> avg_pool2d(2) ->
// flatten -> linear(10), batch 256, float64, one thread) on identical inputs: libtorch's weights
// are cut from the problem's flat parameter vector (parameters_to_vector's layout), its data and
// loss are the problem's. Each pair is checked to agree to 1e-12 (relative to the largest entry)
// before either is timed; then the program prints the ratio table.
//
//   forward         the loss; pathkernel records on a tape of constants, libtorch in InferenceMode
//   gradient        the loss's gradient; libtorch: torch::autograd::grad
//   hvp             the Hessian of the loss times v; pathkernel forward-over-reverse, libtorch double
//                   backward (its C++ API has no forward-over-reverse route)
//   tangent kernel  the 256 x 256 x 10 x 10 kernel of the outputs; pathkernel's route for layered
//                   models with convolutions (kernel/conv_tangent_kernel.hpp), libtorch's faster
//                   of two: per-sample Jacobians by per-sample weight copies (a grouped
//                   convolution and a batched product over the batch, then one backward pass per
//                   output) and by one backward per point and output; then J J^T
//
// bench/conv_bench_torch.py times the decomposition's F1 and F2 in PyTorch (torch.func's jvp,
// which libtorch 1.13's C++ API lacks). Run with --benchmark_repetitions=3
// --benchmark_report_aggregates_only=true; ratios use the median CPU time.
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "autodiff/op_author.hpp"
#include "bench/conv_problem.hpp"
#include "bench/peer_report.hpp"
#include "kernel/model_tangent_kernel.hpp"
#include "nn/nn.hpp"

namespace {

using pk::ad::Tape;
using pk::ad::Tensor;
using pk::ad::Var;
using pk::bench::ConvProblem;

const ConvProblem& problem() {
  static const ConvProblem p;
  return p;
}

const pk::nn::Model& model() {
  static const pk::nn::Model m =
      pk::nn::sequential(pk::nn::parse_architecture(pk::bench::kConvArchitecture, {1, 8, 8}));
  return m;
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "peer_libtorch_conv_bench: check failed: %s\n", what.c_str());
  std::abort();
}

// |a - b| <= 1e-12 max|b| over all entries.
void require_agree(const Tensor& ours, const at::Tensor& theirs, const std::string& what) {
  const at::Tensor flat = theirs.detach().contiguous().reshape({-1});
  if (flat.numel() != ours.size()) fail(what + ": sizes differ");
  const double* b = flat.data_ptr<double>();
  double diff = 0.0, scale = 0.0;
  for (std::int64_t i = 0; i < ours.size(); ++i) {
    diff = std::max(diff, std::abs(ours[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  if (!(diff <= 1e-12 * scale))
    fail(what + ": pathkernel and libtorch differ by " + std::to_string(diff) + " (largest entry " +
         std::to_string(scale) + ")");
}

at::Tensor to_torch(const double* data, at::IntArrayRef sizes) {
  return at::from_blob(const_cast<double*>(data), sizes, at::kDouble).clone();
}

at::Tensor flatten(const std::vector<at::Tensor>& parts, std::int64_t rows = 0) {
  std::vector<at::Tensor> flat;
  for (const at::Tensor& t : parts) flat.push_back(rows == 0 ? t.reshape({-1}) : t.reshape({rows, -1}));
  return at::cat(flat, rows == 0 ? 0 : 1);
}

struct TorchConv {
  std::vector<at::Tensor> params, v;  // w1, b1, w2, b2, w3, b3 and the direction cut likewise
  at::Tensor x, target;
  double scale;

  TorchConv() : scale(0.5 / static_cast<double>(pk::bench::kBatch)) {
    const ConvProblem& p = problem();
    const Tensor dir = pk::bench::direction(p.w);
    const std::vector<std::vector<std::int64_t>> shapes = {{4, 1, 3, 3}, {4},      {8, 4, 3, 3},
                                                           {8},          {10, 32}, {10}};
    std::int64_t at = 0;
    for (const auto& s : shapes) {
      std::int64_t n = 1;
      for (std::int64_t e : s) n *= e;
      params.push_back(to_torch(p.w.data() + at, s).requires_grad_(true));
      v.push_back(to_torch(dir.data() + at, s));
      at += n;
    }
    x = to_torch(p.x.data(), {pk::bench::kBatch, 1, 8, 8});
    target = to_torch(p.target.data(), {pk::bench::kBatch, 10});
  }

  at::Tensor output(const at::Tensor& in) const {
    at::Tensor h = at::avg_pool2d(at::tanh(at::conv2d(in, params[0], params[1], 1, 1)), 2);
    h = at::avg_pool2d(at::tanh(at::conv2d(h, params[2], params[3], 1, 1)), 2);
    return at::linear(h.reshape({h.size(0), -1}), params[4], params[5]);
  }

  at::Tensor loss() const { return (output(x) - target).square().sum() * scale; }

  std::vector<at::Tensor> gradient() const { return torch::autograd::grad({loss()}, params); }

  std::vector<at::Tensor> hvp() const {
    const std::vector<at::Tensor> g = torch::autograd::grad({loss()}, params, {}, true, true);
    at::Tensor gv = (g[0] * v[0]).sum();
    for (std::size_t i = 1; i < g.size(); ++i) gv = gv + (g[i] * v[i]).sum();
    return torch::autograd::grad({gv}, params);
  }

  // Per-sample weight copies: the batch as one image of N*C channels convolved in N groups, the
  // dense layer as a batched product; the gradient of the batch's output c with respect to the
  // copies is every point's Jacobian row for output c.
  at::Tensor kernel_expanded() const {
    const std::int64_t n = x.size(0);
    std::vector<at::Tensor> copies;
    for (const at::Tensor& p : params) {
      std::vector<std::int64_t> sizes{n};
      for (std::int64_t e : p.sizes()) sizes.push_back(e);
      copies.push_back(p.detach().unsqueeze(0).expand(sizes).contiguous().requires_grad_(true));
    }
    at::Tensor h = at::conv2d(x.reshape({1, n, 8, 8}), copies[0].reshape({n * 4, 1, 3, 3}),
                              copies[1].reshape({n * 4}), 1, 1, 1, n);
    h = at::avg_pool2d(at::tanh(h), 2);
    h = at::conv2d(h, copies[2].reshape({n * 8, 4, 3, 3}), copies[3].reshape({n * 8}), 1, 1, 1, n);
    h = at::avg_pool2d(at::tanh(h), 2).reshape({n, 32, 1});
    const at::Tensor out = at::bmm(copies[4], h).reshape({n, 10}) + copies[5];
    std::vector<at::Tensor> rows;
    for (std::int64_t c = 0; c < 10; ++c)
      rows.push_back(flatten(torch::autograd::grad({out.select(1, c).sum()}, copies, {}, c + 1 < 10), n));
    const at::Tensor j = at::stack(rows, 1).reshape({n * 10, -1});
    return at::mm(j, j.t());
  }

  // One forward per point, one backward per output.
  at::Tensor kernel_jacobians() const {
    const std::int64_t n = x.size(0);
    std::vector<at::Tensor> rows;
    for (std::int64_t p = 0; p < n; ++p) {
      const at::Tensor out = output(x.narrow(0, p, 1));
      for (std::int64_t c = 0; c < 10; ++c)
        rows.push_back(flatten(torch::autograd::grad({out[0][c]}, params, {}, c + 1 < 10)));
    }
    const at::Tensor j = at::stack(rows);
    return at::mm(j, j.t());
  }
};

const TorchConv& torch_problem() {
  static const TorchConv t;
  return t;
}

void check_all() {
  const ConvProblem& p = problem();
  const TorchConv& t = torch_problem();
  Tape tape;
  auto f = [&](Var w) { return p.loss(w); };
  const double ours = pk::ad::value(f, p.w, &tape);
  if (!(std::abs(ours - p.reference_loss(p.w)) <= 1e-12 * std::abs(ours)))
    fail("forward against the reference");
  {
    at::NoGradGuard no_grad;
    require_agree(Tensor::scalar(ours), t.loss(), "forward");
  }
  require_agree(pk::ad::grad(f, p.w, &tape), flatten(t.gradient()), "gradient");
  require_agree(
      pk::ad::hvp(f, p.w, pk::bench::direction(p.w), nullptr, pk::ad::HvpMethod::forward_over_reverse, &tape),
      flatten(t.hvp()), "hvp");
  {
    at::NoGradGuard no_grad;
    require_agree(pk::nn::evaluate(model(), p.x, p.w, &tape), t.output(t.x), "outputs of the layered model");
  }
  const Tensor k = pk::kernel::model_tangent_kernel(model(), p.x, p.x, p.w, tape);
  require_agree(k, t.kernel_expanded(), "tangent kernel (per-sample weight copies)");
  require_agree(k, t.kernel_jacobians(), "tangent kernel (a backward per point and output)");
}

void pk_forward(benchmark::State& state) {
  const ConvProblem& p = problem();
  Tape tape;
  for (auto _ : state) {
    tape.clear();
    benchmark::DoNotOptimize(p.loss(tape.constant(p.w)).item());
  }
}

void torch_forward(benchmark::State& state) {
  const TorchConv& t = torch_problem();
  c10::InferenceMode inference;
  for (auto _ : state) benchmark::DoNotOptimize(t.loss().item<double>());
}

void pk_gradient(benchmark::State& state) {
  const ConvProblem& p = problem();
  Tape tape;
  for (auto _ : state) {
    tape.clear();
    const Var w = tape.variable(p.w);
    benchmark::DoNotOptimize(pk::ad::grad(p.loss(w), w).value().data());
  }
}

void torch_gradient(benchmark::State& state) {
  const TorchConv& t = torch_problem();
  for (auto _ : state) benchmark::DoNotOptimize(t.gradient()[0].data_ptr());
}

void pk_hvp(benchmark::State& state) {
  const ConvProblem& p = problem();
  const Tensor v = pk::bench::direction(p.w);
  Tape tape;
  for (auto _ : state) {
    tape.clear();
    const Var w = tape.variable(p.w, v);
    const Var g = pk::ad::grad(p.loss(w), w);
    benchmark::DoNotOptimize(node(tape, g).tangent);
  }
}

void torch_hvp(benchmark::State& state) {
  const TorchConv& t = torch_problem();
  for (auto _ : state) benchmark::DoNotOptimize(t.hvp()[0].data_ptr());
}

void pk_kernel(benchmark::State& state) {
  const ConvProblem& p = problem();
  Tape tape;
  for (auto _ : state)
    benchmark::DoNotOptimize(pk::kernel::model_tangent_kernel(model(), p.x, p.x, p.w, tape).data());
}

void torch_kernel_expanded(benchmark::State& state) {
  const TorchConv& t = torch_problem();
  for (auto _ : state) benchmark::DoNotOptimize(t.kernel_expanded().data_ptr());
}

void torch_kernel_jacobians(benchmark::State& state) {
  const TorchConv& t = torch_problem();
  for (auto _ : state) benchmark::DoNotOptimize(t.kernel_jacobians().data_ptr());
}

template <class... Args>
void add(const std::string& name, Args&&... args) {
  benchmark::RegisterBenchmark(name.c_str(), std::forward<Args>(args)...)->Unit(benchmark::kMicrosecond);
}

std::vector<pk::bench::RatioRow> register_all() {
  add("conv/forward/pathkernel", pk_forward);
  add("conv/forward/libtorch", torch_forward);
  add("conv/gradient/pathkernel", pk_gradient);
  add("conv/gradient/libtorch", torch_gradient);
  add("conv/hvp/pathkernel", pk_hvp);
  add("conv/hvp/libtorch", torch_hvp);
  add("conv/tangent_kernel/pathkernel", pk_kernel);
  add("conv/tangent_kernel/libtorch_weight_copies", torch_kernel_expanded);
  add("conv/tangent_kernel/libtorch_per_point", torch_kernel_jacobians);
  const std::string n = "conv 1x8x8, batch 256";
  return {
      {n, "forward", "conv/forward/pathkernel", {"conv/forward/libtorch"}},
      {n, "gradient", "conv/gradient/pathkernel", {"conv/gradient/libtorch"}},
      {n, "HVP (forward-over-reverse vs double backward)", "conv/hvp/pathkernel", {"conv/hvp/libtorch"}},
      {n,
       "tangent kernel 256 x 256 x 10 x 10",
       "conv/tangent_kernel/pathkernel",
       {"conv/tangent_kernel/libtorch_weight_copies", "conv/tangent_kernel/libtorch_per_point"}},
  };
}

}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(1);
  at::set_num_interop_threads(1);
  const std::string blas = pk::bench::pin_openblas_to_one_thread();
  benchmark::AddCustomContext("libtorch", TORCH_VERSION);
  benchmark::AddCustomContext("libtorch threads", std::to_string(at::get_num_threads()));
  benchmark::AddCustomContext("libtorch dgemm_", pk::bench::provider_of("dgemm_"));
  benchmark::AddCustomContext("OpenBLAS", blas.empty() ? "not loaded" : blas);

  const std::vector<pk::bench::RatioRow> rows = register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  check_all();
  pk::bench::TimeKeeper times;
  benchmark::RunSpecifiedBenchmarks(&times);
  pk::bench::print_ratio_table(times, rows, "problem", "libtorch");
  benchmark::Shutdown();
  return 0;
}
