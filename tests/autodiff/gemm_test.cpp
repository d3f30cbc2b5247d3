#include "autodiff/gemm.hpp"
#include "tests/autodiff/allocation_counter.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using pk::ad::detail::gemm;
using i64 = std::int64_t;

struct Case {
  bool ta, tb;
  i64 m, n, k;
  double alpha, beta;
  i64 pad;  // extra elements per row beyond what the leading dimensions need
};

std::string describe(const Case& c) {
  return "ta=" + std::to_string(c.ta) + " tb=" + std::to_string(c.tb) + " m=" + std::to_string(c.m) +
         " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) + " alpha=" + std::to_string(c.alpha) +
         " beta=" + std::to_string(c.beta) + " pad=" + std::to_string(c.pad);
}

// Runs gemm on random data and compares with a naive triple loop. The error bound is relative to
// sum |alpha*a*b| + |beta*c| rather than to |C| itself, because cancellation can make C ~ 0 while
// the rounding error legitimately scales with the magnitude of the terms.
void check(const Case& t, std::mt19937_64& rng) {
  SCOPED_TRACE(describe(t));
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  const i64 a_rows = t.ta ? t.k : t.m, a_cols = t.ta ? t.m : t.k;
  const i64 b_rows = t.tb ? t.n : t.k, b_cols = t.tb ? t.k : t.n;
  const i64 lda = a_cols + t.pad, ldb = b_cols + t.pad, ldc = t.n + t.pad;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Sentinels in the padding detect reads or writes outside the logical matrices.
  const double sentinel = 12345.0;
  std::vector<double> a(static_cast<std::size_t>(std::max<i64>(a_rows * lda, 1)), sentinel);
  std::vector<double> b(static_cast<std::size_t>(std::max<i64>(b_rows * ldb, 1)), sentinel);
  std::vector<double> c(static_cast<std::size_t>(std::max<i64>(t.m * ldc, 1)), sentinel);
  for (i64 i = 0; i < a_rows; ++i)
    for (i64 j = 0; j < a_cols; ++j) a[i * lda + j] = dist(rng);
  for (i64 i = 0; i < b_rows; ++i)
    for (i64 j = 0; j < b_cols; ++j) b[i * ldb + j] = dist(rng);
  for (i64 i = 0; i < t.m; ++i)
    for (i64 j = 0; j < t.n; ++j) c[i * ldc + j] = t.beta == 0.0 ? nan : dist(rng);

  std::vector<double> expect(c), bound(c.size(), 0.0);
  for (i64 i = 0; i < t.m; ++i)
    for (i64 j = 0; j < t.n; ++j) {
      double sum = 0.0, mag = 0.0;
      for (i64 p = 0; p < t.k; ++p) {
        const double av = t.ta ? a[p * lda + i] : a[i * lda + p];
        const double bv = t.tb ? b[j * ldb + p] : b[p * ldb + j];
        sum += av * bv;
        mag += std::abs(av * bv);
      }
      const double old = c[i * ldc + j];
      const double cterm = t.beta == 0.0 ? 0.0 : t.beta * old;
      expect[i * ldc + j] = t.alpha * sum + cterm;
      bound[i * ldc + j] = 1e-12 * (std::abs(t.alpha) * mag + std::abs(cterm)) + 1e-300;
    }

  gemm(t.ta, t.tb, t.m, t.n, t.k, t.alpha, a.data(), lda, b.data(), ldb, t.beta, c.data(), ldc);

  int failures = 0;
  for (i64 i = 0; i < t.m && failures < 5; ++i)
    for (i64 j = 0; j < ldc && failures < 5; ++j) {
      const double got = c[i * ldc + j], want = expect[i * ldc + j];
      if (j >= t.n) {
        EXPECT_EQ(got, sentinel) << "padding of C written at (" << i << "," << j << ")";
        failures += got != sentinel;
        continue;
      }
      const bool ok = std::isfinite(got) && std::abs(got - want) <= bound[i * ldc + j];
      EXPECT_TRUE(ok) << "C(" << i << "," << j << ") = " << got << ", expected " << want;
      failures += !ok;
    }
}

// Sizes straddle the vector width (8), the register tile (8 x 16 with AVX-512, smaller elsewhere)
// and so the narrow (n < 8) and direct paths, plus 0, 1 and primes. The packed path needs more
// than 128^3 multiply-adds, so the tests below cover it.
const i64 kDims[] = {0, 1, 2, 3, 7, 8, 13, 16, 17, 31, 33, 61, 97};

TEST(Gemm, GridAllTransposes) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int> pick(0, static_cast<int>(std::size(kDims)) - 1);
  const double alphas[] = {1.0, -0.5, 2.25};
  const double betas[] = {0.0, 1.0, -1.5};
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (i64 m : kDims)
        for (i64 n : kDims) {
          const i64 k = kDims[pick(rng)];
          const double alpha = alphas[(m + n) % 3], beta = betas[(m + 2 * n + k) % 3];
          check({ta == 1, tb == 1, m, n, k, alpha, beta, (m + n + k) % 3 == 0 ? 0 : 5}, rng);
        }
}

TEST(Gemm, EveryKWithFixedShape) {
  std::mt19937_64 rng(7);
  for (i64 k : kDims)
    for (int t = 0; t < 4; ++t) check({(t & 1) != 0, (t & 2) != 0, 13, 17, k, 1.0, 0.0, 3}, rng);
}

TEST(Gemm, LargeBlockEdges) {
  // Mid-size shapes either side of the direct/packed threshold (128^3 multiply-adds), with ragged
  // tiles everywhere and k on both sides of the k block (256).
  std::mt19937_64 rng(1234);
  const i64 shapes[][3] = {{200, 211, 389}, {389, 37, 193}, {5, 300, 191}, {257, 255, 64}, {64, 64, 64}};
  for (const auto& s : shapes)
    for (int t = 0; t < 4; ++t) {
      check({(t & 1) != 0, (t & 2) != 0, s[0], s[1], s[2], 1.0, 0.0, 0}, rng);
      check({(t & 1) != 0, (t & 2) != 0, s[0], s[1], s[2], -0.75, 0.5, 9}, rng);
    }
}

TEST(Gemm, PackedPathShapes) {
  // Products big enough for the packed path (> 128^3 multiply-adds), chosen so that every
  // blocking loop has a ragged last block: m % 8, n % 16, k split into balanced blocks (> 256),
  // m split (> 128 rows), n split (> 4096 columns), and a panel narrower than one tile.
  std::mt19937_64 rng(555);
  const i64 shapes[][3] = {{129, 17, 1000}, {3, 1000, 800}, {9, 4100, 70}, {300, 129, 61}, {1, 2100, 1100}};
  for (const auto& s : shapes)
    for (int t = 0; t < 4; ++t)
      check({(t & 1) != 0, (t & 2) != 0, s[0], s[1], s[2], 1.5, t < 2 ? 0.0 : -1.0, t}, rng);
}

TEST(Gemm, MlpShapes) {
  std::mt19937_64 rng(99);
  // Forward products of a 2-16-16-1 MLP with batch 32, then the gradient products.
  const Case cases[] = {
      {false, false, 32, 16, 2, 1.0, 0.0, 0}, {false, false, 32, 16, 16, 1.0, 0.0, 0},
      {false, false, 32, 1, 16, 1.0, 0.0, 0}, {true, false, 16, 16, 32, 1.0, 0.0, 0},
      {true, false, 2, 16, 32, 1.0, 1.0, 0},  {true, false, 16, 1, 32, 1.0, 1.0, 0},
      {false, true, 32, 16, 16, 1.0, 0.0, 0}, {false, true, 32, 16, 1, 1.0, 0.0, 0},
      {false, true, 32, 2, 16, 1.0, 0.0, 0},
  };
  for (const Case& t : cases) check(t, rng);
}

TEST(Gemm, ConvolutionShapes) {
  std::mt19937_64 rng(2026);
  // A small conv net on a batch of 256: forward (w unfold(x)), weight gradient (G unfold(x)^T, the
  // dot path: long k, small C, odd m and n), input gradient (w^T G); then ragged dot-path shapes
  // (k not a multiple of 8, m and n not multiples of the 2 x 4 block) with alpha and beta.
  const Case cases[] = {
      {false, false, 4, 16384, 9, 1.0, 0.0, 0}, {false, true, 4, 9, 16384, 1.0, 0.0, 0},
      {false, true, 8, 36, 4096, 1.0, 0.0, 0},  {true, false, 36, 4096, 8, 1.0, 0.0, 0},
      {false, true, 3, 13, 1001, -0.5, 1.5, 3}, {false, true, 1, 1, 300, 2.0, 0.0, 1},
      {false, true, 5, 7, 263, 1.0, -1.0, 2},   {false, true, 64, 64, 4096, 1.0, 0.0, 0},
  };
  for (const Case& t : cases) check(t, rng);
}

TEST(Gemm, ZeroSizesAndAlphaZero) {
  // k == 0 or alpha == 0: C = beta * C, and beta == 0 must clear NaN.
  std::vector<double> c(6, std::numeric_limits<double>::quiet_NaN());
  gemm(false, false, 2, 3, 0, 1.0, nullptr, 1, nullptr, 3, 0.0, c.data(), 3);
  for (double v : c) EXPECT_EQ(v, 0.0);
  std::vector<double> d = {1, 2, 3, 4};
  const double a[] = {std::numeric_limits<double>::quiet_NaN(), 1, 1, 1};
  gemm(false, false, 2, 2, 2, 0.0, a, 2, a, 2, 2.0, d.data(), 2);
  EXPECT_EQ(d, (std::vector<double>{2, 4, 6, 8}));
  gemm(false, false, 0, 5, 5, 1.0, nullptr, 5, nullptr, 5, 0.0, nullptr, 5);
  gemm(true, true, 5, 0, 5, 1.0, nullptr, 5, nullptr, 5, 0.0, nullptr, 1);
}

TEST(Gemm, ConcurrentThreads) {
  // Scratch buffers are thread_local: concurrent calls of different sizes (the first two threads
  // on the direct path, the others on the packed one) must not interfere.
  // (GoogleTest assertions are thread-safe where pthreads is available.)
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t] {
      std::mt19937_64 rng(static_cast<unsigned>(t));
      for (int rep = 0; rep < 3; ++rep)
        check({(t & 1) != 0, (t & 2) != 0, 100 + 13 * t, 90 + 7 * t, 150 + 31 * t, 1.0, 0.0, 1}, rng);
    });
  for (auto& th : threads) th.join();
}

TEST(Gemm, NoHeapAllocationWhenWarm) {
  // Scratch grows on first use in a thread; repeating the same calls must not allocate again.
  const i64 ld = 300;
  std::vector<double> a(ld * ld, 0.5), b(ld * ld, 0.25), c(ld * ld);
  const i64 shapes[][3] = {{300, 300, 300}, {100, 100, 100}, {32, 16, 16}, {32, 1, 16}};
  auto run_all = [&] {
    for (const auto& s : shapes)
      for (int t = 0; t < 4; ++t)
        gemm((t & 1) != 0, (t & 2) != 0, s[0], s[1], s[2], 1.0, a.data(), ld, b.data(), ld, 0.0, c.data(),
             ld);
  };
  run_all();
  const std::int64_t before = pk::test::allocations_on_this_thread();
  run_all();
  EXPECT_EQ(pk::test::allocations_on_this_thread() - before, 0);
}

}  // namespace
