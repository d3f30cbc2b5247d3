#pragma once
// Seeded synthetic problems. Each is a pure function of its arguments: the same seed gives the
// same bits on every platform (nn/random.hpp, nn/deterministic_math.hpp).

#include <cstdint>

#include "nn/dataset.hpp"
#include "nn/model.hpp"

namespace pk::nn {

/// 1-D regression: x ~ U[-pi, pi), y = sin x + noise * N(0, 1). Columns "x" and "y".
Dataset sine_regression(std::int64_t n, std::uint64_t seed, double noise = 0.0);

/// 2-D two moons as scikit-learn's make_moons draws them: ceil(n/2) points of the upper moon
/// (cos t, sin t), then floor(n/2) of the lower (1 - cos t, 1/2 - sin t), t evenly spaced over
/// [0, pi], each coordinate plus noise * N(0, 1). Columns "x0", "x1" and "label" (0 upper, 1 lower).
Dataset two_moons(std::int64_t n, std::uint64_t seed, double noise = 0.1);

/// 2-D interleaved spirals of `classes` arms, n points dealt to the arms in turn. Point i of an
/// arm of p points sits at radius r = (i + 1) / p and angle 2 pi (arm / classes + turns r), each
/// coordinate plus noise * N(0, 1). Columns "x0", "x1" and "label" (the arm, 0 ... classes-1).
Dataset spirals(std::int64_t n, std::uint64_t seed, double noise = 0.02, std::int64_t classes = 2,
                double turns = 1.0);

/// 2-D XOR: point i near corner i mod 4 of (-1, -1), (-1, 1), (1, -1), (1, 1), each coordinate
/// plus noise * N(0, 1); label 1 where the corner's signs differ, else 0. Columns "x0", "x1",
/// "label".
Dataset xor_problem(std::int64_t n, std::uint64_t seed, double noise = 0.1);

/// A 1-D problem whose training loss, as a function of its single weight, is a tilted double
/// well: two basins separated by a barrier, one deeper than the other (the picture of a local
/// minimum). Inputs x_m = (2m - (n-1)) / (n-1), m = 0 ... n-1, an exactly symmetric grid on
/// [-1, 1]; targets y_m = x_m + tilt x_m^2; the model f(x; w) = w^2 x + w x^2 (D = 1, named
/// "double_well"). With mu_p = mean x^p and the odd moments zero, the MSE training loss is
///
///   L(w) = mu2/2 (w^2 - 1)^2 + mu4/2 (w - tilt)^2
///
/// whose three stationary points are the roots of 2 mu2 w (w^2 - 1) + mu4 (w - tilt).
struct DoubleWell {
  Dataset data;
  Model model;
  double tilt = 0.0;
  double mu2 = 0.0;             // mean x^2 over the grid
  double mu4 = 0.0;             // mean x^4 over the grid
  double global_minimum = 0.0;  // the deeper basin's minimiser (the positive one for tilt > 0)
  double local_minimum = 0.0;   // the shallower basin's
  double barrier = 0.0;         // the maximum between them
  /// L(w) in closed form (equal to the trained MSE loss up to rounding).
  double loss(double w) const;
  /// dL/dw in closed form.
  double gradient(double w) const;
};

/// The double-well problem on n >= 3 grid points (n odd keeps x = 0 in the grid). Throws
/// SpecError when `tilt` is so large that one basin vanishes.
DoubleWell double_well(std::int64_t n = 41, double tilt = 0.25);

}  // namespace pk::nn
