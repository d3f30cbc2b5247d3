#pragma once
// Finite-difference checks of derivatives, for users' own functions as much as for ours.

#include <cstdint>

#include "autodiff/functional.hpp"

namespace pk::ad {

/// The outcome of comparing derivatives with central finite differences. The error of one
/// component is |analytic - numeric| / max(1, |numeric|): relative for large values, absolute
/// near zero, where a relative error means nothing.
struct DerivativeCheck {
  double max_error = 0.0;   // the worst component's error
  std::int64_t worst = -1;  // its index in the flattened result (-1 when there are none)
  double analytic = 0.0;    // the derivative there by automatic differentiation
  double numeric = 0.0;     // and by finite differences
  bool passed(double tolerance) const { return max_error <= tolerance; }
};

/// Compares `grad(f, w)` with central differences (f(w + h e_i) - f(w - h e_i)) / 2h, where
/// h = step * max(1, |w_i|).
DerivativeCheck check_gradient(Function f, TensorView w, double step = 1e-6);

/// Compares the forward-over-reverse `hvp(f, w, v)` with central differences of the gradient
/// along v, (grad f(w + h v) - grad f(w - h v)) / 2h, h = step / max(1, |v|_inf).
DerivativeCheck check_hvp(Function f, TensorView w, TensorView v, double step = 1e-5);

}  // namespace pk::ad
