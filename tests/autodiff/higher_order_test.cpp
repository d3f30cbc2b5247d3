// Derivatives of order three and four, by nesting grad(..., {.create_graph = true}), against
// closed forms derived by hand; and the nested-derivative trap known as perturbation confusion.
// Finite differences of third derivatives lose too many digits to tell a subtly wrong second
// derivative rule from a right one, so the references here are exact formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "autodiff/autodiff.hpp"

namespace {

using namespace pk::ad;

// The first `order` derivatives of f at each x, elementwise: f is applied elementwise to a
// vector, so d/dx_i sum(f(x)) = f'(x_i), and summing again before each further grad keeps the
// diagonal of each higher derivative tensor, which for an elementwise f is all of it.
std::vector<Tensor> derivatives(const std::function<Var(Var)>& f, const Tensor& x, int order) {
  Tape t;
  const Var xv = t.variable(x);
  std::vector<Tensor> out;
  Var d = f(xv);
  for (int k = 0; k < order; ++k) {
    d = grad(sum(d), xv, {.create_graph = true, .seed = {}});
    out.emplace_back(d.value());
  }
  return out;
}

struct Closed {
  std::string name;
  std::function<Var(Var)> f;
  // f', f'', f''' at x.
  std::function<double(double)> d1, d2, d3;
  double lo, hi;  // where the test points lie
};

// Relative to max(1, |exact|): these formulas are evaluated in double too, and the nested
// backward passes add a few roundings per order.
constexpr double kTolerance = 1e-11;

void expect_closed_form(const Closed& c) {
  std::vector<double> points;
  for (int i = 0; i < 7; ++i) points.push_back(c.lo + (c.hi - c.lo) * (i + 0.5) / 7.0);
  const Tensor x = Tensor::vector(points);
  const std::vector<Tensor> d = derivatives(c.f, x, 3);
  const std::function<double(double)>* exact[] = {&c.d1, &c.d2, &c.d3};
  for (int k = 0; k < 3; ++k)
    for (std::int64_t i = 0; i < x.size(); ++i) {
      const double want = (*exact[k])(x[i]);
      EXPECT_LE(std::abs(d[static_cast<std::size_t>(k)][i] - want),
                kTolerance * std::max(1.0, std::abs(want)))
          << c.name << ": derivative " << k + 1 << " at x = " << x[i] << " is "
          << d[static_cast<std::size_t>(k)][i] << ", expected " << want;
    }
}

double sech2(double x) {
  const double c = std::cosh(x);
  return 1.0 / (c * c);
}
double logistic(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double normal_density(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2.0 * std::numbers::pi); }

// With t = tanh x and s = sech^2 x = 1 - t^2, so that t' = s and s' = -2 t s:
//   f' = s,  f'' = -2 t s,  f''' = -2 (s s + t (-2 t s)) = -2 s (s - 2 t^2).
// s is computed from cosh, not from 1 - t^2, so that the reference shares no rounding with the
// rule under test.
TEST(HigherOrder, ThirdDerivativeOfTanh) {
  expect_closed_form({"tanh", [](Var x) { return tanh(x); }, sech2,
                      [](double x) { return -2.0 * std::tanh(x) * sech2(x); },
                      [](double x) {
                        const double t = std::tanh(x), s = sech2(x);
                        return -2.0 * s * (s - 2.0 * t * t);
                      },
                      -2.5, 2.5});
}

// The elementwise ops whose rules are built from other ops, one line each. With s = sigmoid x:
// s' = s(1-s), s'' = s(1-s)(1-2s), s''' = s(1-s)(1-6s+6s^2). softplus' = s. gelu = x Phi(x):
// gelu' = Phi + x phi, gelu'' = phi (2 - x^2), gelu''' = phi (x^3 - 4x) since phi' = -x phi.
// erf' = 2/sqrt(pi) e^{-x^2}, erf'' = -2x erf', erf''' = (4x^2 - 2) erf'.
TEST(HigherOrder, ThirdDerivativesOfElementwiseOps) {
  const double two_over_sqrt_pi = 2.0 / std::sqrt(std::numbers::pi);
  const std::vector<Closed> cases = {
      {"exp", [](Var x) { return exp(x); }, [](double x) { return std::exp(x); },
       [](double x) { return std::exp(x); }, [](double x) { return std::exp(x); }, -2.0, 2.0},
      {"log", [](Var x) { return log(x); }, [](double x) { return 1.0 / x; },
       [](double x) { return -1.0 / (x * x); }, [](double x) { return 2.0 / (x * x * x); }, 0.3, 3.0},
      {"sqrt", [](Var x) { return sqrt(x); }, [](double x) { return 0.5 / std::sqrt(x); },
       [](double x) { return -0.25 * std::pow(x, -1.5); }, [](double x) { return 0.375 * std::pow(x, -2.5); },
       0.3, 3.0},
      {"pow 3.5", [](Var x) { return pow(x, 3.5); }, [](double x) { return 3.5 * std::pow(x, 2.5); },
       [](double x) { return 8.75 * std::pow(x, 1.5); }, [](double x) { return 13.125 * std::sqrt(x); }, 0.3,
       2.0},
      {"pow -1", [](Var x) { return pow(x, -1.0); }, [](double x) { return -1.0 / (x * x); },
       [](double x) { return 2.0 / (x * x * x); }, [](double x) { return -6.0 / (x * x * x * x); }, 0.5, 2.0},
      {"c / x", [](Var x) { return 3.0 / x; }, [](double x) { return -3.0 / (x * x); },
       [](double x) { return 6.0 / (x * x * x); }, [](double x) { return -18.0 / (x * x * x * x); }, 0.5,
       2.0},
      {"square", [](Var x) { return square(x); }, [](double x) { return 2.0 * x; },
       [](double) { return 2.0; }, [](double) { return 0.0; }, -2.0, 2.0},
      {"sigmoid", [](Var x) { return sigmoid(x); }, [](double x) { return logistic(x) * (1 - logistic(x)); },
       [](double x) {
         const double s = logistic(x);
         return s * (1 - s) * (1 - 2 * s);
       },
       [](double x) {
         const double s = logistic(x);
         return s * (1 - s) * (1 - 6 * s + 6 * s * s);
       },
       -4.0, 4.0},
      {"softplus", [](Var x) { return softplus(x); }, logistic,
       [](double x) { return logistic(x) * (1 - logistic(x)); },
       [](double x) {
         const double s = logistic(x);
         return s * (1 - s) * (1 - 2 * s);
       },
       -4.0, 4.0},
      {"gelu", [](Var x) { return gelu(x); },
       [](double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2) + x * normal_density(x); },
       [](double x) { return normal_density(x) * (2 - x * x); },
       [](double x) { return normal_density(x) * (x * x * x - 4 * x); }, -3.0, 3.0},
      {"erf", [](Var x) { return erf(x); }, [=](double x) { return two_over_sqrt_pi * std::exp(-x * x); },
       [=](double x) { return -2 * x * two_over_sqrt_pi * std::exp(-x * x); },
       [=](double x) { return (4 * x * x - 2) * two_over_sqrt_pi * std::exp(-x * x); }, -2.0, 2.0},
  };
  for (const Closed& c : cases) expect_closed_form(c);
}

// A product of several ops. With u = x ln x (u' = ln x + 1, u'' = 1/x, u''' = -1/x^2) and
// f = u e^x, Leibniz's rule gives f''' = e^x (u + 3u' + 3u'' + u''')
//                                     = e^x (x ln x + 3 ln x + 3 + 3/x - 1/x^2),
// and likewise f'' = e^x (u + 2u' + u'') and f' = e^x (u + u').
TEST(HigherOrder, ThirdDerivativeOfAProduct) {
  expect_closed_form(
      {"x exp(x) log(x)", [](Var x) { return x * exp(x) * log(x); },
       [](double x) { return std::exp(x) * (x * std::log(x) + std::log(x) + 1); },
       [](double x) { return std::exp(x) * (x * std::log(x) + 2 * std::log(x) + 2 + 1 / x); },
       [](double x) { return std::exp(x) * (x * std::log(x) + 3 * std::log(x) + 3 + 3 / x - 1 / (x * x)); },
       0.2, 2.5});
  // (x^2 e^x)''' = e^x (x^2 + 6x + 6), through square and through pow.
  for (const auto& [name, f] : std::vector<std::pair<std::string, std::function<Var(Var)>>>{
           {"square(x) exp(x)", [](Var x) { return square(x) * exp(x); }},
           {"pow(x, 2) exp(x)", [](Var x) { return pow(x, 2.0) * exp(x); }}})
    expect_closed_form({name, f, [](double x) { return std::exp(x) * (x * x + 2 * x); },
                        [](double x) { return std::exp(x) * (x * x + 4 * x + 2); },
                        [](double x) { return std::exp(x) * (x * x + 6 * x + 6); }, -2.0, 2.0});
}

// Mixed partials of f(x, y) = x^2 y^3 through three nested grads on a two-element vector:
// d3f/dx dy dy = 12 x y and d3f/dx dx dy = 6 y^2, each of which a rule that confused which
// input it differentiates would get wrong.
TEST(HigherOrder, MixedThirdPartials) {
  for (const auto& [x0, y0] : std::vector<std::pair<double, double>>{{0.7, -1.2}, {-1.5, 0.3}, {2.0, 1.1}}) {
    Tape t;
    const Var w = t.variable(Tensor::vector({x0, y0}));
    const Var x = slice(w, 0, 1), y = slice(w, 1, 2);
    const Var f = sum(square(x) * pow(y, 3.0));
    const Var g = grad(f, w, {.create_graph = true, .seed = {}});                     // (2xy^3, 3x^2y^2)
    const Var gy = grad(sum(slice(g, 1, 2)), w, {.create_graph = true, .seed = {}});  // (6xy^2, 6x^2y)
    const Var gyy = grad(sum(slice(gy, 1, 2)), w);                                    // (12xy, 6x^2)
    const Var gyx = grad(sum(slice(gy, 0, 1)), w);                                    // (6y^2, 12xy)
    EXPECT_NEAR(gyy.value()[0], 12 * x0 * y0, 1e-12);
    EXPECT_NEAR(gyy.value()[1], 6 * x0 * x0, 1e-12);
    EXPECT_NEAR(gyx.value()[0], 6 * y0 * y0, 1e-12);
    EXPECT_NEAR(gyx.value()[1], 12 * x0 * y0, 1e-12);
  }
}

// d^4/dx^4 e^x = e^x: four nested backward passes, each differentiating the one before.
TEST(HigherOrder, FourthDerivativeOfExp) {
  const Tensor x = Tensor::vector({-1.7, -0.2, 0.0, 0.9, 2.3});
  const std::vector<Tensor> d = derivatives([](Var v) { return exp(v); }, x, 4);
  for (std::int64_t i = 0; i < x.size(); ++i)
    for (int k = 0; k < 4; ++k)
      EXPECT_NEAR(d[static_cast<std::size_t>(k)][i], std::exp(x[i]), 1e-13 * std::exp(x[i]))
          << "derivative " << k + 1 << " at " << x[i];
}

// And of tanh: f'''' = d/dx (-2 s^2 + 4 t^2 s) = -4 s s' + 8 t s s + 4 t^2 s' = 8 t s (2 s - t^2),
// which goes through tanh_backward's own backward rule twice.
TEST(HigherOrder, FourthDerivativeOfTanh) {
  const Tensor x = Tensor::vector({-1.9, -0.6, 0.1, 0.8, 1.7});
  const std::vector<Tensor> d = derivatives([](Var v) { return tanh(v); }, x, 4);
  for (std::int64_t i = 0; i < x.size(); ++i) {
    const double t = std::tanh(x[i]), s = sech2(x[i]);
    EXPECT_NEAR(d[3][i], 8 * t * s * (2 * s - t * t), kTolerance) << "at " << x[i];
  }
}

// Perturbation confusion: in d/dx [ x * d/dy (x + y) ] the inner derivative is 1 whatever x is,
// so the answer is 1. A tape that let the inner derivative see x's perturbation (or that lost
// track of which leaf is which) would give 2.
TEST(HigherOrder, NestedDerivativesDoNotConfuseTheirPerturbations) {
  for (const auto& [x0, y0] :
       std::vector<std::pair<double, double>>{{0.0, 0.0}, {1.0, 2.0}, {-3.5, 0.25}, {7.0, -1.0}}) {
    Tape t;
    const Var x = t.variable(Tensor::scalar(x0));
    const Var y = t.variable(Tensor::scalar(y0));
    const Var inner = grad(x + y, y, {.create_graph = true, .seed = {}});
    EXPECT_EQ(grad(x * inner, x).item(), 1.0) << "x = " << x0 << ", y = " << y0;

    // The inner derivative depending on x: d/dx [ x * d/dy (x y) ] = d/dx x^2 = 2x.
    const Var inner_xy = grad(x * y, y, {.create_graph = true, .seed = {}});
    EXPECT_DOUBLE_EQ(grad(x * inner_xy, x).item(), 2.0 * x0) << "x = " << x0 << ", y = " << y0;
  }
}

// The same two traps with the outer derivative in forward mode: the inner gradient is taken
// without create_graph, so what carries x's perturbation into it is the tangent of the
// gradient (forward over reverse), not a recorded graph.
TEST(HigherOrder, ForwardOverReverseDoesNotConfuseItsPerturbations) {
  for (const double y0 : {-1.0, 0.5, 3.0}) {
    for (const double x0 : {-2.0, 0.0, 1.5}) {
      const Tensor x = Tensor::scalar(x0), one = Tensor::scalar(1.0);
      const Tensor d_sum = jvp(
          [y0](Var xv) {
            const Var y = xv.tape().variable(Tensor::scalar(y0));
            return xv * grad(xv + y, y);
          },
          x, one);
      EXPECT_EQ(d_sum.item(), 1.0) << "x = " << x0 << ", y = " << y0;
      const Tensor d_product = jvp(
          [y0](Var xv) {
            const Var y = xv.tape().variable(Tensor::scalar(y0));
            return xv * grad(xv * y, y);
          },
          x, one);
      EXPECT_DOUBLE_EQ(d_product.item(), 2.0 * x0) << "x = " << x0 << ", y = " << y0;
    }
  }
}

}  // namespace
