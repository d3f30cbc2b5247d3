// Tangent kernels K(x, x') = J(x) J(x')^T: per-sample Jacobians against finite differences and
// against nn's own Jacobians, symmetry and positive semi-definiteness, and the dense Gram route
// against the per-sample route for every activation, depth and output count.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernel/dense_tangent_kernel.hpp"
#include "kernel/model_tangent_kernel.hpp"
#include "kernel/step_terms.hpp"
#include "kernel/tangent_kernel.hpp"
#include "kernel_test_support.hpp"
#include "nn/architecture.hpp"
#include "nn/dense_chain.hpp"

namespace pk::kernel {
namespace {

using namespace testing;

double max_abs(TensorView t) {
  double m = 0.0;
  for (double v : t.span()) m = std::max(m, std::abs(v));
  return m;
}

TEST(TangentKernel, PerSampleJacobiansMatchCentralDifferences) {
  for (const pk::nn::Model& model : {custom_tanh_model(3), pk::nn::mlp("3-6-4-2", "softplus")}) {
    const Tensor points = query_points(5, 3, 41);
    const Tensor w = init(model, 9);
    auto f = [&model](Var x, Var wv) { return model.forward(x, wv); };
    pk::ad::Tape tape;
    const Tensor jac = per_sample_jacobians(f, points, w, tape);
    const std::int64_t d = model.parameter_count(), c_out = model.output_dim();
    ASSERT_EQ(jac.shape(), Shape::matrix(5 * c_out, d));
    const double h = 1e-6;
    for (std::int64_t i = 0; i < d; ++i) {
      Tensor up(w), down(w);
      up[i] += h;
      down[i] -= h;
      const Tensor fu = pk::nn::evaluate(model, points, up), fd = pk::nn::evaluate(model, points, down);
      for (std::int64_t p = 0; p < 5; ++p)
        for (std::int64_t c = 0; c < c_out; ++c) {
          const double fdiff = (fu(p, c) - fd(p, c)) / (2 * h);
          // Central differences: truncation h^2 |f'''| and rounding eps |f| / h, both ~1e-10.
          EXPECT_NEAR(jac(p * c_out + c, i), fdiff, 1e-8)
              << model.name() << " point " << p << " output " << c << " w" << i;
        }
    }
    // And against nn's Jacobian of one sample, computed by its own route.
    for (std::int64_t p = 0; p < 5; ++p) {
      const Tensor x(TensorView(points.data() + p * 3, Shape::vector(3)));
      const Tensor ref = pk::nn::sample_jacobian(model, x, w);
      for (std::int64_t c = 0; c < c_out; ++c)
        for (std::int64_t i = 0; i < d; ++i) EXPECT_EQ(jac(p * c_out + c, i), ref(c, i));
    }
  }
}

TEST(TangentKernel, IsSymmetricAndPositiveSemiDefinite) {
  const Tensor points = query_points(12, 3, 42);
  for (const pk::nn::Model& model :
       {custom_tanh_model(3), pk::nn::mlp("3-8-8-3", "tanh"), pk::nn::mlp("3-16-1", "relu")}) {
    const Tensor w = init(model, 10);
    pk::ad::Tape tape;
    for (const KernelRoute route : {KernelRoute::jacobians, KernelRoute::automatic}) {
      const Tensor k = model_tangent_kernel(model, points, points, w, tape, route);
      const std::int64_t n = 12 * model.output_dim();
      ASSERT_EQ(k.shape(), Shape::matrix(n, n));
      const double largest = max_abs(k);
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < i; ++j) EXPECT_NEAR(k(i, j), k(j, i), 1e-14 * largest) << model.name();
      std::vector<double> sym(static_cast<std::size_t>(n * n));
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < n; ++j)
          sym[static_cast<std::size_t>(i * n + j)] = 0.5 * (k(i, j) + k(j, i));
      const std::vector<double> eig = symmetric_eigenvalues(sym, n);
      EXPECT_GT(eig.back(), 0.0);
      EXPECT_GE(eig.front(), -1e-10 * eig.back()) << model.name();
      // The diagonal is |J(x) e_c|^2 > 0 and bounds every entry of its rows: |K_ij| <= sqrt(K_ii K_jj).
      for (std::int64_t i = 0; i < n; ++i) {
        EXPECT_GT(k(i, i), 0.0);
        for (std::int64_t j = 0; j < n; ++j)
          EXPECT_LE(std::abs(k(i, j)), std::sqrt(k(i, i) * k(j, j)) * (1 + 1e-12));
      }
    }
  }
}

TEST(TangentKernel, EntriesAreInnerProductsOfIndependentJacobians) {
  // K_{c c'}(a_p, b_q) = J_c(a_p) . J_c'(b_q), with J from nn::sample_jacobian, for both routes.
  const pk::nn::Model model = pk::nn::mlp("2-5-5-2", "gelu");
  const Tensor a = query_points(4, 2, 43), b = query_points(3, 2, 44);
  const Tensor w = init(model, 11);
  pk::ad::Tape tape;
  const Tensor fast = model_tangent_kernel(model, a, b, w, tape, KernelRoute::dense_grams);
  const Tensor slow = model_tangent_kernel(model, a, b, w, tape, KernelRoute::jacobians);
  ASSERT_EQ(fast.shape(), Shape::matrix(8, 6));
  const std::int64_t d = model.parameter_count();
  for (std::int64_t p = 0; p < 4; ++p)
    for (std::int64_t q = 0; q < 3; ++q) {
      const Tensor ja = pk::nn::sample_jacobian(model, TensorView(a.data() + 2 * p, Shape::vector(2)), w);
      const Tensor jb = pk::nn::sample_jacobian(model, TensorView(b.data() + 2 * q, Shape::vector(2)), w);
      for (std::int64_t c = 0; c < 2; ++c)
        for (std::int64_t c2 = 0; c2 < 2; ++c2) {
          double s = 0.0;
          for (std::int64_t i = 0; i < d; ++i) s += ja(c, i) * jb(c2, i);
          EXPECT_NEAR(fast(p * 2 + c, q * 2 + c2), s, 1e-13 * (1 + std::abs(s)));
          EXPECT_NEAR(slow(p * 2 + c, q * 2 + c2), s, 1e-13 * (1 + std::abs(s)));
        }
    }
}

TEST(TangentKernel, DenseGramRouteEqualsPerSampleRouteForEveryActivationAndShape) {
  const Tensor a = query_points(9, 3, 45), b = query_points(6, 3, 46);
  for (const char* activation : {"identity", "tanh", "relu", "sigmoid", "softplus", "gelu"})
    for (const char* widths : {"3-1", "3-4", "3-7-1", "3-7-5-4", "3-6-6-6-2"}) {
      const pk::nn::Model model = pk::nn::mlp(widths, activation);
      ASSERT_TRUE(pk::nn::dense_chain(model).has_value());
      const Tensor w = init(model, 12);
      pk::ad::Tape tape;
      for (const auto& [pa, pb] : {std::pair{&a, &b}, std::pair{&a, &a}}) {
        const Tensor fast = dense_tangent_kernel(model, *pa, *pb, w, tape);
        auto f = [&model](Var x, Var wv) { return model.forward(x, wv); };
        const Tensor slow = tangent_kernel(f, *pa, *pb, w, tape);
        ASSERT_EQ(fast.shape(), slow.shape());
        const double largest = max_abs(slow);
        ASSERT_GT(largest, 0.0);
        EXPECT_LE(pk::ad::max_abs_diff(fast, slow), 1e-12 * largest) << widths << " " << activation;
        // The automatic route takes the dense one for an MLP (its layer list is a dense chain).
        const Tensor automatic = model_tangent_kernel(model, *pa, *pb, w, tape);
        EXPECT_EQ(pk::ad::max_abs_diff(automatic, fast), 0.0);
      }
    }
}

TEST(TangentKernel, DenseGramRouteTakesLayeredDenseChainsThatAreNoMlp) {
  // Two activations in a row, a linear layer without one, an activation on the output, and a
  // flatten of image inputs: all dense chains, read off the layer list.
  for (const auto& [arch, input] :
       {std::pair<const char*, std::vector<std::int64_t>>{
            "linear(6),tanh,softplus,linear(5),linear(4),gelu,linear(2),sigmoid", {3}},
        {"flatten,linear(5),tanh,flatten,linear(3)", {1, 2, 2}}}) {
    SCOPED_TRACE(arch);
    const pk::nn::Model model = pk::nn::sequential(pk::nn::parse_architecture(arch, input));
    const Tensor a = query_points(7, model.input_dim(), 48), b = query_points(4, model.input_dim(), 49);
    const Tensor w = init(model, 14);
    pk::ad::Tape tape;
    const Tensor fast = model_tangent_kernel(model, a, b, w, tape, KernelRoute::dense_grams);
    const Tensor slow = model_tangent_kernel(model, a, b, w, tape, KernelRoute::jacobians);
    const double largest = max_abs(slow);
    ASSERT_GT(largest, 0.0);
    EXPECT_LE(pk::ad::max_abs_diff(fast, slow), 1e-12 * largest);
    EXPECT_EQ(pk::ad::max_abs_diff(model_tangent_kernel(model, a, b, w, tape), fast), 0.0);
  }
  // A conv net is no dense chain: the dense route refuses it, and the automatic one agrees with
  // the per-sample Jacobians.
  const pk::nn::Model conv =
      pk::nn::sequential(pk::nn::parse_architecture("conv2d(2,2),tanh,flatten,linear(2)", {1, 3, 3}));
  const Tensor a = query_points(3, 9, 50);
  const Tensor w = init(conv, 15);
  pk::ad::Tape tape;
  EXPECT_THROW(model_tangent_kernel(conv, a, a, w, tape, KernelRoute::dense_grams), std::invalid_argument);
  const Tensor slow = model_tangent_kernel(conv, a, a, w, tape, KernelRoute::jacobians);
  EXPECT_LE(pk::ad::max_abs_diff(model_tangent_kernel(conv, a, a, w, tape), slow), 1e-12 * max_abs(slow));
}

TEST(TangentKernel, DenseRouteIsRefusedForUserModelsAndAutomaticFallsBack) {
  const pk::nn::Model model = custom_tanh_model(2);
  ASSERT_FALSE(pk::nn::dense_chain(model).has_value());
  const Tensor a = query_points(3, 2, 47);
  const Tensor w = init(model, 13);
  pk::ad::Tape tape;
  EXPECT_THROW(model_tangent_kernel(model, a, a, w, tape, KernelRoute::dense_grams), std::invalid_argument);
  EXPECT_THROW(dense_tangent_kernel(model, a, a, w, tape), std::invalid_argument);
  const Tensor automatic = model_tangent_kernel(model, a, a, w, tape);
  const Tensor slow = model_tangent_kernel(model, a, a, w, tape, KernelRoute::jacobians);
  EXPECT_EQ(pk::ad::max_abs_diff(automatic, slow), 0.0);
}

TEST(TangentKernel, KernelGivesTheFirstOrderTermOfAGradientStep) {
  // F1(x) = J(x) dw with dw = -alpha sum_m J(x_m)^T L'_m, so F1(x) = -alpha sum_m K(x, x_m) L'_m:
  // the kernel and the forward-mode term agree.
  const pk::nn::Model model = pk::nn::mlp("3-6-6-2", "tanh");
  const pk::nn::Dataset data = regression_data(10, 3, 2, 48);
  const Tensor queries = query_points(4, 3, 49);
  const Tensor w = init(model, 14);
  const pk::nn::Loss loss(pk::nn::LossKind::mse);
  const Tensor lprime = loss.output_derivative(pk::nn::evaluate(model, data.inputs(), w), data.targets());
  const double alpha = 0.05;
  const Tensor dw = pk::nn::loss_gradient(model, loss, data, w);
  Tensor step(dw.shape());
  for (std::int64_t i = 0; i < dw.size(); ++i) step[i] = -alpha * dw[i];
  pk::ad::Tape tape;
  auto f = [&model](Var x, Var wv) { return model.forward(x, wv); };
  const FirstOrder fo = first_order_term(f, queries, w, step, tape);
  const Tensor k = model_tangent_kernel(model, queries, data.inputs(), w, tape);
  for (std::int64_t q = 0; q < 4; ++q)
    for (std::int64_t c = 0; c < 2; ++c) {
      double s = 0.0;
      for (std::int64_t m = 0; m < 10; ++m)
        for (std::int64_t c2 = 0; c2 < 2; ++c2) s -= alpha * k(q * 2 + c, m * 2 + c2) * lprime(m, c2);
      EXPECT_NEAR(fo.first_order(q, c), s, 1e-13 * (1 + std::abs(s)));
    }
}

}  // namespace
}  // namespace pk::kernel
