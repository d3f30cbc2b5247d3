// pathkernel beside libtorch on the MLPs of bench/mlp_problem.hpp (tiny 2-16-16-1 batch 32,
// small 8-64-64-1 batch 128, medium 64-256-256-10 batch 256; tanh; float64; one thread), on
// identical inputs: libtorch's weights are copied from the problem's flat parameter vector
// (PyTorch's Linear layout), and its data and loss are the problem's. Each pair is checked to agree
// to 1e-12 (relative to the largest entry) before either is timed. After the suite the program
// prints the ratio table `| MLP | op | pathkernel | libtorch | ratio |`.
//
//   forward         the loss; pathkernel records on a tape of constants, libtorch runs in
//                   InferenceMode (no autograd bookkeeping: its fastest forward)
//   gradient        the loss and its gradient; libtorch: torch::autograd::grad
//   hvp             the Hessian of the loss times v; pathkernel forward-over-reverse, libtorch double
//                   backward (grad with create_graph, then grad of g.v): libtorch 1.13's C++ API has
//                   no forward-over-reverse route
//   hvp_rr          both by double backward (pathkernel's reverse-over-reverse), like for like
//   tk_structured   the tangent kernel K(X, X) of the network's outputs over the batch without
//                   per-sample Jacobians, as a sum over layers of (G G^T) .* (H H^T + 1), G the
//                   back-propagated signals and H the layer inputs: pathkernel's dense route,
//                   libtorch by the same algebra in torch matmuls with the backward pass written out
//   tk_jacobians    the same kernel by per-sample Jacobians J (one backward per point and output;
//                   libtorch 1.13's C++ API has neither vmap nor batched grads) and J J^T; not for
//                   the medium MLP, whose J is 2560 x 85002 (1.7 GB)
//
// The table's "tangent kernel" row sets pathkernel's dense route against the faster of libtorch's
// two. Single thread: torch::set_num_threads(1), and OpenBLAS (the BLAS libtorch calls for float64
// products) pinned to one thread by API. Run with --benchmark_repetitions=3
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

#include "autodiff/autodiff.hpp"
#include "autodiff/op_author.hpp"
#include "bench/mlp_problem.hpp"
#include "bench/peer_report.hpp"
#include "kernel/model_tangent_kernel.hpp"
#include "nn/nn.hpp"

namespace {

using pk::ad::Tape;
using pk::ad::Tensor;
using pk::ad::Var;
using pk::bench::MlpProblem;

struct Size {
  const char* name;
  bool per_sample_kernel;  // the per-sample Jacobian route is affordable
};
constexpr Size kSizes[] = {{"tiny", true}, {"small", true}, {"medium", false}};

const MlpProblem& problem(int size) {
  static const MlpProblem tiny({2, 16, 16, 1}, 32);
  static const MlpProblem small({8, 64, 64, 1}, 128);
  static const MlpProblem medium({64, 256, 256, 10}, 256);
  return size == 0 ? tiny : size == 1 ? small : medium;
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "peer_libtorch_bench: check failed: %s\n", what.c_str());
  std::abort();
}

// |a - b| <= 1e-12 max|b| over all entries: the two tools sum in different orders, so entries
// near zero agree only relative to the scale of the whole result.
void require_agree(const double* a, const double* b, std::int64_t n, const std::string& what) {
  double diff = 0.0, scale = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    diff = std::max(diff, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  if (!(diff <= 1e-12 * scale))
    fail(what + ": pathkernel and libtorch differ by " + std::to_string(diff) + " (largest entry " +
         std::to_string(scale) + ")");
}

void require_agree(const Tensor& ours, const at::Tensor& theirs, const std::string& what) {
  const at::Tensor flat = theirs.detach().contiguous().reshape({-1});
  if (flat.numel() != ours.size()) fail(what + ": sizes differ");
  require_agree(ours.data(), flat.data_ptr<double>(), ours.size(), what);
}

// The direction of the HVPs: entries of both signs and unequal sizes (as autodiff_mlp_bench).
Tensor direction(const Tensor& w) {
  Tensor v(w.shape());
  for (std::int64_t i = 0; i < v.size(); ++i) v[i] = std::sin(1.0 + 0.37 * static_cast<double>(i));
  return v;
}

// Per-parameter tensors concatenated into one flat vector, pathkernel's layout.
at::Tensor flatten(const std::vector<at::Tensor>& parts) {
  std::vector<at::Tensor> flat;
  for (const at::Tensor& t : parts) flat.push_back(t.reshape({-1}));
  return at::cat(flat);
}

at::Tensor to_torch(const double* data, at::IntArrayRef sizes) {
  return at::from_blob(const_cast<double*>(data), sizes, at::kDouble).clone();
}

// The problem in libtorch: per layer W (out x in) and b (out), cut from the flat parameter vector
// in the order pathkernel lays it out, so that concatenating their gradients gives pathkernel's.
struct TorchMlp {
  std::vector<at::Tensor> weights, biases, params, v;
  at::Tensor x, target;
  double scale;

  explicit TorchMlp(const MlpProblem& p) : scale(0.5 / static_cast<double>(p.batch)) {
    const Tensor dir = direction(p.w);
    std::int64_t at = 0;
    for (std::size_t l = 0; l + 1 < p.widths.size(); ++l) {
      const std::int64_t in = p.widths[l], out = p.widths[l + 1];
      weights.push_back(to_torch(p.w.data() + at, {out, in}).requires_grad_(true));
      v.push_back(to_torch(dir.data() + at, {out, in}));
      at += out * in;
      biases.push_back(to_torch(p.w.data() + at, {out}).requires_grad_(true));
      v.push_back(to_torch(dir.data() + at, {out}));
      at += out;
      params.push_back(weights.back());
      params.push_back(biases.back());
    }
    x = to_torch(p.x.data(), {p.batch, p.widths.front()});
    target = to_torch(p.target.data(), {p.batch, p.widths.back()});
  }

  std::size_t layers() const { return weights.size(); }

  at::Tensor output(const at::Tensor& in) const {
    at::Tensor h = in;
    for (std::size_t l = 0; l < layers(); ++l) {
      h = at::linear(h, weights[l], biases[l]);
      if (l + 1 < layers()) h = at::tanh(h);
    }
    return h;
  }

  at::Tensor loss() const { return (output(x) - target).square().sum() * scale; }

  std::vector<at::Tensor> gradient() const { return torch::autograd::grad({loss()}, params); }

  std::vector<at::Tensor> hvp() const {
    const std::vector<at::Tensor> g = torch::autograd::grad({loss()}, params, {}, true, true);
    at::Tensor gv = (g[0] * v[0]).sum();
    for (std::size_t i = 1; i < g.size(); ++i) gv = gv + (g[i] * v[i]).sum();
    return torch::autograd::grad({gv}, params);
  }

  // K(X, X) without per-sample Jacobians. The backward pass is written out rather than recorded:
  // the signals for all outputs at once are rows (point, output) of delta, which starts as one
  // identity block per point and is pulled back through W and tanh' = 1 - a^2.
  at::Tensor kernel_structured() const {
    c10::InferenceMode inference;
    const std::int64_t b = x.size(0), c = weights.back().size(0);
    std::vector<at::Tensor> inputs;  // the input of each layer
    at::Tensor h = x;
    for (std::size_t l = 0; l < layers(); ++l) {
      inputs.push_back(h);
      h = at::linear(h, weights[l], biases[l]);
      if (l + 1 < layers()) h = at::tanh(h);
    }
    at::Tensor k = at::zeros({b * c, b * c}, at::kDouble);
    at::Tensor delta = at::eye(c, at::kDouble).repeat({b, 1});
    for (std::size_t l = layers(); l-- > 0;) {
      const at::Tensor gg = at::mm(delta, delta.t()).view({b, c, b, c});
      const at::Tensor hh = at::mm(inputs[l], inputs[l].t()).add_(1.0).view({b, 1, b, 1});
      k.view({b, c, b, c}).addcmul_(gg, hh);
      if (l == 0) break;
      const at::Tensor a = inputs[l];
      const std::int64_t width = a.size(1);
      delta = (at::mm(delta, weights[l]).view({b, c, width}) * (1.0 - a.square()).view({b, 1, width}))
                  .view({b * c, width});
    }
    return k;
  }

  // K(X, X) = J J^T with J built row by row: one forward per point, one backward per output.
  at::Tensor kernel_jacobians() const {
    const std::int64_t b = x.size(0), c = weights.back().size(0);
    std::vector<at::Tensor> rows;
    rows.reserve(static_cast<std::size_t>(b * c));
    std::vector<at::Tensor> flat(params.size());
    for (std::int64_t p = 0; p < b; ++p) {
      const at::Tensor out = output(x.narrow(0, p, 1));
      for (std::int64_t o = 0; o < c; ++o) {
        const std::vector<at::Tensor> g = torch::autograd::grad({out[0][o]}, params, {}, o + 1 < c);
        for (std::size_t i = 0; i < g.size(); ++i) flat[i] = g[i].reshape({-1});
        rows.push_back(at::cat(flat));
      }
    }
    const at::Tensor j = at::stack(rows);
    return at::mm(j, j.t());
  }
};

const TorchMlp& torch_problem(int size) {
  static const TorchMlp tiny(problem(0)), small(problem(1)), medium(problem(2));
  return size == 0 ? tiny : size == 1 ? small : medium;
}

pk::nn::Model model_of(const MlpProblem& p) {
  std::string widths;
  for (const std::int64_t w : p.widths) {
    if (!widths.empty()) widths += '-';
    widths += std::to_string(w);
  }
  return pk::nn::mlp(widths, "tanh");
}

// Every pair is checked here once, before anything is timed.
void check_all() {
  for (int s = 0; s < 3; ++s) {
    const std::string name = kSizes[s].name;
    const MlpProblem& p = problem(s);
    const TorchMlp& t = torch_problem(s);
    Tape tape;
    auto f = [&](Var w) { return p.loss(w); };

    const double ours = pk::ad::value(f, p.w, &tape), want = p.reference_loss(p.w);
    if (!(std::abs(ours - want) <= 1e-12 * std::abs(want))) fail(name + ": forward against the reference");
    {
      at::NoGradGuard no_grad;
      const double theirs = t.loss().item<double>();
      require_agree(&ours, &theirs, 1, name + " forward");
    }
    require_agree(pk::ad::grad(f, p.w, &tape), flatten(t.gradient()), name + " gradient");
    const Tensor v = direction(p.w);
    const at::Tensor hv = flatten(t.hvp());
    require_agree(pk::ad::hvp(f, p.w, v, nullptr, pk::ad::HvpMethod::forward_over_reverse, &tape), hv,
                  name + " hvp (forward-over-reverse)");
    require_agree(pk::ad::hvp(f, p.w, v, nullptr, pk::ad::HvpMethod::reverse_over_reverse, &tape), hv,
                  name + " hvp (reverse-over-reverse)");

    // The kernel is of the model's outputs; that pathkernel's MLP and the problem's torch copy
    // compute the same outputs from the same flat vector checks the layout.
    const pk::nn::Model model = model_of(p);
    {
      at::NoGradGuard no_grad;
      require_agree(pk::nn::evaluate(model, p.x, p.w, &tape), t.output(t.x), name + " outputs");
    }
    const at::Tensor k = t.kernel_structured();
    require_agree(
        pk::kernel::model_tangent_kernel(model, p.x, p.x, p.w, tape, pk::kernel::KernelRoute::dense_grams), k,
        name + " tangent kernel (dense route against torch's structured)");
    if (kSizes[s].per_sample_kernel) {
      require_agree(
          pk::kernel::model_tangent_kernel(model, p.x, p.x, p.w, tape, pk::kernel::KernelRoute::jacobians), k,
          name + " tangent kernel (pathkernel's per-sample Jacobians)");
      const at::Tensor kj = t.kernel_jacobians();
      const at::Tensor kj_flat = kj.contiguous().reshape({-1});
      const at::Tensor k_flat = k.contiguous().reshape({-1});
      require_agree(kj_flat.data_ptr<double>(), k_flat.data_ptr<double>(), k.numel(),
                    name + " tangent kernel (torch's per-sample Jacobians against its structured route)");
    }
  }
}

void pk_forward(benchmark::State& state, int s) {
  const MlpProblem& p = problem(s);
  Tape tape;
  for (auto _ : state) {
    tape.clear();
    benchmark::DoNotOptimize(p.loss(tape.constant(p.w)).item());
  }
  state.counters["FLOP/s"] =
      benchmark::Counter(p.forward_flops(), benchmark::Counter::kIsIterationInvariantRate);
}

void torch_forward(benchmark::State& state, int s) {
  const TorchMlp& t = torch_problem(s);
  c10::InferenceMode inference;
  for (auto _ : state) benchmark::DoNotOptimize(t.loss().item<double>());
  state.counters["FLOP/s"] =
      benchmark::Counter(problem(s).forward_flops(), benchmark::Counter::kIsIterationInvariantRate);
}

void pk_gradient(benchmark::State& state, int s) {
  const MlpProblem& p = problem(s);
  Tape tape;
  for (auto _ : state) {
    tape.clear();
    const Var w = tape.variable(p.w);
    benchmark::DoNotOptimize(pk::ad::grad(p.loss(w), w).value().data());
  }
}

void torch_gradient(benchmark::State& state, int s) {
  const TorchMlp& t = torch_problem(s);
  for (auto _ : state) benchmark::DoNotOptimize(t.gradient()[0].data_ptr());
}

void pk_hvp(benchmark::State& state, int s) {
  const MlpProblem& p = problem(s);
  const Tensor v = direction(p.w);
  Tape tape;
  for (auto _ : state) {
    tape.clear();
    const Var w = tape.variable(p.w, v);
    const Var g = pk::ad::grad(p.loss(w), w);
    benchmark::DoNotOptimize(node(tape, g).tangent);
  }
}

void pk_hvp_rr(benchmark::State& state, int s) {
  const MlpProblem& p = problem(s);
  const Tensor v = direction(p.w);
  auto f = [&](Var w) { return p.loss(w); };
  Tape tape;
  for (auto _ : state)
    benchmark::DoNotOptimize(
        pk::ad::hvp(f, p.w, v, nullptr, pk::ad::HvpMethod::reverse_over_reverse, &tape).data());
}

void torch_hvp(benchmark::State& state, int s) {
  const TorchMlp& t = torch_problem(s);
  for (auto _ : state) benchmark::DoNotOptimize(t.hvp()[0].data_ptr());
}

void pk_kernel(benchmark::State& state, int s, pk::kernel::KernelRoute route) {
  const MlpProblem& p = problem(s);
  const pk::nn::Model model = model_of(p);
  Tape tape;
  for (auto _ : state)
    benchmark::DoNotOptimize(pk::kernel::model_tangent_kernel(model, p.x, p.x, p.w, tape, route).data());
}

void torch_kernel_structured(benchmark::State& state, int s) {
  const TorchMlp& t = torch_problem(s);
  for (auto _ : state) benchmark::DoNotOptimize(t.kernel_structured().data_ptr());
}

void torch_kernel_jacobians(benchmark::State& state, int s) {
  const TorchMlp& t = torch_problem(s);
  for (auto _ : state) benchmark::DoNotOptimize(t.kernel_jacobians().data_ptr());
}

std::string id(int s, const char* op, const char* tool) {
  return std::string(kSizes[s].name) + "/" + op + "/" + tool;
}

template <class... Args>
void add(const std::string& name, Args&&... args) {
  benchmark::RegisterBenchmark(name.c_str(), std::forward<Args>(args)...)->Unit(benchmark::kMicrosecond);
}

std::vector<pk::bench::RatioRow> register_all() {
  using pk::kernel::KernelRoute;
  std::vector<pk::bench::RatioRow> rows;
  for (int s = 0; s < 3; ++s) {
    add(id(s, "forward", "pathkernel"), pk_forward, s);
    add(id(s, "forward", "libtorch"), torch_forward, s);
    add(id(s, "gradient", "pathkernel"), pk_gradient, s);
    add(id(s, "gradient", "libtorch"), torch_gradient, s);
    add(id(s, "hvp", "pathkernel"), pk_hvp, s);
    add(id(s, "hvp_rr", "pathkernel"), pk_hvp_rr, s);
    add(id(s, "hvp", "libtorch"), torch_hvp, s);
    add(id(s, "tk_structured", "pathkernel"), pk_kernel, s, KernelRoute::dense_grams);
    add(id(s, "tk_structured", "libtorch"), torch_kernel_structured, s);
    if (kSizes[s].per_sample_kernel) {
      add(id(s, "tk_jacobians", "pathkernel"), pk_kernel, s, KernelRoute::jacobians);
      add(id(s, "tk_jacobians", "libtorch"), torch_kernel_jacobians, s);
    }
    const std::string n = kSizes[s].name;
    rows.push_back({n, "forward", id(s, "forward", "pathkernel"), {id(s, "forward", "libtorch")}});
    rows.push_back({n, "gradient", id(s, "gradient", "pathkernel"), {id(s, "gradient", "libtorch")}});
    rows.push_back({n,
                    "HVP (forward-over-reverse vs double backward)",
                    id(s, "hvp", "pathkernel"),
                    {id(s, "hvp", "libtorch")}});
    rows.push_back(
        {n, "HVP (double backward in both)", id(s, "hvp_rr", "pathkernel"), {id(s, "hvp", "libtorch")}});
    rows.push_back({n,
                    "tangent kernel (dense route vs libtorch's faster route)",
                    id(s, "tk_structured", "pathkernel"),
                    {id(s, "tk_structured", "libtorch"), id(s, "tk_jacobians", "libtorch")}});
    rows.push_back({n,
                    "tangent kernel, structured in both",
                    id(s, "tk_structured", "pathkernel"),
                    {id(s, "tk_structured", "libtorch")}});
    if (kSizes[s].per_sample_kernel)
      rows.push_back({n,
                      "tangent kernel, per-sample Jacobians in both",
                      id(s, "tk_jacobians", "pathkernel"),
                      {id(s, "tk_jacobians", "libtorch")}});
  }
  return rows;
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
  pk::bench::print_ratio_table(times, rows, "MLP", "libtorch");
  benchmark::Shutdown();
  return 0;
}
