// Dense float64 GEMM, row-major, in three paths that share one register-blocked tile:
//  - packed (large products): BLIS/Goto structure. op(A) and op(B) are copied ("packed") into
//    contiguous, zero-padded panels sized for the caches, so the tile streams unit-stride, aligned
//    data whatever the transposes and leading dimensions, and cache blocks are reused;
//  - direct (small products): the tile reads the operands in place, no packing;
//  - narrow (n < 8): vectorised along k or m instead, where a tile along n would be mostly empty;
//  - dots (A B^T, long k, small C): dot products of contiguous rows, nothing copied.
#include "autodiff/gemm.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <vector>

namespace pk::ad::detail {
namespace {

using i64 = std::int64_t;

// A GCC/Clang vector extension type rather than intrinsics: with AVX-512 each v8d is one zmm
// register; on narrower targets the compiler splits it into 2 ymm or 4 xmm registers, so the
// same source stays correct everywhere.
typedef double v8d __attribute__((vector_size(64)));
constexpr i64 kLanes = 8;

// Register tile MR x NR (NR = kNV vectors), shared by the packed and the direct path. All MR*kNV
// accumulators must stay in registers next to the kNV B vectors and one A broadcast:
//  - AVX-512 (32 zmm): 8 x 16 -> 16 accumulators, twice the 8 independent chains needed to cover
//    FMA latency (4 cycles x 2 pipes). Measured as fast as 12 x 16 in the packed kernel and
//    faster on the direct path, and 8 divides the library's batch and layer sizes.
//  - AVX/AVX2 (16 ymm, a v8d is 2 ymm): 6 x 8 -> 12 ymm accumulators.
//  - SSE2 (16 xmm, a v8d is 4 xmm): 4 x 8 -> 16 xmm accumulators; GCC spills a few but this
//    measured ~40% faster than 2 x 8, and is close to the SSE2 peak.
#if defined(__AVX512F__)
constexpr i64 kMR = 8, kNV = 2;
#elif defined(__AVX__)
constexpr i64 kMR = 6, kNV = 1;
#else
constexpr i64 kMR = 4, kNV = 1;
#endif
constexpr i64 kNR = kNV * kLanes;

// Cache blocking for the packed path (per core on the target: 48 KiB L1d, 1 MiB L2, 32 MiB L3):
//  - kKC: the kc x NR B micro-panel (32 KiB) is reused by every A micro-panel of a block and
//    stays in L1 while 8 x kc A micro-panels (16 KiB) stream through. 256 also keeps k <= 256
//    (common here) in one block, so C is read and written once. 192..512 measured within 3%.
//  - kMC: the packed mc x kc A block (256 KiB) stays in L2 while the kernel sweeps every NR
//    column panel of B across it.
//  - kNC: the packed kc x nc B block (8 MiB) lives in L3 and bounds the scratch size.
// Blocks are balanced (see balanced_block), so these are upper bounds.
constexpr i64 kKC = 256;
constexpr i64 kMC = 16 * kMR;
constexpr i64 kNC = 4096;
static_assert(kMC % kMR == 0 && kNC % kNR == 0);

// Up to this many multiply-adds (with n >= 8) the direct path runs: operands of that size sit in
// L1/L2 already, and packing them costs more than it saves (direct vs packed, GFLOP/s: 64^3
// 126 vs 96, 128^3 125 vs 110, 256x10x256 64 vs 37; 256x256x64 113 vs 115, and beyond that
// packing wins as unpacked operands start to miss in cache and alias in L1 sets).
constexpr i64 kDirectMaxMacs = 128 * 128 * 128;

constexpr std::size_t kAlign = 64;  // one cache line, and the natural alignment of a v8d

// Packing scratch is thread_local so that concurrent callers never share it: the kernel stays
// re-entrant across threads without locks. It only ever grows, to the largest request so far
// (at most kMC*kKC + kKC*kNC doubles on the packed path), so once warm a call does not allocate.
class Scratch {
 public:
  double* get(i64 count) {
    const std::size_t need = static_cast<std::size_t>(count) + kAlign / sizeof(double);
    if (storage_.size() < need) storage_.resize(need);
    void* p = storage_.data();
    std::size_t space = storage_.size() * sizeof(double);
    return static_cast<double*>(
        std::align(kAlign, static_cast<std::size_t>(count) * sizeof(double), p, space));
  }

 private:
  std::vector<double> storage_;
};
thread_local Scratch tl_pack_a;
thread_local Scratch tl_pack_b;

constexpr i64 round_up(i64 x, i64 to) { return (x + to - 1) / to * to; }

// Block size for splitting `total` into equal blocks of at most `limit` (rounded up to a multiple
// of `unit`): k = 256 with a 192 limit becomes 2 x 128 rather than 192 + 64, since a thin last
// block pays the full per-block cost (C reload and store, packing setup) for little work.
constexpr i64 balanced_block(i64 total, i64 limit, i64 unit) {
  const i64 blocks = (total + limit - 1) / limit;
  return round_up((total + blocks - 1) / blocks, unit);
}

void scale_c(i64 m, i64 n, double beta, double* c, i64 ldc) {
  for (i64 i = 0; i < m; ++i) {
    double* row = c + i * ldc;
    if (beta == 0.0)
      std::fill(row, row + n, 0.0);  // assign, not multiply: 0 * NaN would stay NaN
    else if (beta != 1.0)
      for (i64 j = 0; j < n; ++j) row[j] *= beta;
  }
}

// ---------------------------------------------------------------------------------------------
// Register tile shared by both paths: acc[R x 8V] = sum_p A(r, p) * B(p, 0:8V), where A(r, p) is
// a[r*a_rs + p*a_cs] and row p of B starts at b + p*ldb. always_inline lets the packed call site
// turn the strides into constants, so the hot loop has no address arithmetic beyond two bumps.
template <i64 R, i64 V>
[[gnu::always_inline]] inline void tile_product(i64 k, const double* a, i64 a_rs, i64 a_cs, const double* b,
                                                i64 ldb, v8d (&acc)[R][V]) {
  for (i64 p = 0; p < k; ++p, a += a_cs, b += ldb) {
    v8d bv[V];
#pragma GCC unroll 8
    for (i64 v = 0; v < V; ++v) std::memcpy(&bv[v], b + v * kLanes, sizeof(v8d));
#pragma GCC unroll 16
    for (i64 r = 0; r < R; ++r) {
      const double ar = a[r * a_rs];
#pragma GCC unroll 8
      for (i64 v = 0; v < V; ++v) acc[r][v] += ar * bv[v];
    }
  }
}

// C[0:R, 0:8V] = alpha * acc + beta * C, not reading C when beta == 0.
template <i64 R, i64 V>
[[gnu::always_inline]] inline void store_tile(const v8d (&acc)[R][V], double alpha, double beta, double* c,
                                              i64 ldc) {
#pragma GCC unroll 16
  for (i64 r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (i64 v = 0; v < V; ++v) {
      double* dst = c + r * ldc + v * kLanes;
      v8d out = alpha * acc[r][v];
      if (beta != 0.0) {
        v8d old;
        std::memcpy(&old, dst, sizeof(v8d));
        out += beta * old;
      }
      std::memcpy(dst, &out, sizeof(v8d));
    }
  }
}

// Same for the top-left mr x nr corner only: edge tiles are computed in full from zero-padded
// operands and clipped here, so the FMA loop never branches on the shape.
template <i64 R, i64 V>
void store_edge(const v8d (&acc)[R][V], double alpha, double beta, double* c, i64 ldc, i64 mr, i64 nr) {
  alignas(kAlign) double tile[R][V * kLanes];
  std::memcpy(tile, acc, sizeof(tile));
  for (i64 r = 0; r < mr; ++r)
    for (i64 j = 0; j < nr; ++j) {
      double& dst = c[r * ldc + j];
      dst = beta == 0.0 ? alpha * tile[r][j] : alpha * tile[r][j] + beta * dst;
    }
}

// ---------------------------------------------------------------------------------------------
// Packed path. Element (i, j) of op(X) is x[i*rs + j*cs]; the transposes only swap the strides.

// Copies op(X) into panels of W: element (w, p) of op(X), at x[w*ws + p*ps], goes to panel
// w / W at offset p*W + w % W; w >= extent is zero so the kernel never has an edge in its loop.
// A is packed with W = MR along m, B with W = NR along n, each along its reduction index p.
template <i64 W>
void pack(const double* x, i64 ws, i64 ps, i64 extent, i64 kc, double* dst) {
  for (i64 w0 = 0; w0 < extent; w0 += W, dst += W * kc) {
    const i64 valid = std::min(W, extent - w0);
    const double* src = x + w0 * ws;
    for (i64 p = 0; p < kc; ++p, src += ps) {
      double* out = dst + p * W;
      if (ws == 1 && valid == W)  // loop-invariant; the common unit-stride case is a copy
        std::memcpy(out, src, sizeof(double) * W);
      else
        for (i64 w = 0; w < W; ++w) out[w] = w < valid ? src[w * ws] : 0.0;
    }
  }
}

void micro_kernel(i64 kc, const double* ap, const double* bp, double alpha, double beta, double* c, i64 ldc,
                  i64 mr, i64 nr) {
  v8d acc[kMR][kNV] = {};
  tile_product<kMR, kNV>(kc, ap, 1, kMR, bp, kNR, acc);
  if (mr == kMR && nr == kNR)
    store_tile<kMR, kNV>(acc, alpha, beta, c, ldc);
  else
    store_edge<kMR, kNV>(acc, alpha, beta, c, ldc, mr, nr);
}

void gemm_packed(bool trans_a, bool trans_b, i64 m, i64 n, i64 k, double alpha, const double* a, i64 lda,
                 const double* b, i64 ldb, double beta, double* c, i64 ldc) {
  const i64 a_rs = trans_a ? 1 : lda, a_cs = trans_a ? lda : 1;
  const i64 b_rs = trans_b ? 1 : ldb, b_cs = trans_b ? ldb : 1;
  const i64 mc_max = balanced_block(m, kMC, kMR), nc_max = balanced_block(n, kNC, kNR);
  const i64 kc_max = balanced_block(k, kKC, 1);
  double* apack = tl_pack_a.get(mc_max * kc_max);
  double* bpack = tl_pack_b.get(nc_max * kc_max);

  for (i64 jc = 0; jc < n; jc += nc_max) {
    const i64 nc = std::min(nc_max, n - jc);
    for (i64 pc = 0; pc < k; pc += kc_max) {
      const i64 kc = std::min(kc_max, k - pc);
      pack<kNR>(b + pc * b_rs + jc * b_cs, b_cs, b_rs, nc, kc, bpack);
      const double beta_k = pc == 0 ? beta : 1.0;  // later k blocks accumulate
      for (i64 ic = 0; ic < m; ic += mc_max) {
        const i64 mc = std::min(mc_max, m - ic);
        pack<kMR>(a + ic * a_rs + pc * a_cs, a_rs, a_cs, mc, kc, apack);
        // jr outside ir: one B micro-panel stays in L1 while A micro-panels stream from L2.
        for (i64 jr = 0; jr < nc; jr += kNR)
          for (i64 ir = 0; ir < mc; ir += kMR)
            micro_kernel(kc, apack + ir * kc, bpack + jr * kc, alpha, beta_k, c + (ic + ir) * ldc + jc + jr,
                         ldc, std::min(kMR, mc - ir), std::min(kNR, nc - jr));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Direct path for small products: the same register tiles read op(A) and op(B) in place. Packing
// would touch every operand element once more and, for the MLP shapes, cost as much as the FMAs.
// Only the last n % 8 columns of op(B) are copied, into a zero-padded k x 8 panel, so that they
// too run as vector tiles (scalar code for them compiled badly: runtime strides, spills).

struct Direct {
  i64 n, k;
  double alpha, beta;
  bool trans_a;
  const double* a;
  i64 lda;
  const double* b;  // op(B) with contiguous rows, used for its first n - n % 8 columns
  i64 ldb;
  const double* b_tail;  // the last n % 8 columns of op(B), zero-padded to 8
  i64 ld_tail;
  double* c;
  i64 ldc;
};

// Tile product reading op(A) in place. Two instantiations, one per transpose, so that one of the
// two strides is the constant 1 and folds into the addressing (a runtime-strided version ran
// ~15% slower for A^T).
template <i64 R, i64 V>
[[gnu::always_inline]] inline void direct_product(const Direct& d, const double* a, const double* b, i64 ldb,
                                                  v8d (&acc)[R][V]) {
  if (d.trans_a)
    tile_product<R, V>(d.k, a, 1, d.lda, b, ldb, acc);
  else
    tile_product<R, V>(d.k, a, d.lda, 1, b, ldb, acc);
}

// Rows [i, i + R) of C.
template <i64 R>
void direct_rows(const Direct& d, i64 i) {
  const double* a = d.a + (d.trans_a ? i : i * d.lda);
  double* c = d.c + i * d.ldc;
  i64 j = 0;
  for (; j + kNR <= d.n; j += kNR) {
    v8d acc[R][kNV] = {};
    direct_product<R, kNV>(d, a, d.b + j, d.ldb, acc);
    store_tile<R, kNV>(acc, d.alpha, d.beta, c + j, d.ldc);
  }
  if (kNV > 1 && j + kLanes <= d.n) {
    v8d acc[R][1] = {};
    direct_product<R, 1>(d, a, d.b + j, d.ldb, acc);
    store_tile<R, 1>(acc, d.alpha, d.beta, c + j, d.ldc);
    j += kLanes;
  }
  if (j < d.n) {
    v8d acc[R][1] = {};
    direct_product<R, 1>(d, a, d.b_tail, d.ld_tail, acc);
    store_edge<R, 1>(acc, d.alpha, d.beta, c + j, d.ldc, R, d.n - j);
  }
}

// Rows [i, m): blocks of R, then the remainder in blocks of R/2, R/4, ... (so m = 2 runs one
// 2-row tile rather than two 1-row tiles with half the independent FMA chains each).
template <i64 R>
void direct_blocks(const Direct& d, i64 i, i64 m) {
  for (; i + R <= m; i += R) direct_rows<R>(d, i);
  if constexpr (R > 1)
    if (i < m) direct_blocks<R / 2>(d, i, m);
}

// dst[p*ld + j] = src[j*lds + p] for p < k, j < n, zero for n <= j < ld (ld is a multiple of 8).
// Eight source rows at a time: each p then writes one contiguous 8-wide vector while reading
// eight sequential streams, instead of touching n rows (and as many pages) per p.
void transpose_padded(i64 k, i64 n, const double* __restrict src, i64 lds, double* __restrict dst, i64 ld) {
  for (i64 j = 0; j < ld; j += kLanes) {
    const i64 nj = std::min(kLanes, n - j);
    for (i64 p = 0; p < k; ++p)
      for (i64 jj = 0; jj < kLanes; ++jj) dst[p * ld + j + jj] = jj < nj ? src[(j + jj) * lds + p] : 0.0;
  }
}

void gemm_direct(bool trans_a, bool trans_b, i64 m, i64 n, i64 k, double alpha, const double* a, i64 lda,
                 const double* b, i64 ldb, double beta, double* c, i64 ldc) {
  Direct d{n, k, alpha, beta, trans_a, a, lda, b, ldb, nullptr, 0, c, ldc};
  const i64 n_full = n / kLanes * kLanes, n_tail = n - n_full;
  if (trans_b) {  // the tiles need contiguous rows of op(B)
    const i64 ld = round_up(n, kLanes);
    double* bt = tl_pack_b.get(k * ld);
    transpose_padded(k, n, b, ldb, bt, ld);
    d.b = bt;
    d.ldb = d.ld_tail = ld;
    d.b_tail = bt + n_full;
  } else if (n_tail > 0) {
    double* tail = tl_pack_b.get(k * kLanes);
    for (i64 p = 0; p < k; ++p)
      for (i64 j = 0; j < kLanes; ++j) tail[p * kLanes + j] = j < n_tail ? b[p * ldb + n_full + j] : 0.0;
    d.b_tail = tail;
    d.ld_tail = kLanes;
  }
  direct_blocks<kMR>(d, 0, m);
}

// ---------------------------------------------------------------------------------------------
// Narrow path, n < 8 (the MLP's 16 -> 1 output layer and its gradient): a tile along n would use
// n of its 8 lanes, so vectorise along p (dot products) or, for A^T, along the contiguous i.

// out = the eight horizontal sums of v[0..7], by a transpose-and-add tree: 14 shuffles and 7 adds,
// where eight separate reductions cost ~15 instructions each. (Vectors go by reference here and
// below: by value, a 64-byte vector changes the calling convention without AVX-512, -Wpsabi.)
void hsum8(const v8d (&v)[kLanes], v8d& out) {
  v8d w[4], x[2];
  for (int i = 0; i < 4; ++i)  // w[i] = pairwise sums of v[2i] and v[2i+1], interleaved
    w[i] = __builtin_shufflevector(v[2 * i], v[2 * i + 1], 0, 8, 2, 10, 4, 12, 6, 14) +
           __builtin_shufflevector(v[2 * i], v[2 * i + 1], 1, 9, 3, 11, 5, 13, 7, 15);
  for (int i = 0; i < 2; ++i)  // x[i] = sums of 4 lanes of v[4i..4i+3], low then high halves
    x[i] = __builtin_shufflevector(w[2 * i], w[2 * i + 1], 0, 1, 8, 9, 4, 5, 12, 13) +
           __builtin_shufflevector(w[2 * i], w[2 * i + 1], 2, 3, 10, 11, 6, 7, 14, 15);
  out = __builtin_shufflevector(x[0], x[1], 0, 1, 2, 3, 8, 9, 10, 11) +
        __builtin_shufflevector(x[0], x[1], 4, 5, 6, 7, 12, 13, 14, 15);
}

void gemm_narrow(bool trans_a, bool trans_b, i64 m, i64 n, i64 k, double alpha, const double* a, i64 lda,
                 const double* b, i64 ldb, double beta, double* c, i64 ldc) {
  double* bt = tl_pack_b.get(n * k);  // columns of op(B) as contiguous rows: at most 7k doubles
  for (i64 j = 0; j < n; ++j)
    for (i64 p = 0; p < k; ++p) bt[j * k + p] = trans_b ? b[j * ldb + p] : b[p * ldb + j];
  auto put = [&](i64 i, i64 j, double v) {
    double& dst = c[i * ldc + j];
    dst = beta == 0.0 ? alpha * v : alpha * v + beta * dst;
  };
  i64 i = 0;
  if (trans_a) {  // op(A) rows i..i+7 at step p are a[p*lda + i ..]: one contiguous vector
    for (; i + kLanes <= m; i += kLanes)
      for (i64 j = 0; j < n; ++j) {
        const double* x = bt + j * k;
        v8d acc[4] = {};  // four chains over p: FMA latency, not throughput, is the limit
        for (i64 p = 0; p < k; p += 4)
#pragma GCC unroll 4
          for (i64 q = 0; q < std::min<i64>(4, k - p); ++q) {
            v8d ap;
            std::memcpy(&ap, a + (p + q) * lda + i, sizeof(ap));
            acc[q] += ap * x[p + q];
          }
        const v8d t = (acc[0] + acc[1]) + (acc[2] + acc[3]);
        for (i64 r = 0; r < kLanes; ++r) put(i + r, j, t[r]);
      }
    for (; i < m; ++i)  // last m % 8 rows
      for (i64 j = 0; j < n; ++j) {
        double sum = 0.0;
        for (i64 p = 0; p < k; ++p) sum += a[p * lda + i] * bt[j * k + p];
        put(i, j, sum);
      }
  } else {  // eight dot products at a time, reduced together
    for (; i < m; i += kLanes) {
      const double* rows[kLanes];  // rows past m repeat row m-1; their sums are dropped
      for (i64 r = 0; r < kLanes; ++r) rows[r] = a + std::min(i + r, m - 1) * lda;
      for (i64 j = 0; j < n; ++j) {
        const double* x = bt + j * k;
        v8d acc[kLanes] = {};
        i64 p = 0;
        for (; p + kLanes <= k; p += kLanes) {
          v8d xv, av[kLanes];
          std::memcpy(&xv, x + p, sizeof(xv));
#pragma GCC unroll 8
          for (i64 r = 0; r < kLanes; ++r) {
            std::memcpy(&av[r], rows[r] + p, sizeof(xv));
            acc[r] += av[r] * xv;
          }
        }
        v8d sum;
        hsum8(acc, sum);
        for (; p < k; ++p)
          for (i64 r = 0; r < kLanes; ++r) sum[r] += rows[r][p] * x[p];
        for (i64 r = 0; r < std::min(kLanes, m - i); ++r) put(i + r, j, sum[r]);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Dot path, C = A B^T with a long k and a small C (a convolution's weight gradient: out x taps,
// summed over every output position of the batch). Both operands are read along their contiguous
// rows, so nothing is copied; the direct path would first transpose all of B (k x n, the whole
// unfolded batch) into scratch. RA x RB dot products at a time share their loads.

template <int RA, int RB>
void dot_block(i64 k, double alpha, const double* a, i64 lda, const double* b, i64 ldb, double beta,
               double* c, i64 ldc) {
  v8d acc[RA][RB] = {};
  i64 p = 0;
  for (; p + kLanes <= k; p += kLanes) {
    v8d av[RA], bv[RB];
    for (int r = 0; r < RA; ++r) std::memcpy(&av[r], a + r * lda + p, sizeof(v8d));
    for (int s = 0; s < RB; ++s) std::memcpy(&bv[s], b + s * ldb + p, sizeof(v8d));
    for (int r = 0; r < RA; ++r)
      for (int s = 0; s < RB; ++s) acc[r][s] += av[r] * bv[s];
  }
  for (int r = 0; r < RA; ++r)
    for (int s = 0; s < RB; ++s) {
      double sum = 0.0;
      for (i64 l = 0; l < kLanes; ++l) sum += acc[r][s][l];
      for (i64 q = p; q < k; ++q) sum += a[r * lda + q] * b[s * ldb + q];
      double& dst = c[r * ldc + s];
      dst = beta == 0.0 ? alpha * sum : alpha * sum + beta * dst;
    }
}

void gemm_dots(i64 m, i64 n, i64 k, double alpha, const double* a, i64 lda, const double* b, i64 ldb,
               double beta, double* c, i64 ldc) {
  for (i64 i = 0; i < m; i += 2) {
    const bool two = i + 1 < m;
    const double* ai = a + i * lda;
    double* ci = c + i * ldc;
    i64 j = 0;
    for (; j + 4 <= n; j += 4) {
      if (two)
        dot_block<2, 4>(k, alpha, ai, lda, b + j * ldb, ldb, beta, ci + j, ldc);
      else
        dot_block<1, 4>(k, alpha, ai, lda, b + j * ldb, ldb, beta, ci + j, ldc);
    }
    for (; j < n; ++j) {
      if (two)
        dot_block<2, 1>(k, alpha, ai, lda, b + j * ldb, ldb, beta, ci + j, ldc);
      else
        dot_block<1, 1>(k, alpha, ai, lda, b + j * ldb, ldb, beta, ci + j, ldc);
    }
  }
}

// When the dot path runs: C small (at most 64 x 64) and k long enough (>= 8 max(m, n)) that
// transposing B, k x n, would cost about as much as the products themselves.
bool use_dots(bool trans_a, bool trans_b, i64 m, i64 n, i64 k) {
  return !trans_a && trans_b && m <= 64 && n <= 64 && k >= 256 && k >= 8 * std::max(m, n);
}

}  // namespace

void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
          const double* a, std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c,
          std::int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0) return scale_c(m, n, beta, c, ldc);
  if (use_dots(trans_a, trans_b, m, n, k))
    gemm_dots(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else if (n < kLanes)
    gemm_narrow(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else if (static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) <= kDirectMaxMacs)
    gemm_direct(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else
    gemm_packed(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace pk::ad::detail
