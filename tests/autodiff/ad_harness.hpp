#pragma once
// expect_ad: the one harness every derivative test goes through, after Stan Math's expect_ad.
// A test hands it a function of one recorded tensor, f: Var -> Var, and a point w; the harness
// runs f through every derivative mode the library has and checks each against the others and
// against finite differences. A multi-input op is tested by packing its operands into one flat
// vector and cutting them out again inside f (`pack` / `unpack`).
//
// A non-scalar f is reduced to s(w) = sum(f(w) * r), r a fixed random tensor of f's output shape
// with no element near zero, so every output element's derivative is checked. r also multiplies
// scalar outputs: a backward rule that ignored its incoming adjoint would be invisible behind a
// seed of exactly 1.
//
// What is checked, each failure naming the function, the point and the worst element:
//   a. value: f's recorded value is the same whether its input is a constant, a variable or a
//      variable carrying a tangent, and equals `reference` (plain double arithmetic) if given;
//   b. gradient: grad(s) against central finite differences of s; vjp(f, r) and r^T jacobian(f)
//      against grad(s);
//   c. second derivatives: hessian(s) (double backward) against central differences of grad(s),
//      and its symmetry;
//   d. forward mode: jvp(f, v) against jacobian(f) v and against finite differences of f along v;
//      jvp(s, v) against grad(s) . v;
//   e. Hessian-vector products: forward-over-reverse against reverse-over-reverse (1e-10), both
//      against hessian(s) v and against central differences of grad(s) along v; the gradient
//      each hvp route returns against grad(s);
//   f. symmetry: u . (H v) = v . (H u) for random u, v;
//   g. exception parity: when plain evaluation of f throws, grad, hessian, jacobian, both hvp
//      routes, jvp and vjp throw the same kind of error; when it does not, none of them throws.
//
// Finite differences. A central difference with step h has truncation error h^2 |f'''| / 6 and
// rounding error about eps |f| / h (eps = 2.2e-16). The step is h_i = step * max(step_floor,
// |w_i|) with step = 1e-5 by default: both errors are then about 1e-11 relative for functions
// whose derivatives are O(1), near the optimum h ~ eps^(1/3). The default tolerances, 1e-6 on
// first and 1e-5 on second derivatives (where the differenced quantity is itself a computed
// gradient), leave three to four orders of margin for steeper functions, while a wrong rule is off
// by O(1). Each element's error is |analytic - numeric| / max(1, |numeric|): relative for large
// derivatives, absolute near zero, where a relative error means nothing. Two analytic routes that
// should agree to rounding are compared with `exact_tolerance`, relative to the largest element
// of either result, of the terms they were summed from where those are known (|H| |v| for an
// HVP), and 1: one route may cancel where the other does not, so a per-element relative error
// would flag rounding.
// Near a point where f's derivatives are large relative to 1 (log near 0), pass step_floor = 0
// so the steps scale with |w_i|. The caller keeps w away from points where f is not smooth; an
// edge-case test at such a point turns finite differences off and gives the derivatives it
// expects instead (`jacobian`, `hessian`).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "autodiff/autodiff.hpp"

namespace pk::ad::test {

// --- tensors in tests -----------------------------------------------------------------------

/// "(2, 3) [1, 2, ...]" with every element to 17 significant digits, so a printed point can be
/// pasted back into a test and reproduces the failure exactly.
inline std::string str(TensorView t) {
  std::string out = t.shape().str() + " [";
  char buf[32];
  for (std::int64_t i = 0; i < t.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.17g", i > 0 ? ", " : "", t[i]);
    out += buf;
  }
  return out + "]";
}

/// Where random elements are drawn: uniform on [lo, hi], redrawn while |x| < gap (a gap keeps
/// points away from a kink at 0 by more than any finite-difference step).
struct Domain {
  double lo = -2.0;
  double hi = 2.0;
  double gap = 0.0;
};

inline Tensor random_tensor(Shape shape, const Domain& d, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> dist(d.lo, d.hi);
  Tensor t(shape);
  for (std::int64_t i = 0; i < t.size(); ++i) {
    double x = dist(rng);
    while (std::abs(x) < d.gap) x = dist(rng);
    t[i] = x;
  }
  return t;
}

inline Tensor random_tensor(Shape shape, const Domain& d, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  return random_tensor(shape, d, rng);
}

/// The operands' elements one after another, as the flat vector the harness differentiates.
inline Tensor pack(std::span<const Tensor> parts) {
  std::vector<double> all;
  for (const Tensor& p : parts) all.insert(all.end(), p.span().begin(), p.span().end());
  return Tensor::vector(std::move(all));
}

/// The inverse of `pack` for plain tensors (for reference functions).
inline std::vector<Tensor> unpack(const Tensor& w, std::span<const Shape> shapes) {
  std::vector<Tensor> parts;
  std::int64_t at = 0;
  for (const Shape& s : shapes) {
    Tensor p(s);
    std::copy_n(w.data() + at, s.size(), p.data());
    at += s.size();
    parts.push_back(std::move(p));
  }
  return parts;
}

/// The inverse of `pack` on the tape: the operands as recorded slices of w, reshaped.
/// One operand of w's own shape is w itself, so single-input ops see a matrix point directly.
inline std::vector<Var> unpack(Var w, std::span<const Shape> shapes) {
  if (shapes.size() == 1 && shapes[0] == w.shape()) return {w};
  const Var flat = reshape(w, Shape::vector(w.size()));
  std::vector<Var> parts;
  std::int64_t at = 0;
  for (const Shape& s : shapes) {
    parts.push_back(reshape(slice(flat, at, at + s.size()), s));
    at += s.size();
  }
  return parts;
}

// --- the harness ------------------------------------------------------------------------------

/// f's value computed in plain double arithmetic, independently of the library.
using Reference = std::function<Tensor(const Tensor&)>;

struct AdOptions {
  /// Checked against f's value when given.
  Reference reference = {};
  /// Off at points where f is not smooth (edge-case tests); every check between analytic
  /// routes still runs.
  bool finite_differences = true;
  /// The Jacobian of f the test expects (C x D, C = size of f(w)); for edge cases.
  std::optional<Tensor> jacobian = std::nullopt;
  /// The Hessian of a scalar f the test expects (D x D); for edge cases.
  std::optional<Tensor> hessian = std::nullopt;
  /// h_i = step * max(step_floor, |w_i|); see the header comment.
  double step = 1e-5;
  double step_floor = 1.0;
  double gradient_tolerance = 1e-6;
  double hessian_tolerance = 1e-5;
  double value_tolerance = 1e-12;
  /// Between analytic routes that compute the same numbers in a different order.
  double exact_tolerance = 1e-10;
  /// Random directions v (and u) for jvp, hvp and the symmetry check.
  int directions = 2;
};

namespace detail {

inline std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

inline double max_abs(TensorView t) {
  double m = 0.0;
  for (std::int64_t i = 0; i < t.size(); ++i) m = std::max(m, std::abs(t[i]));
  return m;
}

inline double dot(TensorView a, TensorView b) {
  double s = 0.0;
  for (std::int64_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

/// sum_i |a_i b_i|: the size of the terms of a dot product, the scale of its rounding error.
inline double dot_magnitude(TensorView a, TensorView b) {
  double s = 0.0;
  for (std::int64_t i = 0; i < a.size(); ++i) s += std::abs(a[i] * b[i]);
  return s;
}

/// (rows x cols matrix m) times vector v, as a tensor of shape `out`.
inline Tensor matvec(const Tensor& m, TensorView v, Shape out) {
  Tensor r(out);
  const std::int64_t cols = v.size();
  for (std::int64_t i = 0; i < r.size(); ++i) {
    double s = 0.0;
    for (std::int64_t j = 0; j < cols; ++j) s += m[i * cols + j] * v[j];
    r[i] = s;
  }
  return r;
}

/// |m| v elementwise in absolute values: the scale of the rounding error of m v.
inline Tensor matvec_magnitude(const Tensor& m, TensorView v, Shape out) {
  Tensor r(out);
  const std::int64_t cols = v.size();
  for (std::int64_t i = 0; i < r.size(); ++i) {
    double s = 0.0;
    for (std::int64_t j = 0; j < cols; ++j) s += std::abs(m[i * cols + j] * v[j]);
    r[i] = s;
  }
  return r;
}

inline Tensor transposed(const Tensor& m) {
  const std::int64_t rows = m.shape().dim(0), cols = m.shape().dim(1);
  Tensor t(Shape::matrix(cols, rows));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) t(c, r) = m(r, c);
  return t;
}

/// Per-element error scale: max(1, |reference_i|), or for `normwise` one scale for every element
/// taken from the largest element of either tensor (and of `magnitude`, when given: the size of
/// the terms a result was summed from).
enum class Scale { elementwise, normwise };

/// Fails once, naming the worst element, when `got` and `want` disagree beyond `tolerance`.
/// Equal values agree (infinities included); NaN never agrees unless `nan_equal` and both are NaN.
inline void expect_near(std::string_view what, TensorView got, TensorView want, double tolerance, Scale scale,
                        const Tensor* magnitude = nullptr, bool nan_equal = false) {
  if (got.shape() != want.shape()) {
    ADD_FAILURE() << what << ": shape " << got.shape().str() << ", expected " << want.shape().str();
    return;
  }
  double norm = std::max({1.0, max_abs(got), max_abs(want)});
  if (magnitude) norm = std::max(norm, max_abs(*magnitude));
  double worst = 0.0;
  std::int64_t at = -1;
  for (std::int64_t i = 0; i < got.size(); ++i) {
    const double a = got[i], b = want[i];
    double err = 0.0;
    if (std::isnan(a) || std::isnan(b)) {
      err = nan_equal && std::isnan(a) && std::isnan(b) ? 0.0 : std::numeric_limits<double>::infinity();
    } else if (a != b) {
      const double s = scale == Scale::normwise ? norm : std::max(1.0, std::abs(b));
      err = std::abs(a - b) / s;
      if (std::isnan(err)) err = std::numeric_limits<double>::infinity();  // inf - inf
    }
    if (at < 0 || err > worst) {
      worst = err;
      at = i;
    }
  }
  if (at >= 0 && worst > tolerance) {
    ADD_FAILURE() << what << ": element " << at << " of " << got.shape().str() << " is "
                  << testing::PrintToString(got[at]) << ", expected " << testing::PrintToString(want[at])
                  << " (error " << worst << " > tolerance " << tolerance << ")\n  got:      " << str(got)
                  << "\n  expected: " << str(want);
  }
}

inline void expect_near(std::string_view what, double got, double want, double tolerance, double magnitude) {
  const Tensor g = Tensor::scalar(got), w = Tensor::scalar(want), m = Tensor::scalar(magnitude);
  expect_near(what, g, w, tolerance, Scale::normwise, &m);
}

/// What a call threw, if anything.
struct Outcome {
  bool threw = false;
  std::string kind;  // the most derived autodiff error class, or the std type
  std::string what;
};

inline std::string kind_of(const std::exception& e) {
  if (dynamic_cast<const ShapeError*>(&e)) return "pk::ad::ShapeError";
  if (dynamic_cast<const TapeError*>(&e)) return "pk::ad::TapeError";
  if (dynamic_cast<const GradError*>(&e)) return "pk::ad::GradError";
  if (dynamic_cast<const Error*>(&e)) return "pk::ad::Error";
  return typeid(e).name();
}

template <class Call>
Outcome attempt(Call&& call) {
  try {
    call();
    return {};
  } catch (const std::exception& e) {
    return {true, kind_of(e), e.what()};
  }
}

/// The scale of coordinate i for finite differences, max(step_floor, |w_i|) (1 where that is 0).
inline double coordinate_scale(const Tensor& w, std::int64_t i, const AdOptions& o) {
  const double s = std::max(o.step_floor, std::abs(w[i]));
  return s > 0.0 ? s : 1.0;
}

/// A random direction whose element i is proportional to coordinate i's scale, so that one step
/// along it, h = step * (largest scale), moves every coordinate by about step times its own
/// scale: with step_floor 0 no coordinate near 0 is stepped over, and none far from 0 is stepped
/// so little that rounding swamps the difference.
inline double largest_scale(const Tensor& w, const AdOptions& o) {
  double largest = 0.0;
  for (std::int64_t i = 0; i < w.size(); ++i) largest = std::max(largest, coordinate_scale(w, i, o));
  return largest;
}

inline Tensor random_direction(const Tensor& w, const AdOptions& o, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  const double largest = largest_scale(w, o);
  Tensor v(w.shape());
  for (std::int64_t i = 0; i < w.size(); ++i) v[i] = dist(rng) * coordinate_scale(w, i, o) / largest;
  return v;
}

/// Central differences of a tensor-valued g along each coordinate: column j of the result is
/// (g(w + h_j e_j) - g(w - h_j e_j)) / 2 h_j, flattened; the result is (size of g) x D.
template <class G>
Tensor difference_columns(G&& g, const Tensor& w, const AdOptions& o) {
  const std::int64_t d = w.size();
  Tensor x = w;
  Tensor out;
  for (std::int64_t j = 0; j < d; ++j) {
    const double h = o.step * coordinate_scale(w, j, o);
    x[j] = w[j] + h;
    const Tensor up = g(x);
    x[j] = w[j] - h;
    const Tensor down = g(x);
    x[j] = w[j];
    if (j == 0) out = Tensor(Shape::matrix(up.size(), d));
    for (std::int64_t i = 0; i < up.size(); ++i) out(i, j) = (up[i] - down[i]) / (2.0 * h);
  }
  return out;
}

/// Central difference of a tensor-valued g along v.
template <class G>
Tensor difference_along(G&& g, const Tensor& w, const Tensor& v, const AdOptions& o) {
  const double h = o.step * largest_scale(w, o);
  Tensor up = w, down = w;
  for (std::int64_t i = 0; i < w.size(); ++i) {
    up[i] += h * v[i];
    down[i] -= h * v[i];
  }
  const Tensor gu = g(up), gd = g(down);
  Tensor out(gu.shape());
  for (std::int64_t i = 0; i < out.size(); ++i) out[i] = (gu[i] - gd[i]) / (2.0 * h);
  return out;
}

/// Weights with magnitudes in [0.5, 1.5] and random signs: no output element is weighted
/// near zero, so none escapes the check.
inline Tensor output_weights(Shape shape, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> mag(0.5, 1.5);
  std::bernoulli_distribution negative(0.5);
  Tensor r(shape);
  for (std::int64_t i = 0; i < r.size(); ++i) r[i] = negative(rng) ? -mag(rng) : mag(rng);
  return r;
}

}  // namespace detail

/// Checks f at w in every derivative mode; see the top of this file.
inline void expect_ad(std::string_view label, Function f, const Tensor& w, const AdOptions& o = {}) {
  using namespace detail;
  SCOPED_TRACE(std::string(label) + " at w = " + str(w));
  std::mt19937_64 rng(fnv1a(label));

  // f's output weights; set once the output shape is known. Until then a scalar 1, which
  // only a throwing f (whose output never reaches it) sees.
  Tensor r = Tensor::scalar(1.0);
  auto s = [&](Var x) { return sum(mul(f(x), x.tape().constant(r))); };

  Tensor y;
  const Outcome plain = attempt([&] {
    Tape t;
    y = Tensor(f(t.constant(w)).value());
  });

  // g. exception parity.
  std::vector<Tensor> dirs;
  for (int k = 0; k < 2 * o.directions; ++k) dirs.push_back(random_direction(w, o, rng));
  struct Call {
    const char* name;
    std::function<void()> run;
  };
  Tensor g, hess, jac, vjp_r;
  std::vector<Tensor> hv_fwd(dirs.size()), hv_rev(dirs.size()), grad_fwd(dirs.size()), grad_rev(dirs.size()),
      jv(dirs.size()), jv_s(dirs.size());
  std::vector<Call> calls = {
      {"grad", [&] { g = grad(s, w); }},
      {"hessian", [&] { hess = hessian(s, w); }},
      {"jacobian", [&] { jac = jacobian(f, w); }},
      {"vjp", [&] { vjp_r = vjp(f, w, plain.threw ? Tensor::scalar(1.0) : r); }},
  };
  for (std::size_t k = 0; k < dirs.size(); ++k) {
    calls.push_back({"hvp (forward over reverse)", [&, k] {
                       hv_fwd[k] = hvp(s, w, dirs[k], &grad_fwd[k], HvpMethod::forward_over_reverse);
                     }});
    calls.push_back({"hvp (reverse over reverse)", [&, k] {
                       hv_rev[k] = hvp(s, w, dirs[k], &grad_rev[k], HvpMethod::reverse_over_reverse);
                     }});
    calls.push_back({"jvp", [&, k] { jv[k] = jvp(f, w, dirs[k]); }});
    calls.push_back({"jvp (of the weighted sum)", [&, k] { jv_s[k] = jvp(s, w, dirs[k]); }});
  }

  if (plain.threw) {
    for (const Call& c : calls) {
      const Outcome d = attempt(c.run);
      if (!d.threw)
        ADD_FAILURE() << "exception parity: plain evaluation threw " << plain.kind << " (" << plain.what
                      << ") but " << c.name << " returned normally";
      else if (d.kind != plain.kind)
        ADD_FAILURE() << "exception parity: plain evaluation threw " << plain.kind << " (" << plain.what
                      << ") but " << c.name << " threw " << d.kind << " (" << d.what << ")";
    }
    return;
  }

  r = output_weights(y.shape(), rng);
  bool all_ran = true;
  for (const Call& c : calls) {
    const Outcome d = attempt(c.run);
    if (d.threw) {
      ADD_FAILURE() << "exception parity: plain evaluation succeeded but " << c.name << " threw " << d.kind
                    << ": " << d.what;
      all_ran = false;
    }
  }
  if (!all_ran) return;

  const Shape wshape = w.shape();

  // a. value.
  {
    Tape t;
    const Tensor on_variable(f(t.variable(w)).value());
    expect_near("value recorded on a variable vs on a constant", on_variable, y, 0.0, Scale::elementwise,
                nullptr, true);
    t.clear();
    const Tensor with_tangent(f(t.variable(w, dirs[0])).value());
    expect_near("value recorded with a tangent vs on a constant", with_tangent, y, 0.0, Scale::elementwise,
                nullptr, true);
    if (o.reference)
      expect_near("value vs the plain reference", y, o.reference(w), o.value_tolerance, Scale::elementwise,
                  nullptr, true);
  }

  Tape work;
  auto value_of_s = [&](const Tensor& x) { return Tensor::scalar(value(s, x, &work)); };
  auto value_of_f = [&](const Tensor& x) {
    work.clear();
    return Tensor(f(work.constant(x)).value());
  };
  auto grad_of_s = [&](const Tensor& x) { return grad(s, x, &work); };

  // b. gradient.
  const Tensor r_flat = r.reshaped(Shape::vector(r.size()));
  expect_near("vjp(f, r) vs grad of sum(f * r)", vjp_r, g, o.exact_tolerance, Scale::normwise);
  {
    const Tensor jt_r = matvec(transposed(jac), r_flat, wshape);
    const Tensor mag = matvec_magnitude(transposed(jac), r_flat, wshape);
    expect_near("r^T jacobian(f) vs grad of sum(f * r)", jt_r, g, o.exact_tolerance, Scale::normwise, &mag);
  }
  if (o.jacobian)
    expect_near("jacobian vs the expected one", jac, *o.jacobian, o.exact_tolerance, Scale::normwise);
  if (o.finite_differences) {
    const Tensor numeric = difference_columns(value_of_s, w, o).reshaped(wshape);
    expect_near("gradient vs finite differences", g, numeric, o.gradient_tolerance, Scale::elementwise);
  }

  // c. second derivatives by double backward.
  expect_near("hessian symmetry (H vs H^T)", hess, transposed(hess), o.exact_tolerance, Scale::normwise);
  if (o.finite_differences) {
    const Tensor numeric = difference_columns(grad_of_s, w, o);
    expect_near("hessian vs finite differences of the gradient", hess, numeric, o.hessian_tolerance,
                Scale::elementwise);
  }
  if (o.hessian) {
    if (y.size() != 1) {
      ADD_FAILURE() << "an expected hessian needs a scalar f, got output shape " << y.shape().str();
    } else {
      const Tensor h = hessian(f, w);
      expect_near("hessian vs the expected one", h, *o.hessian, o.exact_tolerance, Scale::normwise);
    }
  }

  const std::size_t n = static_cast<std::size_t>(o.directions);
  for (std::size_t k = 0; k < n; ++k) {
    const Tensor& v = dirs[k];
    const Tensor& u = dirs[n + k];
    const std::string along = std::string(" (direction ") + std::to_string(k) + ": " + str(v) + ")";

    // d. forward mode.
    expect_near("jvp of sum(f * r) vs grad . v" + along, jv_s[k].item(), detail::dot(g, v), o.exact_tolerance,
                dot_magnitude(g, v));
    {
      const Tensor jv_dense = matvec(jac, v, y.shape());
      const Tensor mag = matvec_magnitude(jac, v, y.shape());
      expect_near("jvp(f, v) vs jacobian(f) v" + along, jv[k], jv_dense, o.exact_tolerance, Scale::normwise,
                  &mag);
    }
    if (o.finite_differences)
      expect_near("jvp(f, v) vs finite differences of f along v" + along, jv[k],
                  difference_along(value_of_f, w, v, o), o.gradient_tolerance, Scale::elementwise);

    // e. Hessian-vector products.
    expect_near("gradient returned by hvp (forward over reverse) vs grad", grad_fwd[k], g, o.exact_tolerance,
                Scale::normwise);
    expect_near("gradient returned by hvp (reverse over reverse) vs grad", grad_rev[k], g, o.exact_tolerance,
                Scale::normwise);
    const Tensor hv_mag = matvec_magnitude(hess, v, wshape);
    expect_near("hvp forward over reverse vs reverse over reverse" + along, hv_fwd[k], hv_rev[k],
                o.exact_tolerance, Scale::normwise, &hv_mag);
    expect_near("hvp (forward over reverse) vs hessian v" + along, hv_fwd[k], matvec(hess, v, wshape),
                o.exact_tolerance, Scale::normwise, &hv_mag);
    expect_near("hvp (reverse over reverse) vs hessian v" + along, hv_rev[k], matvec(hess, v, wshape),
                o.exact_tolerance, Scale::normwise, &hv_mag);
    if (o.finite_differences)
      expect_near("hvp vs finite differences of the gradient along v" + along, hv_fwd[k],
                  difference_along(grad_of_s, w, v, o), o.hessian_tolerance, Scale::elementwise);

    // f. symmetry of the Hessian seen through hvp alone.
    const std::size_t ku = n + k;
    expect_near("u . (H v) vs v . (H u), forward over reverse" + along, detail::dot(u, hv_fwd[k]),
                detail::dot(v, hv_fwd[ku]), o.exact_tolerance,
                std::max(dot_magnitude(u, hv_fwd[k]), dot_magnitude(v, hv_fwd[ku])));
    expect_near("u . (H v) vs v . (H u), reverse over reverse" + along, detail::dot(u, hv_rev[k]),
                detail::dot(v, hv_rev[ku]), o.exact_tolerance,
                std::max(dot_magnitude(u, hv_rev[k]), dot_magnitude(v, hv_rev[ku])));
  }
}

}  // namespace pk::ad::test
