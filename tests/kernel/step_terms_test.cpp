// The per-step terms on models whose answers are known in closed form.
#include <cmath>

#include <gtest/gtest.h>

#include "autodiff/ops.hpp"
#include "kernel/gauss_legendre.hpp"
#include "kernel/sharpness.hpp"
#include "kernel/step_terms.hpp"

using namespace pk::ad;
using namespace pk::kernel;

namespace {
// A small tanh network with two outputs on a flat vector: 2 inputs, 5 hidden, 2 outputs.
Var two_layer(Var x, Var w) {
  const Var W1 = reshape(slice(w, 0, 10), Shape::matrix(5, 2));
  const Var b1 = slice(w, 10, 15);
  const Var W2 = reshape(slice(w, 15, 25), Shape::matrix(2, 5));
  const Var b2 = slice(w, 25, 27);
  return add(matmul(tanh(add(matmul(x, W1, false, true), b1)), W2, false, true), b2);
}

Tensor seeded(Shape s, double scale, double phase) {
  Tensor t(s);
  for (std::int64_t i = 0; i < t.size(); ++i) t[i] = scale * std::sin(phase + 1.3 * static_cast<double>(i));
  return t;
}
}  // namespace

TEST(GaussLegendre, IntegratesPolynomialsOfDegreeUpTo2nMinus1Exactly) {
  for (int n = 1; n <= 40; ++n) {
    const GaussLegendre rule = gauss_legendre(n);
    double weight_sum = 0.0;
    for (double wt : rule.weights) weight_sum += wt;
    EXPECT_NEAR(weight_sum, 1.0, 1e-14) << n;
    // integral_0^1 t^p dt = 1 / (p + 1)
    for (int p : {2 * n - 1, n}) {
      double q = 0.0;
      for (std::size_t i = 0; i < rule.nodes.size(); ++i) q += rule.weights[i] * std::pow(rule.nodes[i], p);
      EXPECT_NEAR(q, 1.0 / (p + 1), 1e-14) << "n=" << n << " p=" << p;
    }
  }
  EXPECT_THROW(gauss_legendre(0), std::invalid_argument);
}

TEST(StepTerms, SecondOrderTermMatchesTheExplicitHessianPerPointAndOutput) {
  const Tensor queries = seeded(Shape::matrix(4, 2), 1.0, 0.2);
  const Tensor w = seeded(Shape::vector(27), 0.7, 0.5);
  const Tensor dw = seeded(Shape::vector(27), 0.05, 1.1);
  Tape tape;
  const SecondOrder terms = second_order_term(two_layer, queries, w, dw, tape);
  const FirstOrder first = first_order_term(two_layer, queries, w, dw, tape);
  ASSERT_EQ(terms.second_order.shape(), Shape::matrix(4, 2));
  for (std::int64_t p = 0; p < 4; ++p) {
    for (std::int64_t c = 0; c < 2; ++c) {
      Tensor xp(Shape::matrix(1, 2), {queries(p, 0), queries(p, 1)});
      auto fpc = [&](Var wv) { return sum(slice(two_layer(wv.tape().constant(xp), wv), 1, c, c + 1)); };
      const Tensor h = hessian(fpc, w);
      const Tensor g = grad(fpc, w);
      double quad = 0.0, lin = 0.0;
      for (std::int64_t i = 0; i < 27; ++i) {
        lin += g[i] * dw[i];
        for (std::int64_t j = 0; j < 27; ++j) quad += dw[i] * h(i, j) * dw[j];
      }
      EXPECT_NEAR(terms.second_order(p, c), 0.5 * quad, 1e-14) << p << "," << c;
      EXPECT_NEAR(terms.first_order(p, c), lin, 1e-14);
      EXPECT_NEAR(first.first_order(p, c), lin, 1e-14);
    }
  }
}

TEST(StepTerms, ExactChangeClosesTheStepIdentity) {
  const Tensor queries = seeded(Shape::matrix(6, 2), 1.0, 0.9);
  const Tensor w = seeded(Shape::vector(27), 0.8, 0.1);
  const Tensor dw = seeded(Shape::vector(27), 0.3, 2.0);  // a large step: far from linear
  Tape tape;
  Tensor after_w(w);
  for (std::int64_t i = 0; i < w.size(); ++i) after_w[i] += dw[i];
  const Tensor before = predict(two_layer, queries, w, tape);
  const Tensor after = predict(two_layer, queries, after_w, tape);
  Tensor df(before.shape());
  for (std::int64_t i = 0; i < df.size(); ++i) df[i] = after[i] - before[i];
  const ExactChange exact = exact_change(two_layer, queries, w, dw, df, tape, 1e-12, 1e-15);
  EXPECT_LE(exact.error, 1e-12);
  EXPECT_GE(exact.nodes, 4);  // two nodes cannot integrate a tanh network's path this well
  const FirstOrder first = first_order_term(two_layer, queries, w, dw, tape);
  EXPECT_GT(max_abs_diff(first.first_order, df), 1e-3);  // the linear term alone does not
}

TEST(Sharpness, MatchesTheLargestEigenvalueOfAKnownQuadratic) {
  // f(w) = 1/2 sum_i d_i w_i^2 + 1/2 (w_0 + w_1)^2 has Hessian diag(d) + e e^T on the first two.
  const std::vector<double> d{3.0, 1.0, -2.0, 0.5, 7.0};
  auto f = [&](Var w) {
    const Var diag = w.tape().constant(Tensor::vector(std::vector<double>(d)));
    const Var s = sum(slice(w, 0, 2));
    return 0.5 * sum(diag * square(w)) + 0.5 * square(s);
  };
  const Sharpness top = sharpness(f, Tensor(Shape::vector(5), 0.3));
  // Eigenvalues of [[4, 1], [1, 2]] are 3 +- sqrt(2); with 7 on the diagonal the top is 7.
  EXPECT_NEAR(top.lambda_max, 7.0, 1e-10);
  const std::vector<double> alpha{4.0, 2.0}, beta{1.0};
  EXPECT_NEAR(largest_tridiagonal_eigenvalue(alpha.data(), beta.data(), 2), 3.0 + std::sqrt(2.0), 1e-13);
}
