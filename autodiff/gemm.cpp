// Dense float64 GEMM, row-major. Large products follow the BLIS/Goto structure: op(B) and op(A)
// are copied ("packed") into contiguous, zero-padded panels sized for the caches, so that the
// inner register-blocked micro-kernel streams unit-stride, aligned data regardless of the
// transposes or leading dimensions. Small products skip packing and use a direct loop.
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

// Register tile MR x NR (NR = kNV vectors). The accumulators must all live in registers, leaving
// a few for the B vectors and the A broadcast:
//  - AVX-512 (32 zmm): 12 x 16 -> 24 accumulators + 2 B + 1 broadcast. Each k step issues 24
//    FMAs for 2 loads and 12 broadcasts, enough independent chains to cover FMA latency.
//  - AVX/AVX2 (16 ymm, v8d = 2 ymm): 6 x 8 -> 12 accumulators + 2 B + 1 broadcast.
//  - SSE2 (16 xmm, v8d = 4 xmm): 2 x 8 -> 8 accumulators + 4 B + 1 broadcast.
// The direct path (small products, no packing) uses kDirectRows x NR tiles: a power of two so
// that the batch-32 / width-16 MLP shapes split evenly, and smaller than kMR because those loops
// are short (k ~ 16) and a ragged last row block costs proportionally more.
#if defined(__AVX512F__)
constexpr i64 kMR = 8, kNV = 2, kDirectRows = 8;
#elif defined(__AVX__)
constexpr i64 kMR = 6, kNV = 1, kDirectRows = 4;
#else
constexpr i64 kMR = 2, kNV = 1, kDirectRows = 2;
#endif
constexpr i64 kNR = kNV * kLanes;

// Cache blocking (per core on the target: 48 KiB L1d, 1 MiB L2, shared L3):
//  - kKC: the kc x NR B micro-panel (kKC*16*8 = 24 KiB) is reused by every A micro-panel of a
//    block, so it must stay in L1 next to the streaming A micro-panel (12*kKC*8 = 18 KiB).
//  - kMC: the packed mc x kc A block (kMC*kKC*8 = 288 KiB) stays in L2 while the kernel sweeps
//    all NR columns of the packed B block over it. A multiple of kMR so only the last block has
//    a row edge.
//  - kNC: the packed kc x nc B block (kKC*kNC*8 = 6 MiB) lives in L3 and bounds scratch size.
constexpr i64 kKC = 256;
constexpr i64 kMC = 16 * kMR;
constexpr i64 kNC = 4096;
static_assert(kMC % kMR == 0 && kNC % kNR == 0);

// Below this many multiply-adds packing costs more than it saves (measured with
// bench/gemm_bench.cpp); the direct loop covers the MLP-sized products of the library.
constexpr i64 kDirectMaxMacs = 48 * 48 * 48;

constexpr std::size_t kAlign = 64;  // one cache line, and the natural alignment of a v8d

// Packing scratch is thread_local so that concurrent callers never share it: the kernel stays
// re-entrant across threads without locks. It only ever grows (bounded by kMC*kKC and
// kKC*kNC doubles), so after the first calls of a given size there is no heap traffic.
class Scratch {
public:
    double* get(i64 count) {
        const std::size_t need = static_cast<std::size_t>(count) + kAlign / sizeof(double);
        if (storage_.size() < need) storage_.resize(need);
        void* p = storage_.data();
        std::size_t space = storage_.size() * sizeof(double);
        return static_cast<double*>(std::align(kAlign, static_cast<std::size_t>(count) * sizeof(double), p, space));
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
[[gnu::always_inline]] inline void tile_product(i64 k, const double* a, i64 a_rs, i64 a_cs, const double* b, i64 ldb,
                                                v8d (&acc)[R][V]) {
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
[[gnu::always_inline]] inline void store_tile(const v8d (&acc)[R][V], double alpha, double beta, double* c, i64 ldc) {
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

// op(A)[0:mc, 0:kc] -> ceil(mc/MR) panels, each kc steps of MR values, rows past mc zeroed.
void pack_a(const double* a, i64 rs, i64 cs, i64 mc, i64 kc, double* dst) {
    for (i64 i = 0; i < mc; i += kMR, dst += kMR * kc) {
        const i64 mr = std::min(kMR, mc - i);
        if (cs == 1) {  // read along the contiguous k direction, scatter by kMR
            for (i64 r = 0; r < mr; ++r)
                for (i64 p = 0; p < kc; ++p) dst[p * kMR + r] = a[(i + r) * rs + p];
        } else {
            for (i64 p = 0; p < kc; ++p)
                for (i64 r = 0; r < mr; ++r) dst[p * kMR + r] = a[(i + r) * rs + p * cs];
        }
        for (i64 r = mr; r < kMR; ++r)
            for (i64 p = 0; p < kc; ++p) dst[p * kMR + r] = 0.0;
    }
}

// op(B)[0:kc, 0:nc] -> ceil(nc/NR) panels, each kc rows of NR values, columns past nc zeroed.
void pack_b(const double* b, i64 rs, i64 cs, i64 kc, i64 nc, double* dst) {
    for (i64 j = 0; j < nc; j += kNR, dst += kNR * kc) {
        const i64 nr = std::min(kNR, nc - j);
        if (cs == 1 && nr == kNR) {  // the common case is a plain row copy; keep it a memcpy
            for (i64 p = 0; p < kc; ++p) std::memcpy(dst + p * kNR, b + p * rs + j, sizeof(double) * kNR);
            continue;
        }
        for (i64 p = 0; p < kc; ++p) {
            const double* src = b + p * rs + j * cs;
            for (i64 col = 0; col < kNR; ++col) dst[p * kNR + col] = col < nr ? src[col * cs] : 0.0;
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
            pack_b(b + pc * b_rs + jc * b_cs, b_rs, b_cs, kc, nc, bpack);
            const double beta_k = pc == 0 ? beta : 1.0;  // later k blocks accumulate
            for (i64 ic = 0; ic < m; ic += mc_max) {
                const i64 mc = std::min(mc_max, m - ic);
                pack_a(a + ic * a_rs + pc * a_cs, a_rs, a_cs, mc, kc, apack);
                // jr outside ir: one B micro-panel stays in L1 while A micro-panels stream from L2.
                for (i64 jr = 0; jr < nc; jr += kNR)
                    for (i64 ir = 0; ir < mc; ir += kMR)
                        micro_kernel(kc, apack + ir * kc, bpack + jr * kc, alpha, beta_k,
                                     c + (ic + ir) * ldc + jc + jr, ldc, std::min(kMR, mc - ir),
                                     std::min(kNR, nc - jr));
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
    const double* a;  // op(A)(i, p) = a[i*a_rs + p*a_cs]
    i64 a_rs, a_cs;
    const double* b;  // op(B) with contiguous rows, used for its first n - n % 8 columns
    i64 ldb;
    const double* b_tail;  // the last n % 8 columns of op(B), zero-padded to 8
    i64 ld_tail;
    double* c;
    i64 ldc;
};

// Rows [i, i + R) of C.
template <i64 R>
void direct_rows(const Direct& d, i64 i) {
    const double* a = d.a + i * d.a_rs;
    double* c = d.c + i * d.ldc;
    i64 j = 0;
    for (; j + kNR <= d.n; j += kNR) {
        v8d acc[R][kNV] = {};
        tile_product<R, kNV>(d.k, a, d.a_rs, d.a_cs, d.b + j, d.ldb, acc);
        store_tile<R, kNV>(acc, d.alpha, d.beta, c + j, d.ldc);
    }
    if (kNV > 1 && j + kLanes <= d.n) {
        v8d acc[R][1] = {};
        tile_product<R, 1>(d.k, a, d.a_rs, d.a_cs, d.b + j, d.ldb, acc);
        store_tile<R, 1>(acc, d.alpha, d.beta, c + j, d.ldc);
        j += kLanes;
    }
    if (j < d.n) {
        v8d acc[R][1] = {};
        tile_product<R, 1>(d.k, a, d.a_rs, d.a_cs, d.b_tail, d.ld_tail, acc);
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

// dst[p*ld + j] = src[j*lds + p] for p < k, j < n, zero for n <= j < ld. Unit-stride writes and
// restrict pointers let the compiler vectorise this; it is the only O(k*n) step of the path.
void transpose_padded(i64 k, i64 n, const double* __restrict src, i64 lds, double* __restrict dst, i64 ld) {
    for (i64 p = 0; p < k; ++p) {
        for (i64 j = 0; j < n; ++j) dst[p * ld + j] = src[j * lds + p];
        for (i64 j = n; j < ld; ++j) dst[p * ld + j] = 0.0;
    }
}

void gemm_direct(bool trans_a, bool trans_b, i64 m, i64 n, i64 k, double alpha, const double* a, i64 lda,
                 const double* b, i64 ldb, double beta, double* c, i64 ldc) {
    Direct d{n, k, alpha, beta, a, trans_a ? 1 : lda, trans_a ? lda : 1, b, ldb, nullptr, 0, c, ldc};
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
    direct_blocks<kDirectRows>(d, 0, m);
}

}  // namespace

void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
          const double* a, std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c,
          std::int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0.0) return scale_c(m, n, beta, c, ldc);
    if (m * n * k <= kDirectMaxMacs)
        gemm_direct(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    else
        gemm_packed(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace pk::ad::detail
