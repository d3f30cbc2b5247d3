// Models: PyTorch's layout, the layers' values and gradients against finite differences, a
// user-defined model used exactly like a built-in one, per-sample evaluation and Jacobians,
// and the initialisers.
#include "nn/model.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cmath>

#include "autodiff/autodiff.hpp"
#include "nn/error.hpp"
#include "nn/init.hpp"
#include "nn/layers.hpp"
#include "nn/mlp.hpp"
#include "nn/random.hpp"
#include "test_support.hpp"

namespace pk::nn {
namespace {

ad::Tensor random_tensor(ad::Shape s, std::uint64_t seed, double scale = 1.0) {
  Rng g(seed);
  ad::Tensor t(s);
  for (std::int64_t i = 0; i < t.size(); ++i) t[i] = scale * g.normal();
  return t;
}

TEST(Mlp, LayoutFollowsPyTorchLinear) {
  const Model m = mlp("2-16-16-1", "tanh");
  EXPECT_EQ(m.parameter_count(), 2 * 16 + 16 + 16 * 16 + 16 + 16 * 1 + 1);
  EXPECT_EQ(m.input_dim(), 2);
  EXPECT_EQ(m.output_dim(), 1);
  EXPECT_EQ(m.name(), "mlp 2-16-16-1 tanh");
  const auto& b = m.layout().blocks();
  ASSERT_EQ(b.size(), 6u);
  EXPECT_EQ(b[0].name, "layer0.weight");
  EXPECT_EQ(b[0].shape, ad::Shape::matrix(16, 2));
  EXPECT_EQ(b[0].offset, 0);
  EXPECT_EQ(b[1].name, "layer0.bias");
  EXPECT_EQ(b[1].offset, 32);
  EXPECT_EQ(b[2].offset, 48);
  EXPECT_EQ(b[5].name, "layer2.bias");
  EXPECT_EQ(b[5].offset + b[5].size(), m.parameter_count());
  EXPECT_EQ(b[2].fan_in, 16);
  EXPECT_EQ(b[2].fan_out, 16);
}

TEST(Mlp, ForwardMatchesAHandWrittenNetwork) {
  const Model m = mlp("3-4-2", "tanh");
  const ad::Tensor w = random_tensor(ad::Shape::vector(m.parameter_count()), 1);
  const ad::Tensor x = random_tensor(ad::Shape::matrix(5, 3), 2);
  const ad::Tensor y = evaluate(m, x, w);
  ASSERT_EQ(y.shape(), ad::Shape::matrix(5, 2));
  // W0 (4x3) row-major at 0, b0 at 12, W1 (2x4) at 16, b1 at 24.
  for (int r = 0; r < 5; ++r) {
    double h[4];
    for (int i = 0; i < 4; ++i) {
      double s = w[12 + i];
      for (int j = 0; j < 3; ++j) s += w[i * 3 + j] * x(r, j);
      h[i] = std::tanh(s);
    }
    for (int o = 0; o < 2; ++o) {
      double s = w[24 + o];
      for (int i = 0; i < 4; ++i) s += w[16 + o * 4 + i] * h[i];
      EXPECT_NEAR(y(r, o), s, 1e-14);
    }
  }
}

TEST(Mlp, ParsesSpecsAndRefusesBadOnes) {
  EXPECT_EQ(parse_mlp_spec("8-64-64-1", "relu").widths, (std::vector<std::int64_t>{8, 64, 64, 1}));
  PK_EXPECT_THROW_WITH(parse_mlp_spec("2-x-1", "tanh"), SpecError, "width 2 ('x') is not a positive integer");
  PK_EXPECT_THROW_WITH(parse_mlp_spec("2--1", "tanh"), SpecError, "width 2 ('')");
  PK_EXPECT_THROW_WITH(parse_mlp_spec("2-0-1", "tanh"), SpecError, "width 2 ('0')");
  PK_EXPECT_THROW_WITH(parse_mlp_spec("5", "tanh"), SpecError, "at least an input and an output");
  PK_EXPECT_THROW_WITH(parse_mlp_spec("2-1", "swish"), SpecError, "unknown activation 'swish'");
}

// Every activation through an MLP, and the linear layer alone: gradients in w and in x.
class ActivationGradient : public ::testing::TestWithParam<const char*> {};

TEST_P(ActivationGradient, MatchesFiniteDifferencesInWeightsAndInputs) {
  const Model m = mlp("3-5-4-2", GetParam());
  const ad::Tensor w = random_tensor(ad::Shape::vector(m.parameter_count()), 3, 0.7);
  const ad::Tensor x = random_tensor(ad::Shape::matrix(6, 3), 4);
  const ad::Tensor u = random_tensor(ad::Shape::matrix(6, 2), 5);
  // A scalar of the outputs, u . f(x; w), so every output contributes.
  auto in_w = [&](ad::Var wv) {
    ad::Tape& t = wv.tape();
    return ad::sum(ad::mul(m.forward(t.constant(x), wv), t.constant(u)));
  };
  const ad::DerivativeCheck cw = ad::check_gradient(in_w, w);
  EXPECT_TRUE(cw.passed(1e-7)) << "worst " << cw.worst << ": " << cw.analytic << " vs " << cw.numeric;
  auto in_x = [&](ad::Var xv) {
    ad::Tape& t = xv.tape();
    return ad::sum(
        ad::mul(m.forward(ad::reshape(xv, ad::Shape::matrix(6, 3)), t.constant(w)), t.constant(u)));
  };
  const ad::DerivativeCheck cx = ad::check_gradient(in_x, x.reshaped(ad::Shape::vector(18)));
  EXPECT_TRUE(cx.passed(1e-7)) << "worst " << cx.worst << ": " << cx.analytic << " vs " << cx.numeric;
}

INSTANTIATE_TEST_SUITE_P(All, ActivationGradient,
                         ::testing::Values("identity", "tanh", "relu", "sigmoid", "softplus", "gelu"));

TEST(Activation, ValuesAndNames) {
  for (const char* name : {"identity", "tanh", "relu", "sigmoid", "softplus", "gelu"})
    EXPECT_EQ(activation_name(parse_activation(name)), name);
  ad::Tape t;
  const ad::Var x = t.constant(ad::Tensor::vector({-2.0, 0.5}));
  EXPECT_NEAR(activate(Activation::sigmoid, x).value()[0], 1.0 / (1.0 + std::exp(2.0)), 1e-16);
  EXPECT_EQ(activate(Activation::relu, x).value()[0], 0.0);
  EXPECT_NEAR(activate(Activation::softplus, x).value()[1], std::log1p(std::exp(0.5)), 1e-15);
  EXPECT_NEAR(activate(Activation::gelu, x).value()[1], 0.5 * 0.5 * (1 + std::erf(0.5 / std::sqrt(2.0))),
              1e-15);
}

TEST(Linear, GradientOfTheLayerAloneMatchesFiniteDifferences) {
  Layout layout;
  layout.add_linear("fc", 4, 3);
  const ParameterBlock wb = layout.block("fc.weight"), bb = layout.block("fc.bias");
  const ad::Tensor x = random_tensor(ad::Shape::matrix(5, 4), 6);
  const ad::Tensor w = random_tensor(ad::Shape::vector(layout.parameter_count()), 7);
  auto f = [&](ad::Var wv) { return ad::sum(ad::square(linear(wv.tape().constant(x), wv, wb, bb))); };
  EXPECT_TRUE(ad::check_gradient(f, w).passed(1e-7));
  PK_EXPECT_THROW_WITH(linear(ad::Var(), ad::Var(), bb, wb), SpecError, "are not a weight");
}

// A user's own model: a quadratic-feature model written directly with autodiff ops on its own
// layout. Everything that takes a Model takes it.
Model quadratic_model() {
  Layout layout;
  layout.add("a", ad::Shape::matrix(2, 2), BlockRole::weight, 2, 2);
  layout.add("c", ad::Shape::vector(2), BlockRole::bias, 2, 2);
  const ParameterBlock a = layout.block("a"), c = layout.block("c");
  ForwardFunction f = [a, c](ad::Var x, ad::Var w) {
    const ad::Var z = ad::matmul(x, a.view(w), false, true);
    return ad::add(ad::mul(z, z), c.view(w));
  };
  return Model("quadratic", 2, 2, layout, f);
}

TEST(UserModel, IsUsedLikeABuiltInOne) {
  const Model m = quadratic_model();
  EXPECT_EQ(m.parameter_count(), 6);
  const ad::Tensor w = initialise(m.layout(), InitScheme::pytorch_default, 3);
  const ad::Tensor x = random_tensor(ad::Shape::matrix(4, 2), 8);
  const ad::Tensor y = evaluate(m, x, w);
  const double z = w[0] * x(1, 0) + w[1] * x(1, 1);
  EXPECT_NEAR(y(1, 0), z * z + w[4], 1e-15);
  const ad::Tensor jac = sample_jacobian(m, ad::Tensor::vector({x(1, 0), x(1, 1)}), w);
  EXPECT_EQ(jac.shape(), ad::Shape::matrix(2, 6));
  EXPECT_NEAR(jac(0, 0), 2 * z * x(1, 0), 1e-14);
  EXPECT_EQ(jac(0, 2), 0.0);
  EXPECT_EQ(jac(0, 4), 1.0);
}

TEST(Model, RefusesWrongShapesWithTheModelsName) {
  const Model m = mlp("2-3-1", "tanh");
  ad::Tape t;
  const ad::Var w = t.variable(ad::Tensor(ad::Shape::vector(m.parameter_count()), 0.1));
  PK_EXPECT_THROW_WITH(m.forward(t.constant(ad::Tensor(ad::Shape::matrix(4, 3))), w), SpecError,
                       "model 'mlp 2-3-1 tanh': input batch of shape (4, 3), expected (batch, 2)");
  PK_EXPECT_THROW_WITH(
      m.forward(t.constant(ad::Tensor(ad::Shape::matrix(4, 2))), t.variable(ad::Tensor::vector({1, 2}))),
      SpecError, "parameters of shape (2), expected (13)");
  const Model bad("bad", 2, 1, Layout::flat(3), [](ad::Var x, ad::Var) { return x; });
  PK_EXPECT_THROW_WITH(
      bad.forward(t.constant(ad::Tensor(ad::Shape::matrix(4, 2))), t.variable(ad::Tensor::vector({1, 2, 3}))),
      SpecError, "model 'bad': forward returned shape (4, 2) for a batch of 4, expected (4, 1)");
  PK_EXPECT_THROW_WITH(evaluate(m, ad::Tensor(ad::Shape::matrix(1, 2)), ad::Tensor::vector({1})), SpecError,
                       "which has 13 parameters");
}

TEST(Model, PerSampleEvaluationAgreesWithTheBatch) {
  const Model m = mlp("3-8-2", "gelu");
  const ad::Tensor w = initialise(m.layout(), InitScheme::xavier_normal, 4);
  const ad::Tensor x = random_tensor(ad::Shape::matrix(5, 3), 9);
  const ad::Tensor y = evaluate(m, x, w);
  ad::Tape t;
  for (int r = 0; r < 5; ++r) {
    t.clear();
    const ad::Var ys =
        forward_sample(m, t.constant(ad::Tensor::vector({x(r, 0), x(r, 1), x(r, 2)})), t.constant(w));
    EXPECT_EQ(ys.shape(), ad::Shape::vector(2));
    EXPECT_NEAR(ys.value()[0], y(r, 0), 1e-15);
    EXPECT_NEAR(ys.value()[1], y(r, 1), 1e-15);
  }
  // The Jacobian against central differences of the outputs.
  const ad::Tensor x0 = ad::Tensor::vector({x(0, 0), x(0, 1), x(0, 2)});
  const ad::Tensor jac = sample_jacobian(m, x0, w);
  const double h = 1e-6;
  for (std::int64_t i = 0; i < m.parameter_count(); ++i) {
    ad::Tensor up(w), down(w);
    up[i] += h;
    down[i] -= h;
    const ad::Tensor fu = evaluate(m, x0.reshaped(ad::Shape::matrix(1, 3)), up);
    const ad::Tensor fd = evaluate(m, x0.reshaped(ad::Shape::matrix(1, 3)), down);
    for (int c = 0; c < 2; ++c) EXPECT_NEAR(jac(c, i), (fu[c] - fd[c]) / (2 * h), 1e-8);
  }
}

TEST(Init, IsDeterministicAndSeedDependent) {
  const Model m = mlp("2-16-16-1", "tanh");
  for (const InitScheme s : {InitScheme::pytorch_default, InitScheme::xavier_uniform,
                             InitScheme::xavier_normal, InitScheme::he_uniform, InitScheme::he_normal}) {
    const ad::Tensor a = initialise(m.layout(), s, 17), b = initialise(m.layout(), s, 17);
    const ad::Tensor c = initialise(m.layout(), s, 18);
    EXPECT_EQ(a.span().size(), 337u);
    EXPECT_TRUE(std::equal(a.span().begin(), a.span().end(), b.span().begin()));
    EXPECT_FALSE(std::equal(a.span().begin(), a.span().end(), c.span().begin()));
    EXPECT_EQ(parse_init_scheme(init_scheme_name(s)), s);
  }
  PK_EXPECT_THROW_WITH(parse_init_scheme("orthogonal"), SpecError, "unknown initialisation 'orthogonal'");
}

TEST(Init, PinnedValuesDoNotDrift) {
  // Bit-identical across compilers and platforms is the promise; these pin it.
  const ad::Tensor w = initialise(mlp("2-3-1", "tanh").layout(), InitScheme::he_normal, 2024);
  EXPECT_EQ(w[0], 0x1.9356a7a1bbe22p-1);
  EXPECT_EQ(w[6], 0x0p+0);  // the first bias: zero under He
}

TEST(Init, DistributionsHaveTheirDocumentedScale) {
  Layout layout;
  layout.add_linear("big", 200, 300);
  const ParameterBlock W = layout.block("big.weight"), b = layout.block("big.bias");
  auto stats = [&](const ad::Tensor& w, const ParameterBlock& blk) {
    double sum = 0, sq = 0, mx = 0;
    for (std::int64_t i = blk.offset; i < blk.offset + blk.size(); ++i) {
      sum += w[i];
      sq += w[i] * w[i];
      mx = std::max(mx, std::abs(w[i]));
    }
    const double n = static_cast<double>(blk.size());
    return std::array<double, 3>{sum / n, sq / n, mx};
  };
  const ad::Tensor pt = initialise(layout, InitScheme::pytorch_default, 1);
  auto s = stats(pt, W);
  EXPECT_LE(s[2], 1 / std::sqrt(200.0));
  EXPECT_NEAR(s[1], 1.0 / 600.0, 0.03 / 600.0);
  EXPECT_LE(stats(pt, b)[2], 1 / std::sqrt(200.0));
  EXPECT_GT(stats(pt, b)[2], 0.0);
  s = stats(initialise(layout, InitScheme::xavier_uniform, 1), W);
  EXPECT_LE(s[2], std::sqrt(6.0 / 500.0));
  EXPECT_NEAR(s[1], 2.0 / 500.0, 2.0 / 500.0 * 0.03);
  s = stats(initialise(layout, InitScheme::xavier_normal, 1), W);
  EXPECT_NEAR(s[1], 2.0 / 500.0, 2.0 / 500.0 * 0.03);
  s = stats(initialise(layout, InitScheme::he_uniform, 1), W);
  EXPECT_LE(s[2], std::sqrt(6.0 / 200.0));
  EXPECT_NEAR(s[1], 2.0 / 200.0, 2.0 / 200.0 * 0.03);
  const ad::Tensor he = initialise(layout, InitScheme::he_normal, 1);
  EXPECT_NEAR(stats(he, W)[1], 2.0 / 200.0, 2.0 / 200.0 * 0.03);
  EXPECT_EQ(stats(he, b)[2], 0.0);
}

TEST(Layout, RefusesBadBlocks) {
  Layout l;
  l.add("a", ad::Shape::vector(3), BlockRole::weight, 1, 1);
  PK_EXPECT_THROW_WITH(l.add("a", ad::Shape::vector(3), BlockRole::weight, 1, 1), SpecError,
                       "block 'a' appears twice");
  PK_EXPECT_THROW_WITH(l.add("b", ad::Shape::vector(0), BlockRole::weight, 1, 1), SpecError,
                       "has no elements");
  PK_EXPECT_THROW_WITH(l.block("z"), SpecError, "no block named 'z'");
  EXPECT_EQ(l.describe(), "a (3) at [0, 3)\n");
}

}  // namespace
}  // namespace pk::nn
