// The structured tangent kernel of layered models with convolutions against the generic
// per-sample-Jacobian route: K(A, A) and K(A, B) for strides, padding, odd image sizes, several
// channels, max and average pooling, dense layers after the convolutions and none, an activation
// after the last layer; that model_tangent_kernel takes it on its own; and its refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernel/conv_tangent_kernel.hpp"
#include "kernel/model_tangent_kernel.hpp"
#include "kernel_test_support.hpp"

namespace pk::kernel {
namespace {

using namespace testing;

struct Case {
  std::vector<std::int64_t> input;
  const char* layers;
};

const Case kCases[] = {
    {{1, 8, 8},
     "conv2d(4,3,padding=1),tanh,avg_pool2d(2),conv2d(8,3,padding=1),tanh,avg_pool2d(2),flatten,linear(10)"},
    {{2, 7, 5}, "conv2d(3,3,stride=2,padding=1),softplus,flatten,linear(4),tanh,linear(3)"},
    {{1, 6, 6}, "conv2d(2,2),relu,max_pool2d(2,stride=1),conv2d(3,2,stride=2),sigmoid,flatten"},
    {{3, 5, 5}, "conv2d(2,3),gelu,flatten,linear(2),tanh"},
    {{1, 5, 5}, "conv2d(1,5,padding=2),tanh,avg_pool2d(3,stride=2),flatten,linear(1)"},
};

// |a - b| <= tol * max|b|: the two routes sum in different orders, so entries near zero agree
// only relative to the scale of the kernel.
void expect_close(const Tensor& a, const Tensor& b, double tol, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  double scale = 0.0, diff = 0.0;
  for (std::int64_t i = 0; i < b.size(); ++i) {
    scale = std::max(scale, std::abs(b[i]));
    diff = std::max(diff, std::abs(a[i] - b[i]));
  }
  EXPECT_GT(scale, 0.0) << what;
  EXPECT_LE(diff, tol * scale) << what << ": largest difference " << diff << " of a largest entry " << scale;
}

TEST(ConvTangentKernel, EqualsThePerSampleJacobianRoute) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.layers);
    const pk::nn::Architecture arch = pk::nn::parse_architecture(c.layers, c.input);
    const pk::nn::Model model = pk::nn::sequential(arch);
    const std::int64_t f = model.input_dim();
    const Tensor w = init(model, 5), a = query_points(7, f, 11), b = query_points(4, f, 12);
    pk::ad::Tape tape;
    for (const auto& [x, y] : {std::pair{&a, &a}, std::pair{&a, &b}}) {
      const Tensor generic = model_tangent_kernel(model, *x, *y, w, tape, KernelRoute::jacobians);
      const Tensor structured = conv_tangent_kernel(arch, model, *x, *y, w, tape);
      expect_close(structured, generic, 1e-12, x == y ? "K(A, A)" : "K(A, B)");
      // The automatic route is this one.
      const Tensor automatic = model_tangent_kernel(model, *x, *y, w, tape);
      ASSERT_EQ(automatic.shape(), structured.shape());
      for (std::int64_t i = 0; i < automatic.size(); ++i) ASSERT_EQ(automatic[i], structured[i]);
    }
  }
}

TEST(ConvTangentKernel, KAIsSymmetric) {
  const pk::nn::Architecture arch = pk::nn::parse_architecture(kCases[1].layers, kCases[1].input);
  const pk::nn::Model model = pk::nn::sequential(arch);
  const Tensor w = init(model, 8), a = query_points(6, model.input_dim(), 3);
  pk::ad::Tape tape;
  const Tensor k = conv_tangent_kernel(arch, model, a, a, w, tape);
  const std::int64_t n = k.shape().dim(0);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < i; ++j) EXPECT_EQ(k(i, j), k(j, i));
}

TEST(ConvTangentKernel, RefusesAModelOfAnotherArchitectureAndWrongPoints) {
  const pk::nn::Architecture arch = pk::nn::parse_architecture(kCases[0].layers, kCases[0].input);
  const pk::nn::Architecture other = pk::nn::parse_architecture(kCases[4].layers, kCases[4].input);
  EXPECT_TRUE(has_convolutions(arch));
  EXPECT_FALSE(has_convolutions(pk::nn::parse_architecture("linear(3),tanh,linear(1)", {4})));
  const pk::nn::Model model = pk::nn::sequential(arch);
  const Tensor w = init(model, 1), a = query_points(3, model.input_dim(), 2);
  pk::ad::Tape tape;
  EXPECT_THROW(conv_tangent_kernel(other, model, a, a, w, tape), std::invalid_argument);
  const Tensor narrow = query_points(3, model.input_dim() - 1, 2);
  EXPECT_THROW(conv_tangent_kernel(arch, model, narrow, narrow, w, tape), pk::ad::ShapeError);
}

}  // namespace
}  // namespace pk::kernel
