// Convolution and pooling beyond the op table: small cases worked by hand, a max-pool tie,
// PyTorch's own results (conv_fixtures.inc, written by make_conv_fixtures.py), a third derivative
// through a small convolutional net, and the errors for geometries and shapes that do not fit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "autodiff/autodiff.hpp"
#include "tests/autodiff/ad_harness.hpp"

namespace {

using namespace pk::ad;

void expect_values(TensorView got, const std::vector<double>& want, double tolerance,
                   const std::string& what) {
  ASSERT_EQ(got.size(), static_cast<std::int64_t>(want.size())) << what;
  for (std::int64_t i = 0; i < got.size(); ++i) {
    const double w = want[static_cast<std::size_t>(i)];
    EXPECT_LE(std::abs(got[i] - w), tolerance * std::max(1.0, std::abs(w)))
        << what << " element " << i << ": " << got[i] << ", expected " << w;
  }
}

// --- by hand ------------------------------------------------------------------------------------

// x = [1 2 3; 4 5 6; 7 8 9], w = [1 2; 3 4], b = 0.5. Each output is the window's taps times w:
// (0,0): 1 + 2*2 + 4*3 + 5*4 = 37, then 47, 67, 77. d sum(y)/dw sums each tap over the four
// windows; d sum(y)/dx counts, for each pixel, the weights of the windows covering it.
TEST(Conv, OneImageTwoByTwoKernelByHand) {
  Tape t;
  const Var x = t.variable(Tensor::matrix(1, 9, {1, 2, 3, 4, 5, 6, 7, 8, 9}));
  const Var w = t.variable(Tensor::matrix(1, 4, {1, 2, 3, 4}));
  const Var b = t.variable(Tensor::vector({0.5}));
  const Conv2dGeometry g{.channels = 1, .height = 3, .width = 3, .kernel_h = 2, .kernel_w = 2};
  const Var y = conv2d(x, w, b, g);
  EXPECT_EQ(y.shape(), Shape::matrix(1, 4));
  expect_values(y.value(), {37.5, 47.5, 67.5, 77.5}, 0.0, "y");
  const Var wrt[] = {x, w, b};
  const std::vector<Var> d = grad(sum(y), wrt);
  expect_values(d[0].value(), {1, 3, 2, 4, 10, 6, 3, 7, 4}, 0.0, "dx");
  expect_values(d[1].value(), {12, 16, 24, 28}, 0.0, "dw");
  expect_values(d[2].value(), {4}, 0.0, "db");
}

// The same image and kernel with padding 1 and stride 2: windows start at -1 and 1, so the first
// sees only x(0,0) under w(1,1), and the last the bottom-right 2 x 2 block.
TEST(Conv, PaddingAndStrideByHand) {
  Tape t;
  const Var x = t.variable(Tensor::matrix(1, 9, {1, 2, 3, 4, 5, 6, 7, 8, 9}));
  const Var w = t.variable(Tensor::matrix(1, 4, {1, 2, 3, 4}));
  const Conv2dGeometry g{.channels = 1,
                         .height = 3,
                         .width = 3,
                         .kernel_h = 2,
                         .kernel_w = 2,
                         .stride_h = 2,
                         .stride_w = 2,
                         .padding_h = 1,
                         .padding_w = 1};
  const Var y = conv2d(x, w, g);
  // (0,0): 1*4; (0,1): 2*3 + 3*4; (1,0): 4*2 + 7*4; (1,1): 5*1 + 6*2 + 8*3 + 9*4.
  expect_values(y.value(), {4, 18, 36, 77}, 0.0, "y");
  const Var wrt[] = {x, w};
  const std::vector<Var> d = grad(sum(y), wrt);
  // Stride 2 windows of size 2 do not overlap: each pixel is covered once.
  expect_values(d[0].value(), {4, 3, 4, 2, 1, 2, 4, 3, 4}, 0.0, "dx");
  // w(0,0) sees only x(1,1) = 5; w(0,1) sees x(1,0) and x(1,2) = 10; w(1,0): x(0,1), x(2,1) = 10;
  // w(1,1): x(0,0) + x(0,2) + x(2,0) + x(2,2) = 20.
  expect_values(d[1].value(), {5, 10, 10, 20}, 0.0, "dw");
}

// [1 3 3 0; 3 2 5 5] pooled 2 x 2: the first window's maximum 3 appears twice and the second's 5
// twice; as in PyTorch the derivative goes to the first in row-major order (elements 1 and 6).
TEST(Conv, MaxPoolTieRoutesToTheFirstMaximum) {
  Tape t;
  const Var x = t.variable(Tensor::matrix(1, 8, {1, 3, 3, 0, 3, 2, 5, 5}));
  const Var y = max_pool2d(x, {1, 2, 4}, 2);
  expect_values(y.value(), {3, 5}, 0.0, "y");
  const Var g = grad(sum(mul(y, t.constant(Tensor::matrix(1, 2, {10, 20})))), x);
  expect_values(g.value(), {0, 10, 0, 0, 0, 0, 20, 0}, 0.0, "dx");
  // sum(y^2) has Hessian 2 on the two argmax pixels and 0 elsewhere, through double backward
  // (scatter_add's adjoint is gather) and through both hvp routes of the harness.
  Tensor h(Shape::matrix(8, 8));
  h(1, 1) = 2.0;
  h(6, 6) = 2.0;
  pk::ad::test::expect_ad("sum(max_pool^2) at a tie",
                          [](Var v) {
                            return sum(square(max_pool2d(v, {1, 2, 4}, 2)));
                          },
                          Tensor::matrix(1, 8, {1, 3, 3, 0, 3, 2, 5, 5}),
                          {.finite_differences = false, .hessian = h});
}

// [1 2 3; 4 5 6] averaged over 2 x 2 windows with stride 1: (1+2+4+5)/4 = 3 and (2+3+5+6)/4 = 4.
// Each pixel's derivative of 10 y0 + 20 y1 is a quarter of the seeds of the windows covering it:
// the middle column is in both.
TEST(Conv, AvgPoolOverlappingWindowsByHand) {
  Tape t;
  const Var x = t.variable(Tensor::matrix(1, 6, {1, 2, 3, 4, 5, 6}));
  const Var y = avg_pool2d(x, {1, 2, 3}, 2, 1);
  expect_values(y.value(), {3, 4}, 0.0, "y");
  const Var g = grad(sum(mul(y, t.constant(Tensor::matrix(1, 2, {10, 20})))), x);
  expect_values(g.value(), {2.5, 7.5, 5, 2.5, 7.5, 5}, 0.0, "dx");
  // Stride 2 over two channels of 2 x 2: one window each, the channel's mean.
  const Var z = avg_pool2d(t.variable(Tensor::matrix(1, 8, {1, 2, 3, 4, -1, -1, 0, 6})), {2, 2, 2}, 2);
  expect_values(z.value(), {2.5, 1}, 0.0, "two channels");
}

TEST(Conv, MaxPoolPropagatesNan) {
  Tape t;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Var y = max_pool2d(t.variable(Tensor::matrix(1, 4, {1, nan, 7, 2})), {1, 2, 2}, 2);
  EXPECT_TRUE(std::isnan(y.item()));
}

// --- against PyTorch ----------------------------------------------------------------------------

const char* const kFixtures[] = {
#include "tests/autodiff/conv_fixtures.inc"
};

struct Fixture {
  std::string op, name;
  std::vector<std::int64_t> geometry;
  std::map<std::string, std::vector<double>> tensors;
};

Fixture parse(const char* text) {
  std::istringstream in(text);
  Fixture f;
  std::string word;
  in >> word >> f.op >> f.name;
  EXPECT_EQ(word, "case");
  in >> word;
  EXPECT_EQ(word, "geometry");
  std::string line;
  std::getline(in, line);
  std::istringstream g(line);
  for (std::int64_t v; g >> v;) f.geometry.push_back(v);
  while (in >> word) {
    std::size_t n = 0;
    in >> n;
    std::vector<double>& v = f.tensors[word];
    for (std::size_t i = 0; i < n; ++i) {
      std::string number;
      in >> number;
      v.push_back(std::strtod(number.c_str(), nullptr));
    }
  }
  return f;
}

Tensor matrix_of(const std::vector<double>& v, std::int64_t rows) {
  return Tensor::matrix(rows, static_cast<std::int64_t>(v.size()) / rows, v);
}

// Values and gradients (against PyTorch's random output adjoint gy) to 1e-12 relative.
TEST(Conv, AgreesWithPyTorch) {
  constexpr double kTolerance = 1e-12;
  int conv = 0, pools = 0;
  for (const char* text : kFixtures) {
    const Fixture f = parse(text);
    SCOPED_TRACE(f.op + " " + f.name);
    const std::vector<std::int64_t>& g = f.geometry;
    Tape t;
    const Var x = t.variable(matrix_of(f.tensors.at("x"), g[0]));
    Var y;
    std::vector<Var> wrt = {x};
    if (f.op == "conv2d") {
      ++conv;
      const Conv2dGeometry geo{.channels = g[1],
                               .height = g[2],
                               .width = g[3],
                               .kernel_h = g[5],
                               .kernel_w = g[6],
                               .stride_h = g[7],
                               .stride_w = g[8],
                               .padding_h = g[9],
                               .padding_w = g[10],
                               .dilation_h = g[11],
                               .dilation_w = g[12]};
      const Var w = t.variable(matrix_of(f.tensors.at("weight"), g[4]));
      wrt.push_back(w);
      if (g[13] != 0) {
        const Var b = t.variable(Tensor::vector(f.tensors.at("bias")));
        wrt.push_back(b);
        y = conv2d(x, w, b, geo);
      } else {
        y = conv2d(x, w, geo);
      }
    } else {
      ++pools;
      const ImageShape im{g[1], g[2], g[3]};
      y = f.op == "avg_pool2d" ? avg_pool2d(x, im, g[4], g[5]) : max_pool2d(x, im, g[4], g[5]);
    }
    expect_values(y.value(), f.tensors.at("y"), kTolerance, "y");
    const Var gy = t.constant(matrix_of(f.tensors.at("gy"), g[0]));
    const std::vector<Var> d = grad(y, wrt, {.create_graph = false, .seed = gy});
    expect_values(d[0].value(), f.tensors.at("grad_x"), kTolerance, "grad_x");
    if (d.size() > 1) expect_values(d[1].value(), f.tensors.at("grad_weight"), kTolerance, "grad_weight");
    if (d.size() > 2) expect_values(d[2].value(), f.tensors.at("grad_bias"), kTolerance, "grad_bias");
  }
  EXPECT_EQ(conv, 4);
  EXPECT_EQ(pools, 4);
}

// --- a third derivative through a small convolutional net -----------------------------------------

// f(image, W, b) = sum(avg_pool(tanh(conv(image; W, b, 3 x 3, padding 1)), 2)) for a 1 x 4 x 4
// image and 2 output channels, every input differentiated. The third derivative contracted with
// u and v, grad(u . grad(v . grad f)), by three nested backward passes, against central
// differences of the Hessian-vector product H v along u. Differences of a quantity the second-order
// rules compute check the third-order one independently of it.
TEST(Conv, ThirdDerivativeThroughASmallNetMatchesDifferencesOfHvps) {
  const Conv2dGeometry geo{
      .channels = 1, .height = 4, .width = 4, .kernel_h = 3, .kernel_w = 3, .padding_h = 1, .padding_w = 1};
  auto net = [geo](Var w) {
    const Var image = reshape(slice(w, 0, 16), Shape::matrix(1, 16));
    const Var weight = reshape(slice(w, 16, 34), Shape::matrix(2, 9));
    const Var bias = slice(w, 34, 36);
    return sum(avg_pool2d(tanh(conv2d(image, weight, bias, geo)), {2, 4, 4}, 2));
  };
  const Tensor w0 = pk::ad::test::random_tensor(Shape::vector(36), {-1.0, 1.0}, 11);
  const Tensor u = pk::ad::test::random_tensor(Shape::vector(36), {-1.0, 1.0}, 12);
  const Tensor v = pk::ad::test::random_tensor(Shape::vector(36), {-1.0, 1.0}, 13);

  Tape t;
  const Var w = t.variable(w0);
  const Var g1 = grad(net(w), w, {.create_graph = true, .seed = {}});
  const Var hv = grad(dot(g1, t.constant(v)), w, {.create_graph = true, .seed = {}});
  const Tensor third(grad(dot(hv, t.constant(u)), w).value());

  const double h = 1e-4;
  Tensor up = w0, down = w0;
  for (std::int64_t i = 0; i < 36; ++i) {
    up[i] += h * u[i];
    down[i] -= h * u[i];
  }
  auto f = [&](Var x) { return net(x); };
  const Tensor hv_up = hvp(f, up, v), hv_down = hvp(f, down, v);
  double scale = 0.0;
  for (std::int64_t i = 0; i < 36; ++i) scale = std::max(scale, std::abs(third[i]));
  ASSERT_GT(scale, 1e-3) << "the third derivative should not vanish here";
  for (std::int64_t i = 0; i < 36; ++i) {
    const double numeric = (hv_up[i] - hv_down[i]) / (2.0 * h);
    EXPECT_NEAR(third[i], numeric, 1e-6 * std::max(1.0, scale)) << "element " << i;
  }
  // Forward over reverse over reverse: the tangent of the recorded Hessian-vector product along
  // u is the same contraction (the third derivative is symmetric).
  Tape t2;
  const Var wt = t2.variable(w0, u);
  const Var g2 = grad(net(wt), wt, {.create_graph = true, .seed = {}});
  const Var hv2 = grad(dot(g2, t2.constant(v)), wt, {.create_graph = true, .seed = {}});
  const Tensor tangent = hv2.tangent();
  for (std::int64_t i = 0; i < 36; ++i)
    EXPECT_NEAR(tangent[i], third[i], 1e-10 * std::max(1.0, scale)) << "element " << i;
}

// --- geometries and shapes that do not fit ------------------------------------------------------

template <class Call>
void expect_shape_error(const std::string& op, const std::vector<std::string>& mentions, Call call) {
  try {
    call();
    ADD_FAILURE() << op << ": no exception";
  } catch (const ShapeError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(op), std::string::npos) << m;
    for (const std::string& s : mentions) EXPECT_NE(m.find(s), std::string::npos) << s << " in " << m;
  } catch (const std::exception& e) {
    ADD_FAILURE() << op << ": threw something other than ShapeError: " << e.what();
  }
}

TEST(Conv, BadGeometriesAndShapesThrowShapeErrorNamingTheOp) {
  Tape t;
  const Var x = t.variable(Tensor(Shape::matrix(2, 70), 1.0));
  const Var w = t.variable(Tensor(Shape::matrix(3, 18), 1.0));
  const Conv2dGeometry ok{.channels = 2, .height = 5, .width = 7, .kernel_h = 3, .kernel_w = 3};
  auto with = [ok](auto edit) {
    Conv2dGeometry g = ok;
    edit(g);
    return g;
  };
  expect_shape_error("conv2d", {"(3, 17)"},
                     [&] { conv2d(x, t.variable(Tensor(Shape::matrix(3, 17), 1.0)), ok); });
  expect_shape_error("conv2d", {"(4)", "(3)"},
                     [&] { conv2d(x, w, t.variable(Tensor(Shape::vector(4), 1.0)), ok); });
  expect_shape_error("conv2d", {"(2, 71)"},
                     [&] { conv2d(t.variable(Tensor(Shape::matrix(2, 71), 1.0)), w, ok); });
  expect_shape_error("conv2d", {"(70)"}, [&] { conv2d(t.variable(Tensor(Shape::vector(70), 1.0)), w, ok); });
  expect_shape_error("conv2d", {"stride 0"},
                     [&] { conv2d(x, w, with([](Conv2dGeometry& g) { g.stride_h = 0; })); });
  expect_shape_error("conv2d", {"padding 0 x -1"},
                     [&] { conv2d(x, w, with([](Conv2dGeometry& g) { g.padding_w = -1; })); });
  expect_shape_error("conv2d", {"dilation 1 x 0"},
                     [&] { conv2d(x, w, with([](Conv2dGeometry& g) { g.dilation_w = 0; })); });
  expect_shape_error("conv2d", {"larger than the padded image"},
                     [&] { conv2d(x, w, with([](Conv2dGeometry& g) { g.dilation_h = 3; })); });
  // Channel-major: x must be C rows of whole images (here 2 x (N*35)).
  expect_shape_error("conv2d_channel_major", {"(2, 71)", "channel-major"},
                     [&] { conv2d_channel_major(t.variable(Tensor(Shape::matrix(2, 71), 1.0)), w, ok); });
  expect_shape_error("conv2d_channel_major", {"(3, 70)", "channel-major"},
                     [&] { conv2d_channel_major(t.variable(Tensor(Shape::matrix(3, 70), 1.0)), w, ok); });
  expect_shape_error("conv2d_channel_major", {"(4)", "(3)"},
                     [&] { conv2d_channel_major(x, w, t.variable(Tensor(Shape::vector(4), 1.0)), ok); });
  expect_shape_error("unfold", {"2^31"},
                     [&] { unfold(x, with([](Conv2dGeometry& g) { g.kernel_w = std::int64_t{1} << 40; })); });
  expect_shape_error("unfold", {"Shape::kMaxSize"}, [&] {
    // Every field below 2^31, but the window count times the batch overflows.
    const std::int64_t big = (std::int64_t{1} << 31) - 1;
    unfold(t.variable(Tensor(Shape::matrix(1, 1), 1.0)),
           {.height = 1, .width = 1, .kernel_h = 1, .kernel_w = 1, .padding_h = big, .padding_w = big});
  });
  expect_shape_error("fold", {"(18, 7)"}, [&] { fold(t.variable(Tensor(Shape::matrix(18, 7), 1.0)), ok); });
  expect_shape_error("fold", {"(17, 30)"}, [&] { fold(t.variable(Tensor(Shape::matrix(17, 30), 1.0)), ok); });
  expect_shape_error("transpose_blocks", {"(2, 70)"}, [&] { transpose_blocks(x, 3, 4); });
  expect_shape_error("transpose_blocks", {"(2, 70)"}, [&] { transpose_blocks(x, -7, -10); });
  expect_shape_error("transpose_blocks", {"(2, 70)"}, [&] { transpose_blocks(x, 7, 10, 0); });
  expect_shape_error("transpose_blocks", {"(2, 70)"}, [&] { transpose_blocks(x, 7, 5, 3); });
  expect_shape_error("avg_pool2d", {"(2, 70)"}, [&] { avg_pool2d(x, {2, 5, 6}, 2); });
  expect_shape_error("avg_pool2d", {"kernel 6 x 6"}, [&] { avg_pool2d(x, {2, 5, 7}, 6); });
  expect_shape_error("avg_pool2d", {"stride -1"}, [&] { avg_pool2d(x, {2, 5, 7}, 2, -1); });
  expect_shape_error("avg_pool2d_adjoint", {"(2, 70)"}, [&] { avg_pool2d_adjoint(x, {2, 5, 7}, 2); });
  expect_shape_error("max_pool2d", {"(2, 70)"}, [&] { max_pool2d(x, {7, 5, 2}, 3); });
  expect_shape_error("gather", {"(2, 70)"}, [&] { gather(x, t.constant(Tensor::vector({0, 140}))); });
  expect_shape_error("gather", {"(2, 70)"}, [&] { gather(x, t.constant(Tensor::vector({0.5}))); });
  expect_shape_error("scatter_add", {"(3)", "(2)"}, [&] {
    scatter_add(t.variable(Tensor::vector({1, 2, 3})), t.constant(Tensor::vector({0, 1})), Shape::vector(4));
  });
  expect_shape_error("scatter_add", {"(4)"}, [&] {
    scatter_add(t.variable(Tensor::vector({1, 2})), t.constant(Tensor::vector({0, -1})), Shape::vector(4));
  });
}

// Rewinding the tape past a convolution frees its geometry record with its nodes; recording again
// reuses the space, and a derivative taken afterwards must read the new record.
TEST(Conv, GeometryRecordsFollowTheTapeThroughRewind) {
  Tape t;
  const Var x = t.variable(Tensor::matrix(1, 9, {1, 2, 3, 4, 5, 6, 7, 8, 9}));
  const Var w = t.variable(Tensor::matrix(1, 4, {1, 2, 3, 4}));
  const Tape::Mark m = t.mark();
  conv2d(x, w,
         {.channels = 1,
          .height = 3,
          .width = 3,
          .kernel_h = 2,
          .kernel_w = 2,
          .stride_h = 2,
          .stride_w = 2,
          .padding_h = 1,
          .padding_w = 1});
  t.rewind(m);
  const Var y = conv2d(x, w, {.channels = 1, .height = 3, .width = 3, .kernel_h = 2, .kernel_w = 2});
  expect_values(grad(sum(y), x).value(), {1, 3, 2, 4, 10, 6, 3, 7, 4}, 0.0, "dx");
}

}  // namespace
