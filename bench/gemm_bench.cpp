// GFLOP/s of pk::ad::detail::gemm on square sizes and on the shapes the library actually runs
// (MLP forward products and their backward-pass transposed variants). When built with a CBLAS
// (PATHKERNEL_BENCH_CBLAS, set by bench/CMakeLists.txt when one is found), cblas_dgemm is timed on
// the same shapes and operands, single-threaded, and a table of the engine's time as a ratio to
// it is printed after the suite.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "autodiff/gemm.hpp"
#include "bench/peer_report.hpp"

#ifdef PATHKERNEL_BENCH_CBLAS
#include <cblas.h>
#endif

namespace {

using i64 = std::int64_t;

struct Shape {
  bool ta, tb;
  i64 m, n, k;
};

// 64-byte aligned like the library's arena buffers, so timings reflect how gemm is really fed
// (unaligned AVX-512 loads that split cache lines would understate small-shape throughput).
class Matrix {
 public:
  Matrix(i64 count, std::mt19937_64& rng) : raw_(static_cast<std::size_t>(count) + 8) {
    void* p = raw_.data();
    std::size_t space = raw_.size() * sizeof(double);
    data_ = static_cast<double*>(std::align(64, static_cast<std::size_t>(count) * sizeof(double), p, space));
    std::uniform_real_distribution<double> dist(-1.0, 1.0);
    for (i64 i = 0; i < count; ++i) data_[i] = dist(rng);
  }
  double* data() { return data_; }
  double operator[](i64 i) const { return data_[i]; }

 private:
  std::vector<double> raw_;
  double* data_;
};

// A wrong fast kernel is worthless, so every shape is validated once before it is timed.
void verify(const Shape& s, const Matrix& a, const Matrix& b, const Matrix& c) {
  const i64 lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
  for (i64 i = 0; i < s.m; ++i)
    for (i64 j = 0; j < s.n; ++j) {
      double sum = 0.0, mag = 0.0;
      for (i64 p = 0; p < s.k; ++p) {
        const double t = (s.ta ? a[p * lda + i] : a[i * lda + p]) * (s.tb ? b[j * ldb + p] : b[p * ldb + j]);
        sum += t;
        mag += std::abs(t);
      }
      if (!(std::abs(c[i * s.n + j] - sum) <= 1e-12 * mag + 1e-300)) {
        std::fprintf(
            stderr, "gemm mismatch ta=%d tb=%d %lldx%lldx%lld at (%lld,%lld): got %.17g want %.17g\n", s.ta,
            s.tb, static_cast<long long>(s.m), static_cast<long long>(s.n), static_cast<long long>(s.k),
            static_cast<long long>(i), static_cast<long long>(j), c[i * s.n + j], sum);
        std::abort();
      }
    }
}

// Whose GEMM a benchmark times.
enum class Engine { pathkernel, cblas };

void run(benchmark::State& state, Shape s, Engine engine) {
  std::mt19937_64 rng(static_cast<std::uint64_t>(s.m * 1000003 + s.n * 1009 + s.k));
  Matrix a(s.m * s.k, rng), b(s.k * s.n, rng), c(s.m * s.n, rng);
  const i64 lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n;
  auto call = [&] {
#ifdef PATHKERNEL_BENCH_CBLAS
    if (engine == Engine::cblas) {
      cblas_dgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans,
                  static_cast<int>(s.m), static_cast<int>(s.n), static_cast<int>(s.k), 1.0, a.data(),
                  static_cast<int>(lda), b.data(), static_cast<int>(ldb), 0.0, c.data(),
                  static_cast<int>(s.n));
      return;
    }
#endif
    (void)engine;
    pk::ad::detail::gemm(s.ta, s.tb, s.m, s.n, s.k, 1.0, a.data(), lda, b.data(), ldb, 0.0, c.data(), s.n);
  };
  call();
  verify(s, a, b, c);
  for (auto _ : state) {
    call();
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(s.m * s.n * s.k) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

// {trans_a, trans_b, m, n, k}: "TN" is A^T B (weight gradient), "NT" is A B^T (input gradient).
const Shape kShapes[] = {
    // square
    {false, false, 64, 64, 64},
    {false, false, 128, 128, 128},
    {false, false, 256, 256, 256},
    {false, false, 512, 512, 512},
    // MLP 2-16-16-1, batch 32: forward X W, then dW = X^T dY and dX = dY W^T
    {false, false, 32, 16, 2},
    {false, false, 32, 16, 16},
    {false, false, 32, 1, 16},
    {true, false, 2, 16, 32},
    {true, false, 16, 16, 32},
    {true, false, 16, 1, 32},
    {false, true, 32, 16, 16},
    {false, true, 32, 16, 1},
    // MLP 8-64-64-1, batch 128 (the small problem of mlp_problem.hpp): forward, dW, dX
    {false, false, 128, 64, 8},
    {false, false, 128, 64, 64},
    {false, false, 128, 1, 64},
    {true, false, 8, 64, 128},
    {true, false, 64, 64, 128},
    {true, false, 64, 1, 128},
    {false, true, 128, 64, 64},
    {false, true, 128, 64, 1},
    // its tangent kernel over the batch by Gram matrices: G G^T and H H^T
    {false, true, 128, 128, 64},
    {false, true, 128, 128, 8},
    // wider layers: 256x64 @ 64x256, 256x256 @ 256x256, 256x256 @ 256x10 and their gradients
    {false, false, 256, 256, 64},
    {true, false, 64, 256, 256},
    {false, true, 256, 64, 256},
    {true, false, 256, 256, 256},
    {false, true, 256, 256, 256},
    {false, false, 256, 10, 256},
    {true, false, 256, 10, 256},
    {false, true, 256, 256, 10},
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<pk::bench::RatioRow> rows;
  for (const Shape& s : kShapes) {
    const std::string shape = std::string(s.ta ? "T" : "N") + (s.tb ? "T" : "N") + "/" + std::to_string(s.m) +
                              "x" + std::to_string(s.n) + "x" + std::to_string(s.k);
    benchmark::RegisterBenchmark(("gemm/" + shape).c_str(), run, s, Engine::pathkernel);
#ifdef PATHKERNEL_BENCH_CBLAS
    benchmark::RegisterBenchmark(("cblas_dgemm/" + shape).c_str(), run, s, Engine::cblas);
    rows.push_back({shape, "gemm", "gemm/" + shape, {"cblas_dgemm/" + shape}});
#endif
  }
#ifdef PATHKERNEL_BENCH_CBLAS
  const std::string blas = pk::bench::pin_openblas_to_one_thread();
  benchmark::AddCustomContext("cblas_dgemm", pk::bench::provider_of("cblas_dgemm"));
  benchmark::AddCustomContext("OpenBLAS", blas.empty() ? "not loaded" : blas);
#endif
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  pk::bench::TimeKeeper times;
  benchmark::RunSpecifiedBenchmarks(&times);
  if (!rows.empty()) pk::bench::print_ratio_table(times, rows, "shape (ta tb / m x n x k)", "cblas_dgemm");
  benchmark::Shutdown();
  return 0;
}
