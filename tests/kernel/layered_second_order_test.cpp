// The Taylor-mode F1 and F2 of layered models against the batched double backward of
// second_order_term, on convolutions with stride, padding and odd sizes, average and max
// pooling, dense heads, smooth and piecewise-linear activations; against a second-order finite
// difference of the model along the step; and its refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernel/layered_second_order.hpp"
#include "kernel/step_terms.hpp"
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
    {{3, 5, 5}, "tanh,conv2d(2,3),gelu,flatten,linear(2),tanh"},
    {{1, 5, 5}, "avg_pool2d(2,stride=1),conv2d(1,3,padding=2),tanh,max_pool2d(3,stride=2),flatten,linear(1)"},
};

Tensor scaled(const Tensor& t, double c) {
  Tensor out(t);
  for (double& v : out.span()) v *= c;
  return out;
}

// |a - b| <= tol * max(max|b|, floor).
void expect_close(const Tensor& a, const Tensor& b, double tol, double floor, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  double scale = floor, diff = 0.0;
  for (std::int64_t i = 0; i < b.size(); ++i) {
    scale = std::max(scale, std::abs(b[i]));
    diff = std::max(diff, std::abs(a[i] - b[i]));
  }
  EXPECT_LE(diff, tol * scale) << what << ": largest difference " << diff << " at scale " << scale;
}

TEST(LayeredSecondOrder, EqualsTheDoubleBackward) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.layers);
    const pk::nn::Architecture arch = pk::nn::parse_architecture(c.layers, c.input);
    const pk::nn::Model model = pk::nn::sequential(arch);
    const Tensor w = init(model, 4), queries = query_points(6, model.input_dim(), 21);
    const Tensor dw = scaled(init(model, 5), 0.3);
    auto f = [&model](Var x, Var wv) { return model.forward(x, wv); };
    pk::ad::Tape tape;
    const SecondOrder generic = second_order_term(f, queries, w, dw, tape);
    const SecondOrder taylor = layered_second_order_term(arch, model, queries, w, dw, tape);
    expect_close(taylor.first_order, generic.first_order, 1e-12, 0.0, "F1");
    // F2 vanishes for a piecewise-linear net; its scale is then that of F1.
    double f1_scale = 0.0;
    for (double v : generic.first_order.span()) f1_scale = std::max(f1_scale, std::abs(v));
    expect_close(taylor.second_order, generic.second_order, 1e-12, f1_scale, "F2");
  }
}

TEST(LayeredSecondOrder, MatchesSecondDifferencesAlongTheStep) {
  const pk::nn::Architecture arch = pk::nn::parse_architecture(kCases[1].layers, kCases[1].input);
  const pk::nn::Model model = pk::nn::sequential(arch);
  const Tensor w = init(model, 7), queries = query_points(4, model.input_dim(), 3);
  const Tensor dw = scaled(init(model, 8), 0.5);
  pk::ad::Tape tape;
  const SecondOrder t = layered_second_order_term(arch, model, queries, w, dw, tape);
  const double h = 1e-3;
  Tensor up(w), down(w);
  for (std::int64_t i = 0; i < w.size(); ++i) {
    up[i] += h * dw[i];
    down[i] -= h * dw[i];
  }
  const Tensor fu = pk::nn::evaluate(model, queries, up), f0 = pk::nn::evaluate(model, queries, w),
               fd = pk::nn::evaluate(model, queries, down);
  for (std::int64_t i = 0; i < f0.size(); ++i) {
    EXPECT_NEAR(t.first_order[i], (fu[i] - fd[i]) / (2 * h), 1e-6);
    EXPECT_NEAR(t.second_order[i], 0.5 * (fu[i] - 2 * f0[i] + fd[i]) / (h * h), 1e-5);
  }
}

TEST(LayeredSecondOrder, RefusesAnotherModelAndWrongShapes) {
  const pk::nn::Architecture arch = pk::nn::parse_architecture(kCases[0].layers, kCases[0].input);
  const pk::nn::Architecture other = pk::nn::parse_architecture(kCases[4].layers, kCases[4].input);
  const pk::nn::Model model = pk::nn::sequential(arch);
  const Tensor w = init(model, 1), queries = query_points(3, model.input_dim(), 2);
  pk::ad::Tape tape;
  EXPECT_THROW(layered_second_order_term(other, model, queries, w, w, tape), std::invalid_argument);
  EXPECT_THROW(layered_second_order_term(arch, model, queries, w, Tensor(Shape::vector(3)), tape),
               pk::ad::ShapeError);
  EXPECT_THROW(layered_second_order_term(arch, model, query_points(3, 5, 2), w, w, tape), pk::ad::ShapeError);
}

}  // namespace
}  // namespace pk::kernel
