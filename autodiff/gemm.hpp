#pragma once
#include <cstdint>

namespace pk::ad::detail {

/// C (m x n) = alpha * op(A) * op(B) + beta * C for row-major storage, where op(X) is X or X^T.
/// A is m x k (or k x m when trans_a) with leading dimension lda; B is k x n (or n x k when trans_b) with
/// ldb. When beta == 0, C is not read (so NaN or garbage in C does not propagate). As in BLAS, A and B are
/// not read when alpha == 0 or k == 0. C must not overlap A or B. Single-threaded, and safe to call from
/// several threads at once (its scratch is thread_local).
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
          const double* a, std::int64_t lda, const double* b, std::int64_t ldb, double beta, double* c,
          std::int64_t ldc);

}  // namespace pk::ad::detail
