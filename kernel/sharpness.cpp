#include "kernel/sharpness.hpp"
#include "autodiff/functional.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace pk::kernel {

using pk::ad::Tensor;

double largest_tridiagonal_eigenvalue(const double* alpha, const double* beta, int n) {
  // Gershgorin bounds the spectrum; bisection on the count of eigenvalues above a shift.
  double lo = alpha[0], hi = alpha[0];
  for (int i = 0; i < n; ++i) {
    const double r = (i > 0 ? std::abs(beta[i - 1]) : 0.0) + (i + 1 < n ? std::abs(beta[i]) : 0.0);
    lo = std::min(lo, alpha[i] - r);
    hi = std::max(hi, alpha[i] + r);
  }
  // Number of eigenvalues below x: sign changes of the LDL^T pivots of T - x I.
  auto count_below = [&](double x) {
    int count = 0;
    double d = 1.0;
    for (int i = 0; i < n; ++i) {
      const double b2 = i > 0 ? beta[i - 1] * beta[i - 1] : 0.0;
      d = alpha[i] - x - (i > 0 ? b2 / d : 0.0);
      if (d == 0.0) d = -1e-300;  // a zero pivot counts as negative, as a tiny shift would
      if (d < 0.0) ++count;
    }
    return count;
  };
  for (int iter = 0; iter < 200 && hi - lo > 1e-15 * std::max(std::abs(lo), std::abs(hi)); ++iter) {
    const double mid = 0.5 * (lo + hi);
    if (count_below(mid) >= n)
      hi = mid;  // every eigenvalue is below mid
    else
      lo = mid;
  }
  return 0.5 * (lo + hi);
}

namespace {
// The unit eigenvector of the tridiagonal T (diagonal alpha, off-diagonal beta) for its eigenvalue
// lambda, by inverse iteration with a dense pivoted solve (T is at most the Lanczos steps wide).
std::vector<double> tridiagonal_eigenvector(const std::vector<double>& alpha, const std::vector<double>& beta,
                                            double lambda) {
  const auto n = alpha.size();
  std::vector<double> x(n, 1.0);
  const double shift = lambda + 1e-10 * std::max(1.0, std::abs(lambda));
  for (int iteration = 0; iteration < 3; ++iteration) {
    std::vector<double> a(n * n, 0.0), b = x;
    for (std::size_t i = 0; i < n; ++i) {
      a[i * n + i] = alpha[i] - shift;
      if (i + 1 < n) a[i * n + i + 1] = a[(i + 1) * n + i] = beta[i];
    }
    for (std::size_t c = 0; c < n; ++c) {
      std::size_t p = c;
      for (std::size_t r = c + 1; r < n; ++r)
        if (std::abs(a[r * n + c]) > std::abs(a[p * n + c])) p = r;
      if (p != c) {
        for (std::size_t j = 0; j < n; ++j) std::swap(a[c * n + j], a[p * n + j]);
        std::swap(b[c], b[p]);
      }
      if (a[c * n + c] == 0.0) a[c * n + c] = 1e-300;  // exactly singular: any tiny pivot will do
      for (std::size_t r = c + 1; r < n; ++r) {
        const double m = a[r * n + c] / a[c * n + c];
        for (std::size_t j = c; j < n; ++j) a[r * n + j] -= m * a[c * n + j];
        b[r] -= m * b[c];
      }
    }
    for (std::size_t i = n; i-- > 0;) {
      double v = b[i];
      for (std::size_t j = i + 1; j < n; ++j) v -= a[i * n + j] * x[j];
      x[i] = v / a[i * n + i];
    }
    double norm = 0.0;
    for (double v : x) norm += v * v;
    norm = std::sqrt(norm);
    if (!(norm > 0) || !std::isfinite(norm)) break;
    for (double& v : x) v /= norm;
  }
  return x;
}
}  // namespace

Sharpness sharpness(pk::ad::Function loss, const Tensor& w, int max_iterations, double tolerance,
                    std::uint64_t seed, pk::ad::Tape* workspace) {
  const std::int64_t d = w.size();
  const int steps = static_cast<int>(std::min<std::int64_t>(max_iterations, d));
  pk::ad::Tape own;
  pk::ad::Tape& tape = workspace ? *workspace : own;

  std::vector<Tensor> basis;
  basis.reserve(static_cast<std::size_t>(steps));
  Tensor q(w.shape());
  std::uint64_t s = seed;
  for (std::int64_t i = 0; i < d; ++i) {  // SplitMix64: the same start on every platform
    s += 0x9E3779B97F4A7C15ULL;
    std::uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    q[i] = static_cast<double>((z ^ (z >> 31)) >> 11) * 0x1.0p-53 - 0.5;
  }
  auto dot = [d](const Tensor& a, const Tensor& b) {
    double r = 0.0;
    for (std::int64_t i = 0; i < d; ++i) r += a[i] * b[i];
    return r;
  };
  const double q_norm = std::sqrt(dot(q, q));
  for (double& v : q.span()) v /= q_norm;

  std::vector<double> alpha, beta;
  Sharpness result;
  double previous = 0.0;
  for (int k = 0; k < steps; ++k) {
    basis.push_back(q);
    Tensor r = pk::ad::hvp(loss, w, q, nullptr, pk::ad::HvpMethod::forward_over_reverse, &tape);
    alpha.push_back(dot(q, r));
    // Full reorthogonalisation (twice is enough): without it Lanczos loses orthogonality and
    // reports copies of the top eigenvalue, harmless here but it slows convergence.
    for (int pass = 0; pass < 2; ++pass)
      for (const Tensor& b : basis) {
        const double c = dot(b, r);
        for (std::int64_t i = 0; i < d; ++i) r[i] -= c * b[i];
      }
    const double top = largest_tridiagonal_eigenvalue(alpha.data(), beta.data(), k + 1);
    result = {top, k + 1, std::abs(top - previous)};
    const double norm = std::sqrt(dot(r, r));
    if ((k > 0 && result.change <= tolerance * std::max(1.0, std::abs(top))) ||
        norm <= 1e-14 * std::max(1.0, std::abs(top)))
      break;
    previous = top;
    beta.push_back(norm);
    for (std::int64_t i = 0; i < d; ++i) q[i] = r[i] / norm;
  }
  if (basis.empty()) return result;
  // The Ritz vector of lambda_max in the Krylov basis, and its residual measured directly (not
  // from the recurrence, which assumes an orthogonality that rounding erodes).
  const std::vector<double> y = tridiagonal_eigenvector(alpha, beta, result.lambda_max);
  Tensor v(w.shape(), 0.0);
  for (std::size_t j = 0; j < y.size() && j < basis.size(); ++j)
    for (std::int64_t i = 0; i < d; ++i) v[i] += y[j] * basis[j][i];
  const double v_norm = std::sqrt(dot(v, v));
  if (!(v_norm > 0)) return result;
  for (double& x : v.span()) x /= v_norm;
  const Tensor hv = pk::ad::hvp(loss, w, v, nullptr, pk::ad::HvpMethod::forward_over_reverse, &tape);
  double residual = 0.0;
  for (std::int64_t i = 0; i < d; ++i) {
    const double e = hv[i] - result.lambda_max * v[i];
    residual += e * e;
  }
  result.residual = std::sqrt(residual);
  return result;
}

}  // namespace pk::kernel
