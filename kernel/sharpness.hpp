#pragma once
// Sharpness: the largest eigenvalue of a loss's Hessian, by Lanczos on Hessian-vector products.

#include <cstdint>

#include "autodiff/functional.hpp"
#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"

namespace pk::kernel {

/// The largest eigenvalue found, and how it was found.
struct Sharpness {
  double lambda_max = 0.0;  // largest (algebraic) eigenvalue of the Hessian
  int iterations = 0;       // Lanczos steps taken (Hessian-vector products)
  double change = 0.0;      // |change| of the estimate over the last step (the convergence test)
  /// ||H v - lambda v|| for the unit Ritz vector v of lambda_max: how far the answer is from an
  /// eigenpair (one more Hessian-vector product measures it).
  double residual = 0.0;
};

/// Lanczos with full reorthogonalisation from a seeded random start, stopping when the largest
/// Ritz value changes by less than `tolerance` relative, after at most `max_iterations` HVPs
/// (or D, where the Krylov space is the whole space and the answer exact).
Sharpness sharpness(pk::ad::Function loss, const pk::ad::Tensor& w, int max_iterations = 60,
                    double tolerance = 1e-8, std::uint64_t seed = 0x5eed, pk::ad::Tape* workspace = nullptr);

/// The largest eigenvalue of the symmetric tridiagonal matrix with diagonal `alpha` (n) and
/// off-diagonal `beta` (n - 1), by Sturm-sequence bisection to rounding.
double largest_tridiagonal_eigenvalue(const double* alpha, const double* beta, int n);

}  // namespace pk::kernel
