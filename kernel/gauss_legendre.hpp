#pragma once
// Gauss-Legendre quadrature on [0, 1], for integrals along one training step.

#include <vector>

namespace pk::kernel {

/// Nodes t_i in (0, 1) and weights w_i of the n-point Gauss-Legendre rule on [0, 1]: exact for
/// polynomials of degree up to 2n - 1. Nodes are found by Newton's method on the Legendre
/// polynomial P_n, accurate to rounding for any n.
struct GaussLegendre {
  std::vector<double> nodes;
  std::vector<double> weights;
};

/// The n-point rule (n >= 1); throws std::invalid_argument otherwise.
GaussLegendre gauss_legendre(int n);

}  // namespace pk::kernel
