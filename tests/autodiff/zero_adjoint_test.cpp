// A zero adjoint must pass on zero through a local derivative that is infinite (CppAD's rule):
// gradients stay finite where a function with a singular derivative is switched off.
#include <cmath>

#include <gtest/gtest.h>

#include "autodiff/autodiff.hpp"

using namespace pk::ad;

namespace {
// d/dx sum(mask * h(x)) at x = (0, 4) with mask = (0, 1): the masked point's adjoint into h is
// exactly 0, and h' is infinite or NaN there.
Tensor masked_gradient(Var (*h)(Var)) {
  const Tensor x = Tensor::vector({0.0, 4.0});
  return grad([h](Var w) { return sum(mul(w.tape().constant(Tensor::vector({0.0, 1.0})), h(w))); }, x);
}
}  // namespace

TEST(ZeroAdjoint, PassesThroughInfiniteLocalDerivatives) {
  struct Case {
    const char* name;
    Var (*h)(Var);
    double slope_at_4;
  };
  const Case cases[] = {
      {"sqrt", [](Var x) { return sqrt(x); }, 0.25},
      {"log", [](Var x) { return log(x); }, 0.25},
      {"pow 0.5", [](Var x) { return pow(x, 0.5); }, 0.25},
      {"pow -1", [](Var x) { return pow(x, -1.0); }, -1.0 / 16},
      {"1 / x", [](Var x) { return 1.0 / x; }, -1.0 / 16},
      {"x / x^2 (div)", [](Var x) { return div(x, square(x)); }, -1.0 / 16},
  };
  for (const Case& c : cases) {
    const Tensor g = masked_gradient(c.h);
    EXPECT_EQ(g[0], 0.0) << c.name;
    EXPECT_NEAR(g[1], c.slope_at_4, 1e-15) << c.name;
  }
}

TEST(ZeroAdjoint, SecondDerivativesStayFiniteToo) {
  // Through the Hessian of sum(mask * sqrt(x)), the masked point contributes nothing.
  const Tensor x = Tensor::vector({0.0, 4.0});
  const Tensor h = hessian(
      [](Var w) {
        return sum(mul(w.tape().constant(Tensor::vector({0.0, 1.0})), sqrt(w)));
      },
      x);
  EXPECT_EQ(h(0, 0), 0.0);
  EXPECT_EQ(h(0, 1), 0.0);
  EXPECT_NEAR(h(1, 1), -0.25 * std::pow(4.0, -1.5), 1e-15);
}

TEST(ZeroAdjoint, AnUnmaskedSingularityIsStillInfinite) {
  // Where the adjoint is not zero, the derivative of sqrt at 0 is what it is.
  const Tensor g = grad([](Var w) { return sum(sqrt(w)); }, Tensor::vector({0.0}));
  EXPECT_TRUE(std::isinf(g[0]));
}

TEST(ZeroAdjoint, ForwardModeAgreesWithReverseModeAtTheSameSingularities) {
  // f(w) = w1 + 0 * sqrt(relu(w0)) at w0 = -1: reverse and forward mode and both HVP routes must
  // agree (sqrt' is infinite at relu's 0 output; nothing flows through the switched-off branch).
  auto f = [](Var w) {
    const Var a = slice(w, 0, 1), b = slice(w, 1, 2);
    return sum(b + sqrt(relu(a)));
  };
  const Tensor w = Tensor::vector({-1.0, 2.0}), v = Tensor::vector({1.0, 1.0});
  const Tensor g = grad(f, w);
  EXPECT_EQ(g[0], 0.0);
  EXPECT_EQ(g[1], 1.0);
  EXPECT_EQ(jvp(f, w, v)[0], 1.0);
  const Tensor fast = hvp(f, w, v);
  const Tensor slow = hvp(f, w, v, nullptr, HvpMethod::reverse_over_reverse);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(fast[i], 0.0) << i;
    EXPECT_EQ(slow[i], 0.0) << i;
  }
}
