#include "autodiff/check.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "autodiff/error.hpp"

namespace pk::ad {

namespace {
void compare(DerivativeCheck& r, std::int64_t i, double analytic, double numeric) {
  double err = std::abs(analytic - numeric) / std::max(1.0, std::abs(numeric));
  if (std::isnan(err)) err = std::numeric_limits<double>::infinity();  // NaN is a failure
  if (r.worst < 0 || err > r.max_error) {
    r.max_error = err;
    r.worst = i;
    r.analytic = analytic;
    r.numeric = numeric;
  }
}
}  // namespace

DerivativeCheck check_gradient(Function f, TensorView w, double step) {
  Tape tape;
  const Tensor g = grad(f, w, &tape);
  DerivativeCheck r;
  Tensor x(w);
  for (std::int64_t i = 0; i < w.size(); ++i) {
    const double h = step * std::max(1.0, std::abs(w[i]));
    x[i] = w[i] + h;
    const double up = value(f, x, &tape);
    x[i] = w[i] - h;
    const double down = value(f, x, &tape);
    x[i] = w[i];
    compare(r, i, g[i], (up - down) / (2.0 * h));
  }
  return r;
}

DerivativeCheck check_hvp(Function f, TensorView w, TensorView v, double step) {
  if (w.shape() != v.shape())
    throw ShapeError("check_hvp: direction of shape " + v.shape().str() + " for a point of shape " +
                     w.shape().str());
  Tape tape;
  const Tensor hv = hvp(f, w, v, nullptr, HvpMethod::forward_over_reverse, &tape);
  double vmax = 0.0;
  for (std::int64_t i = 0; i < v.size(); ++i) vmax = std::max(vmax, std::abs(v[i]));
  const double h = step / std::max(1.0, vmax);
  Tensor up(w), down(w);
  for (std::int64_t i = 0; i < w.size(); ++i) {
    up[i] += h * v[i];
    down[i] -= h * v[i];
  }
  const Tensor gu = grad(f, up, &tape);
  const Tensor gd = grad(f, down, &tape);
  DerivativeCheck r;
  for (std::int64_t i = 0; i < w.size(); ++i) compare(r, i, hv[i], (gu[i] - gd[i]) / (2.0 * h));
  return r;
}

}  // namespace pk::ad
