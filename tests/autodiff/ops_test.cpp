// Every op in ops.hpp through the shared harness (ad_harness.hpp) at seeded random points, at its
// edge cases, and with operands of shapes it cannot combine. An op's entry in `op_cases` names
// its operand shapes, where to draw their elements, how to call it, and the same function in
// plain double arithmetic; adding an op is adding such an entry.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <numbers>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "autodiff/autodiff.hpp"
#include "tests/autodiff/ad_harness.hpp"

namespace {

using namespace pk::ad;
using pk::ad::test::AdOptions;
using pk::ad::test::Domain;
using pk::ad::test::expect_ad;

Shape S() { return Shape::scalar(); }
Shape V(std::int64_t n) { return Shape::vector(n); }
Shape M(std::int64_t r, std::int64_t c) { return Shape::matrix(r, c); }

// --- the ops in plain double arithmetic, written without the library's loops ------------------

namespace ref {

template <class F>
Tensor map(const Tensor& x, F f) {
  Tensor y(x.shape());
  for (std::int64_t i = 0; i < x.size(); ++i) y[i] = f(x[i]);
  return y;
}

// NumPy broadcasting for rank <= 2: a vector is a row, an extent of 1 stretches.
Shape broadcast(const Shape& a, const Shape& b) {
  const int rank = std::max(a.rank, b.rank);
  const std::int64_t rows = std::max(a.as_rows(), b.as_rows());
  const std::int64_t cols = std::max(a.as_cols(), b.as_cols());
  return rank == 0 ? S() : rank == 1 ? V(cols) : M(rows, cols);
}

double at(const Tensor& x, std::int64_t r, std::int64_t c) {
  const std::int64_t rows = x.shape().as_rows(), cols = x.shape().as_cols();
  return x[(rows == 1 ? 0 : r) * cols + (cols == 1 ? 0 : c)];
}

template <class F>
Tensor zip(const Tensor& a, const Tensor& b, F f) {
  Tensor y(broadcast(a.shape(), b.shape()));
  const std::int64_t cols = y.shape().as_cols();
  for (std::int64_t r = 0; r < y.shape().as_rows(); ++r)
    for (std::int64_t c = 0; c < cols; ++c) y[r * cols + c] = f(at(a, r, c), at(b, r, c));
  return y;
}

Tensor broadcast_to(const Tensor& x, Shape s) {
  return zip(x, Tensor(s), [](double a, double) { return a; });
}

Tensor sum_to(const Tensor& x, Shape s) {
  Tensor y(s);
  const std::int64_t rows = s.as_rows(), cols = s.as_cols();
  for (std::int64_t r = 0; r < x.shape().as_rows(); ++r)
    for (std::int64_t c = 0; c < x.shape().as_cols(); ++c)
      y[(rows == 1 ? 0 : r) * cols + (cols == 1 ? 0 : c)] += x[r * x.shape().as_cols() + c];
  return y;
}

double element(const Tensor& m, bool transposed, std::int64_t i, std::int64_t j) {
  return transposed ? m(j, i) : m(i, j);
}

Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const std::int64_t m = ta ? a.shape().dim(1) : a.shape().dim(0);
  const std::int64_t k = ta ? a.shape().dim(0) : a.shape().dim(1);
  const std::int64_t n = tb ? b.shape().dim(0) : b.shape().dim(1);
  Tensor c(M(m, n));
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t p = 0; p < k; ++p) c(i, j) += element(a, ta, i, p) * element(b, tb, p, j);
  return c;
}

// NumPy's matmul: a vector is a row on the left and a column on the right, and its axis is
// dropped from the result.
Tensor matmul(const Tensor& a, const Tensor& b) {
  const Tensor am = a.shape().rank == 1 ? a.reshaped(M(1, a.size())) : a;
  const Tensor bm = b.shape().rank == 1 ? b.reshaped(M(b.size(), 1)) : b;
  const Tensor c = matmul(am, bm, false, false);
  if (a.shape().rank == 1 && b.shape().rank == 1) return c.reshaped(S());
  if (a.shape().rank == 1 || b.shape().rank == 1) return c.reshaped(V(c.size()));
  return c;
}

Tensor transpose(const Tensor& x) {
  if (x.shape().rank < 2) return x;
  Tensor y(M(x.shape().dim(1), x.shape().dim(0)));
  for (std::int64_t r = 0; r < x.shape().dim(0); ++r)
    for (std::int64_t c = 0; c < x.shape().dim(1); ++c) y(c, r) = x(r, c);
  return y;
}

// Each line along `axis` (a whole vector; a column of a matrix for axis 0, a row for axis 1)
// reduced by `line`, which sees the line's elements in long double.
template <class Line>
Tensor reduce(const Tensor& x, int axis, Line line) {
  std::vector<long double> buf;
  if (x.shape().rank < 2) {
    for (std::int64_t i = 0; i < x.size(); ++i) buf.push_back(x[i]);
    return Tensor::scalar(static_cast<double>(line(buf)));
  }
  const std::int64_t rows = x.shape().dim(0), cols = x.shape().dim(1);
  const std::int64_t lines = axis == 0 ? cols : rows, len = axis == 0 ? rows : cols;
  Tensor y(V(lines));
  for (std::int64_t l = 0; l < lines; ++l) {
    buf.clear();
    for (std::int64_t j = 0; j < len; ++j) buf.push_back(axis == 0 ? x(j, l) : x(l, j));
    y[l] = static_cast<double>(line(buf));
  }
  return y;
}

long double line_sum(const std::vector<long double>& v) {
  long double s = 0;
  for (long double e : v) s += e;
  return s;
}

// Directly, without the maximum factored out: long double reaches e^11000, so |x| = 800 is safe.
long double line_logsumexp(const std::vector<long double>& v) {
  long double s = 0;
  for (long double e : v) s += std::exp(e);
  return std::log(s);
}

Tensor sum(const Tensor& x, int axis) { return reduce(x, axis, line_sum); }
Tensor mean(const Tensor& x, int axis) {
  return reduce(x, axis, [](const std::vector<long double>& v) {
    return line_sum(v) / static_cast<long double>(v.size());
  });
}
Tensor logsumexp(const Tensor& x, int axis) { return reduce(x, axis, line_logsumexp); }

Tensor softmax(const Tensor& x, int axis) {
  const Tensor lse = logsumexp(x, axis);
  Tensor y(x.shape());
  const std::int64_t cols = x.shape().as_cols();
  for (std::int64_t r = 0; r < x.shape().as_rows(); ++r)
    for (std::int64_t c = 0; c < cols; ++c) {
      const double l = x.shape().rank < 2 ? lse.item() : axis == 0 ? lse[c] : lse[r];
      y[r * cols + c] = static_cast<double>(
          std::exp(static_cast<long double>(x[r * cols + c]) - static_cast<long double>(l)));
    }
  return y;
}

// Elements [begin, end) along `axis`.
Tensor slice(const Tensor& x, int axis, std::int64_t begin, std::int64_t end) {
  if (x.shape().rank == 1) {
    Tensor y(V(end - begin));
    for (std::int64_t i = begin; i < end; ++i) y[i - begin] = x[i];
    return y;
  }
  const std::int64_t rows = x.shape().dim(0), cols = x.shape().dim(1);
  Tensor y(axis == 0 ? M(end - begin, cols) : M(rows, end - begin));
  for (std::int64_t r = 0; r < y.shape().dim(0); ++r)
    for (std::int64_t c = 0; c < y.shape().dim(1); ++c)
      y(r, c) = axis == 0 ? x(r + begin, c) : x(r, c + begin);
  return y;
}

Tensor pad(const Tensor& x, int axis, std::int64_t before, std::int64_t after) {
  if (x.shape().rank == 1) {
    Tensor y(V(x.size() + before + after));
    for (std::int64_t i = 0; i < x.size(); ++i) y[i + before] = x[i];
    return y;
  }
  const std::int64_t rows = x.shape().dim(0), cols = x.shape().dim(1);
  Tensor y(axis == 0 ? M(rows + before + after, cols) : M(rows, cols + before + after));
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) (axis == 0 ? y(r + before, c) : y(r, c + before)) = x(r, c);
  return y;
}

Tensor concatenate(std::span<const Tensor> xs, int axis) {
  if (xs[0].shape().rank == 1) {
    std::vector<double> all;
    for (const Tensor& x : xs) all.insert(all.end(), x.span().begin(), x.span().end());
    return Tensor::vector(all);
  }
  std::int64_t rows = 0, cols = 0;
  for (const Tensor& x : xs) {
    rows = axis == 0 ? rows + x.shape().dim(0) : x.shape().dim(0);
    cols = axis == 1 ? cols + x.shape().dim(1) : x.shape().dim(1);
  }
  Tensor y(M(rows, cols));
  std::int64_t offset = 0;
  for (const Tensor& x : xs) {
    for (std::int64_t r = 0; r < x.shape().dim(0); ++r)
      for (std::int64_t c = 0; c < x.shape().dim(1); ++c)
        (axis == 0 ? y(r + offset, c) : y(r, c + offset)) = x(r, c);
    offset += x.shape().dim(axis);
  }
  return y;
}

// Convolution and pooling straight from their definitions, one output element at a time.
// The input pixel a window tap reads, or -1 in the padding.
std::int64_t tap(const Conv2dGeometry& g, std::int64_t c, std::int64_t oh, std::int64_t ow, std::int64_t i,
                 std::int64_t j) {
  const std::int64_t h = oh * g.stride_h - g.padding_h + i * g.dilation_h;
  const std::int64_t w = ow * g.stride_w - g.padding_w + j * g.dilation_w;
  if (h < 0 || h >= g.height || w < 0 || w >= g.width) return -1;
  return (c * g.height + h) * g.width + w;
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* b, const Conv2dGeometry& g) {
  const std::int64_t n = x.shape().dim(0), out = w.shape().dim(0);
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width();
  Tensor y(M(n, out * oh_n * ow_n));
  for (std::int64_t im = 0; im < n; ++im)
    for (std::int64_t o = 0; o < out; ++o)
      for (std::int64_t oh = 0; oh < oh_n; ++oh)
        for (std::int64_t ow = 0; ow < ow_n; ++ow) {
          long double s = b ? (*b)[o] : 0.0;
          for (std::int64_t c = 0; c < g.channels; ++c)
            for (std::int64_t i = 0; i < g.kernel_h; ++i)
              for (std::int64_t j = 0; j < g.kernel_w; ++j) {
                const std::int64_t at = tap(g, c, oh, ow, i, j);
                if (at >= 0)
                  s += static_cast<long double>(w(o, (c * g.kernel_h + i) * g.kernel_w + j)) * x(im, at);
              }
          y(im, (o * oh_n + oh) * ow_n + ow) = static_cast<double>(s);
        }
  return y;
}

Tensor unfold(const Tensor& x, const Conv2dGeometry& g) {
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width();
  const std::int64_t taps = g.channels * g.kernel_h * g.kernel_w;
  Tensor cols(M(taps, x.shape().dim(0) * oh_n * ow_n));
  for (std::int64_t im = 0; im < x.shape().dim(0); ++im)
    for (std::int64_t oh = 0; oh < oh_n; ++oh)
      for (std::int64_t ow = 0; ow < ow_n; ++ow)
        for (std::int64_t c = 0; c < g.channels; ++c)
          for (std::int64_t i = 0; i < g.kernel_h; ++i)
            for (std::int64_t j = 0; j < g.kernel_w; ++j) {
              const std::int64_t at = tap(g, c, oh, ow, i, j);
              cols((c * g.kernel_h + i) * g.kernel_w + j, (im * oh_n + oh) * ow_n + ow) =
                  at >= 0 ? x(im, at) : 0.0;
            }
  return cols;
}

Tensor fold(const Tensor& cols, const Conv2dGeometry& g) {
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width();
  const std::int64_t n = cols.shape().dim(1) / (oh_n * ow_n);
  Tensor x(M(n, g.channels * g.height * g.width));
  for (std::int64_t im = 0; im < n; ++im)
    for (std::int64_t oh = 0; oh < oh_n; ++oh)
      for (std::int64_t ow = 0; ow < ow_n; ++ow)
        for (std::int64_t c = 0; c < g.channels; ++c)
          for (std::int64_t i = 0; i < g.kernel_h; ++i)
            for (std::int64_t j = 0; j < g.kernel_w; ++j) {
              const std::int64_t at = tap(g, c, oh, ow, i, j);
              if (at >= 0)
                x(im, at) += cols((c * g.kernel_h + i) * g.kernel_w + j, (im * oh_n + oh) * ow_n + ow);
            }
  return x;
}

Tensor transpose_blocks(const Tensor& x, std::int64_t rows, std::int64_t cols, std::int64_t inner) {
  Tensor y(x.shape());
  for (std::int64_t b = 0; b < x.shape().dim(0); ++b)
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = 0; c < cols; ++c)
        for (std::int64_t e = 0; e < inner; ++e)
          y(b, (c * rows + r) * inner + e) = x(b, (r * cols + c) * inner + e);
  return y;
}

// Pooling windows: kernel x kernel every stride pixels, no padding. `reduce` sees the window.
template <class Reduce>
Tensor pool(const Tensor& x, const ImageShape& im, std::int64_t k, std::int64_t s, Reduce reduce) {
  const std::int64_t oh_n = (im.height - k) / s + 1, ow_n = (im.width - k) / s + 1;
  Tensor y(M(x.shape().dim(0), im.channels * oh_n * ow_n));
  std::vector<double> window;
  for (std::int64_t n = 0; n < x.shape().dim(0); ++n)
    for (std::int64_t c = 0; c < im.channels; ++c)
      for (std::int64_t oh = 0; oh < oh_n; ++oh)
        for (std::int64_t ow = 0; ow < ow_n; ++ow) {
          window.clear();
          for (std::int64_t i = 0; i < k; ++i)
            for (std::int64_t j = 0; j < k; ++j)
              window.push_back(x(n, (c * im.height + oh * s + i) * im.width + ow * s + j));
          y(n, (c * oh_n + oh) * ow_n + ow) = reduce(window);
        }
  return y;
}

Tensor avg_pool2d(const Tensor& x, const ImageShape& im, std::int64_t k, std::int64_t s) {
  return pool(x, im, k, s, [](const std::vector<double>& w) {
    long double t = 0;
    for (const double v : w) t += v;
    return static_cast<double>(t / static_cast<long double>(w.size()));
  });
}

Tensor max_pool2d(const Tensor& x, const ImageShape& im, std::int64_t k, std::int64_t s) {
  return pool(x, im, k, s,
              [](const std::vector<double>& w) { return *std::max_element(w.begin(), w.end()); });
}

// The adjoint of avg_pool2d by its definition: <avg_pool(e_i), g> for each pixel i.
Tensor avg_pool2d_adjoint(const Tensor& gy, const ImageShape& im, std::int64_t k, std::int64_t s) {
  Tensor x(M(gy.shape().dim(0), im.channels * im.height * im.width));
  for (std::int64_t i = 0; i < x.size(); ++i) {
    Tensor e(x.shape());
    e[i] = 1.0;
    const Tensor p = avg_pool2d(e, im, k, s);
    double t = 0.0;
    for (std::int64_t j = 0; j < p.size(); ++j) t += p[j] * gy[j];
    x[i] = t;
  }
  return x;
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double gelu(double x) { return 0.5 * x * std::erfc(-x * std::numbers::sqrt2 / 2.0); }

}  // namespace ref

// --- the table ------------------------------------------------------------------------------

using Operands = std::span<const Var>;
using Plain = std::span<const Tensor>;

struct OpCase {
  std::string name;
  std::vector<Shape> shapes;    // the operands, packed in this order into the point
  std::vector<Domain> domains;  // one per operand, or one for all
  std::function<Var(Operands)> op;
  std::function<Tensor(Plain)> reference;
  AdOptions options = {};
};

std::string number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

std::string shapes_str(const std::vector<Shape>& shapes) {
  std::string s;
  for (const Shape& sh : shapes) {
    s += s.empty() ? "" : " ";
    s += sh.str();
  }
  return s;
}

const Domain kAny{-2.0, 2.0};
// Away from the kink at 0 by far more than any finite-difference step.
const Domain kNonzero{-2.0, 2.0, 0.1};
const Domain kPositive{0.2, 3.0};

void unary(std::vector<OpCase>& cases, const std::string& name, std::function<Var(Var)> op,
           std::function<double(double)> plain, Domain d) {
  for (const Shape& s : {S(), V(5), M(2, 3)})
    cases.push_back({name + " " + s.str(),
                     {s},
                     {d},
                     [op](Operands x) { return op(x[0]); },
                     [plain](Plain x) { return ref::map(x[0], plain); }});
}

// The shape pairs a binary op must broadcast, both ways round where NumPy allows it.
const std::vector<std::pair<Shape, Shape>> kBroadcastPairs = {
    {S(), S()},         {V(4), V(4)},       {M(3, 4), M(3, 4)}, {M(3, 4), V(4)}, {V(4), M(3, 4)},
    {M(3, 4), M(3, 1)}, {M(3, 1), M(3, 4)}, {M(1, 4), M(3, 1)}, {S(), M(2, 3)},  {M(2, 3), S()},
    {V(3), M(3, 1)},    {M(2, 3), M(1, 1)}, {V(1), M(2, 3)},    {S(), V(4)},
};

void binary(std::vector<OpCase>& cases, const std::string& name, std::function<Var(Var, Var)> op,
            std::function<double(double, double)> plain, Domain da, Domain db) {
  for (const auto& [a, b] : kBroadcastPairs)
    cases.push_back({name + " " + a.str() + " " + b.str(),
                     {a, b},
                     {da, db},
                     [op](Operands x) { return op(x[0], x[1]); },
                     [plain](Plain x) { return ref::zip(x[0], x[1], plain); }});
}

// The case table, in sections (one function each keeps the compiler's per-function work small).
void elementwise_cases(std::vector<OpCase>& c) {
  // Elementwise functions.
  unary(
      c, "neg", [](Var x) { return neg(x); }, [](double x) { return -x; }, kAny);
  unary(
      c, "unary minus", [](Var x) { return -x; }, [](double x) { return -x; }, kAny);
  unary(
      c, "exp", [](Var x) { return exp(x); }, [](double x) { return std::exp(x); }, kAny);
  unary(
      c, "log", [](Var x) { return log(x); }, [](double x) { return std::log(x); }, kPositive);
  unary(
      c, "tanh", [](Var x) { return tanh(x); }, [](double x) { return std::tanh(x); }, kAny);
  unary(c, "sigmoid", [](Var x) { return sigmoid(x); }, ref::sigmoid, {-4.0, 4.0});
  unary(
      c, "relu", [](Var x) { return relu(x); }, [](double x) { return x > 0 ? x : 0.0; }, kNonzero);
  unary(
      c, "softplus", [](Var x) { return softplus(x); }, [](double x) { return std::log1p(std::exp(x)); },
      {-4.0, 4.0});
  unary(c, "gelu", [](Var x) { return gelu(x); }, ref::gelu, {-3.0, 3.0});
  unary(
      c, "erf", [](Var x) { return erf(x); }, [](double x) { return std::erf(x); }, kAny);
  unary(
      c, "square", [](Var x) { return square(x); }, [](double x) { return x * x; }, kAny);
  unary(
      c, "sqrt", [](Var x) { return sqrt(x); }, [](double x) { return std::sqrt(x); }, kPositive);
  unary(
      c, "abs", [](Var x) { return abs(x); }, [](double x) { return std::fabs(x); }, kNonzero);
  unary(
      c, "sign", [](Var x) { return sign(x); }, [](double x) { return x > 0   ? 1.0
                                                                      : x < 0 ? -1.0
                                                                              : 0.0; },
      kNonzero);
  unary(
      c, "step", [](Var x) { return step(x); }, [](double x) { return x > 0 ? 1.0 : 0.0; }, kNonzero);
  // Integer exponents are defined for negative x too; others need x > 0, and -1 a gap at 0.
  for (const double p : {0.0, 1.0, 2.0, 3.0})
    unary(
        c, std::string("pow ") + number(p), [p](Var x) { return pow(x, p); },
        [p](double x) { return std::pow(x, p); }, kAny);
  unary(
      c, "pow -1", [](Var x) { return pow(x, -1.0); }, [](double x) { return 1.0 / x; }, {-2.0, 2.0, 0.3});
  for (const double p : {0.5, -1.0, 3.5, -0.5})
    unary(
        c, std::string("pow ") + number(p) + " (x > 0)", [p](Var x) { return pow(x, p); },
        [p](double x) { return std::pow(x, p); }, {0.3, 2.0});
}

void scalar_cases(std::vector<OpCase>& c) {
  // Ops with one constant operand, directly and through the operators that call them.
  unary(
      c, "add_scalar", [](Var x) { return add_scalar(x, 1.7); }, [](double x) { return x + 1.7; }, kAny);
  unary(
      c, "mul_scalar", [](Var x) { return mul_scalar(x, -2.5); }, [](double x) { return -2.5 * x; }, kAny);
  unary(
      c, "rdiv_scalar", [](Var x) { return rdiv_scalar(3.0, x); }, [](double x) { return 3.0 / x; },
      {-2.0, 2.0, 0.3});
  unary(
      c, "rdiv_scalar 0", [](Var x) { return rdiv_scalar(0.0, x); }, [](double x) { return 0.0 / x; },
      {-2.0, 2.0, 0.3});
  unary(
      c, "x + c", [](Var x) { return x + 1.5; }, [](double x) { return x + 1.5; }, kAny);
  unary(
      c, "c + x", [](Var x) { return 1.5 + x; }, [](double x) { return 1.5 + x; }, kAny);
  unary(
      c, "x - c", [](Var x) { return x - 0.5; }, [](double x) { return x - 0.5; }, kAny);
  unary(
      c, "c - x", [](Var x) { return 2.0 - x; }, [](double x) { return 2.0 - x; }, kAny);
  unary(
      c, "x * c", [](Var x) { return x * 3.0; }, [](double x) { return x * 3.0; }, kAny);
  unary(
      c, "c * x", [](Var x) { return 3.0 * x; }, [](double x) { return 3.0 * x; }, kAny);
  unary(
      c, "x / c", [](Var x) { return x / 4.0; }, [](double x) { return x / 4.0; }, kAny);
  unary(
      c, "c / x", [](Var x) { return 4.0 / x; }, [](double x) { return 4.0 / x; }, {-2.0, 2.0, 0.3});
}

void broadcast_cases(std::vector<OpCase>& c) {
  // Broadcasting arithmetic.
  binary(
      c, "add", [](Var a, Var b) { return add(a, b); }, std::plus<double>(), kAny, kAny);
  binary(
      c, "a + b", [](Var a, Var b) { return a + b; }, std::plus<double>(), kAny, kAny);
  binary(
      c, "sub", [](Var a, Var b) { return sub(a, b); }, std::minus<double>(), kAny, kAny);
  binary(
      c, "a - b", [](Var a, Var b) { return a - b; }, std::minus<double>(), kAny, kAny);
  binary(
      c, "mul", [](Var a, Var b) { return mul(a, b); }, std::multiplies<double>(), kAny, kAny);
  binary(
      c, "adjoint_scale", [](Var a, Var b) { return adjoint_scale(a, b); }, std::multiplies<double>(),
      kNonzero, kAny);
  binary(
      c, "a * b", [](Var a, Var b) { return a * b; }, std::multiplies<double>(), kAny, kAny);
  binary(c, "div", [](Var a, Var b) { return div(a, b); }, std::divides<double>(), kAny, {-2.0, 2.0, 0.5});
  binary(c, "a / b", [](Var a, Var b) { return a / b; }, std::divides<double>(), kAny, {-2.0, 2.0, 0.5});
  // The same operand on both sides: its adjoint gets two contributions.
  c.push_back({"mul x x (3, 4)",
               {M(3, 4)},
               {kAny},
               [](Operands x) { return mul(x[0], x[0]); },
               [](Plain x) { return ref::zip(x[0], x[0], std::multiplies<double>()); }});
  c.push_back({"div x x+3 (5)",
               {V(5)},
               {kAny},
               [](Operands x) { return div(x[0], x[0] + 3.0); },
               [](Plain x) { return ref::map(x[0], [](double v) { return v / (v + 3.0); }); }});
  for (const Shape& s : {S(), V(5), M(2, 3)})
    c.push_back(
        {std::string("tanh_backward ") + s.str(),
         {s, s},
         {{-1.0, 1.0}, kAny},
         [](Operands x) { return tanh_backward(x[0], x[1]); },
         [](Plain x) { return ref::zip(x[0], x[1], [](double y, double g) { return (1 - y * y) * g; }); }});
}

void reduction_cases(std::vector<OpCase>& c) {
  // Reductions.
  for (const Shape& s : {S(), V(5), M(3, 4)}) {
    c.push_back({std::string("sum ") + s.str(),
                 {s},
                 {kAny},
                 [](Operands x) { return sum(x[0]); },
                 [](Plain x) { return ref::sum(x[0].reshaped(V(x[0].size())), 0); }});
    c.push_back({std::string("mean ") + s.str(),
                 {s},
                 {kAny},
                 [](Operands x) { return mean(x[0]); },
                 [](Plain x) { return ref::mean(x[0].reshaped(V(x[0].size())), 0); }});
    for (int axis = 0; axis < std::max(1, s.rank); ++axis) {
      const std::string along = std::string(" ") + s.str() + " axis " + std::to_string(axis);
      c.push_back({std::string("sum") + along,
                   {s},
                   {kAny},
                   [axis](Operands x) { return sum(x[0], axis); },
                   [axis](Plain x) { return ref::sum(x[0], axis); }});
      c.push_back({std::string("mean") + along,
                   {s},
                   {kAny},
                   [axis](Operands x) { return mean(x[0], axis); },
                   [axis](Plain x) { return ref::mean(x[0], axis); }});
      c.push_back({std::string("logsumexp") + along,
                   {s},
                   {{-3.0, 3.0}},
                   [axis](Operands x) { return logsumexp(x[0], axis); },
                   [axis](Plain x) { return ref::logsumexp(x[0], axis); }});
      c.push_back({std::string("softmax") + along,
                   {s},
                   {{-3.0, 3.0}},
                   [axis](Operands x) { return softmax(x[0], axis); },
                   [axis](Plain x) { return ref::softmax(x[0], axis); }});
    }
  }
  for (const std::int64_t n : {1, 5})
    c.push_back({std::string("dot ") + V(n).str(),
                 {V(n), V(n)},
                 {kAny},
                 [](Operands x) { return dot(x[0], x[1]); },
                 [](Plain x) { return ref::matmul(x[0], x[1]); }});
}

void matmul_cases(std::vector<OpCase>& c) {
  // Matrix products: every transpose flag, then NumPy's vector cases.
  // Rectangular operands catch a transpose flag that mismatches extents; square ones one that
  // fits the extents but multiplies by the wrong matrix.
  for (const bool square : {false, true})
    for (const bool ta : {false, true})
      for (const bool tb : {false, true}) {
        const Shape a = square ? M(3, 3) : ta ? M(3, 2) : M(2, 3);
        const Shape b = square ? M(3, 3) : tb ? M(4, 3) : M(3, 4);
        c.push_back({std::string("matmul ") + a.str() + (ta ? "^T " : " ") + b.str() + (tb ? "^T" : ""),
                     {a, b},
                     {kAny},
                     [ta, tb](Operands x) { return matmul(x[0], x[1], ta, tb); },
                     [ta, tb](Plain x) { return ref::matmul(x[0], x[1], ta, tb); }});
      }
  for (const auto& [a, b] : std::vector<std::pair<Shape, Shape>>{{M(2, 3), M(3, 4)},
                                                                 {M(3, 4), V(4)},
                                                                 {V(3), M(3, 4)},
                                                                 {V(4), V(4)},
                                                                 {M(1, 3), M(3, 1)},
                                                                 {V(1), M(1, 2)}})
    c.push_back({std::string("matmul ") + a.str() + " " + b.str(),
                 {a, b},
                 {kAny},
                 [](Operands x) { return matmul(x[0], x[1]); },
                 [](Plain x) { return ref::matmul(x[0], x[1]); }});
  // A dense layer, x W^T + b: the narrow (out < 8), direct and tail paths of the product.
  for (const auto& [batch, in, out] :
       std::vector<std::array<std::int64_t, 3>>{{3, 2, 4}, {5, 3, 9}, {1, 4, 1}})
    c.push_back({"linear " + M(batch, in).str() + " " + M(out, in).str() + " " + V(out).str(),
                 {M(batch, in), M(out, in), V(out)},
                 {kAny, kAny, kAny},
                 [](Operands x) { return linear(x[0], x[1], x[2]); },
                 [](Plain x) {
                   Tensor y = ref::matmul(x[0], x[1], false, true);
                   for (std::int64_t r = 0; r < y.shape().dim(0); ++r)
                     for (std::int64_t j = 0; j < y.shape().dim(1); ++j) y(r, j) += x[2][j];
                   return y;
                 }});
  // Both operands the same recorded value: A A^T and A^T A.
  c.push_back({"matmul A A^T (2, 3)",
               {M(2, 3)},
               {kAny},
               [](Operands x) { return matmul(x[0], x[0], false, true); },
               [](Plain x) { return ref::matmul(x[0], x[0], false, true); }});
  c.push_back({"matmul A^T A (2, 3)",
               {M(2, 3)},
               {kAny},
               [](Operands x) { return matmul(x[0], x[0], true, false); },
               [](Plain x) { return ref::matmul(x[0], x[0], true, false); }});
}

void shape_cases(std::vector<OpCase>& c) {
  // Shape ops.
  for (const Shape& s : {S(), V(5), M(3, 4)})
    c.push_back({std::string("transpose ") + s.str(),
                 {s},
                 {kAny},
                 [](Operands x) { return transpose(x[0]); },
                 [](Plain x) { return ref::transpose(x[0]); }});
  for (const auto& [from, to] : std::vector<std::pair<Shape, Shape>>{{M(3, 4), M(2, 6)},
                                                                     {M(3, 4), V(12)},
                                                                     {V(12), M(4, 3)},
                                                                     {V(6), M(1, 6)},
                                                                     {S(), V(1)},
                                                                     {M(1, 1), S()}})
    c.push_back({std::string("reshape ") + from.str() + " to " + to.str(),
                 {from},
                 {kAny},
                 [to](Operands x) { return reshape(x[0], to); },
                 [to](Plain x) { return x[0].reshaped(to); }});
  struct Range {
    Shape s;
    int axis;
    std::int64_t begin, end;
  };
  for (const Range& r : std::vector<Range>{{V(6), 0, 1, 4},
                                           {V(6), 0, 0, 6},
                                           {V(6), 0, 5, 6},
                                           {M(3, 4), 0, 1, 3},
                                           {M(3, 4), 0, 0, 1},
                                           {M(3, 4), 1, 1, 3},
                                           {M(3, 4), 1, 3, 4}})
    c.push_back({std::string("slice ") + r.s.str() + " axis " + std::to_string(r.axis) + " [" +
                     std::to_string(r.begin) + ", " + std::to_string(r.end) + ")",
                 {r.s},
                 {kAny},
                 [r](Operands x) { return slice(x[0], r.axis, r.begin, r.end); },
                 [r](Plain x) { return ref::slice(x[0], r.axis, r.begin, r.end); }});
  c.push_back({"slice of a vector without an axis",
               {V(6)},
               {kAny},
               [](Operands x) { return slice(x[0], 2, 5); },
               [](Plain x) { return ref::slice(x[0], 0, 2, 5); }});
  // A slice of a slice: contiguous slices alias their input, so offsets compound.
  c.push_back({"slice of a slice (3, 4)",
               {M(3, 4)},
               {kAny},
               [](Operands x) { return slice(slice(x[0], 0, 1, 3), 1, 1, 3); },
               [](Plain x) { return ref::slice(ref::slice(x[0], 0, 1, 3), 1, 1, 3); }});
  for (const Range& r : std::vector<Range>{
           {V(3), 0, 2, 1}, {V(3), 0, 0, 2}, {M(2, 3), 0, 1, 2}, {M(2, 3), 1, 2, 1}, {M(2, 3), 1, 0, 2}})
    c.push_back({std::string("pad ") + r.s.str() + " axis " + std::to_string(r.axis) + " by " +
                     std::to_string(r.begin) + ", " + std::to_string(r.end),
                 {r.s},
                 {kAny},
                 [r](Operands x) { return pad(x[0], r.axis, r.begin, r.end); },
                 [r](Plain x) { return ref::pad(x[0], r.axis, r.begin, r.end); }});
  struct Place {
    Shape acc, x;
    int axis;
    std::int64_t before;
  };
  for (const Place& p : std::vector<Place>{{V(6), V(3), 0, 2},
                                           {V(4), V(4), 0, 0},
                                           {M(4, 3), M(2, 3), 0, 1},
                                           {M(3, 4), M(3, 2), 1, 2},
                                           {M(2, 3), M(2, 1), 1, 0}})
    c.push_back({std::string("add_padded ") + p.acc.str() + " " + p.x.str() + " axis " +
                     std::to_string(p.axis) + " at " + std::to_string(p.before),
                 {p.acc, p.x},
                 {kAny, kAny},
                 [p](Operands x) { return add_padded(x[0], x[1], p.axis, p.before); },
                 [p](Plain x) {
                   const std::int64_t extent = p.acc.rank < 2 ? p.acc.size() : p.acc.dim(p.axis);
                   const std::int64_t used = p.x.rank < 2 ? p.x.size() : p.x.dim(p.axis);
                   return ref::zip(x[0], ref::pad(x[1], p.axis, p.before, extent - p.before - used),
                                   std::plus<double>());
                 }});
  struct Join {
    std::vector<Shape> parts;
    int axis;
  };
  for (const Join& j : std::vector<Join>{{{V(2), V(3)}, 0},
                                         {{V(2), V(1), V(3)}, 0},
                                         {{M(2, 3), M(1, 3)}, 0},
                                         {{M(2, 3), M(2, 2)}, 1},
                                         {{M(2, 1), M(2, 2), M(2, 3)}, 1},
                                         {{M(1, 2), M(2, 2), M(1, 2)}, 0}})
    c.push_back({std::string("concatenate ") + shapes_str(j.parts) + " axis " + std::to_string(j.axis),
                 j.parts,
                 {kAny},
                 [j](Operands x) { return concatenate(x, j.axis); },
                 [j](Plain x) { return ref::concatenate(x, j.axis); }});
  for (const auto& [from, to] : std::vector<std::pair<Shape, Shape>>{{V(4), M(3, 4)},
                                                                     {M(3, 1), M(3, 4)},
                                                                     {S(), M(2, 3)},
                                                                     {M(1, 4), M(3, 4)},
                                                                     {V(1), V(5)},
                                                                     {S(), V(4)},
                                                                     {M(1, 1), M(2, 2)},
                                                                     {V(3), V(3)}})
    c.push_back({std::string("broadcast_to ") + from.str() + " to " + to.str(),
                 {from},
                 {kAny},
                 [to](Operands x) { return broadcast_to(x[0], to); },
                 [to](Plain x) { return ref::broadcast_to(x[0], to); }});
  for (const auto& [from, to] : std::vector<std::pair<Shape, Shape>>{{M(3, 4), V(4)},
                                                                     {M(3, 4), M(3, 1)},
                                                                     {M(3, 4), M(1, 4)},
                                                                     {M(3, 4), S()},
                                                                     {M(3, 4), M(1, 1)},
                                                                     {V(5), S()},
                                                                     {V(5), V(1)},
                                                                     {M(3, 4), V(1)},
                                                                     {V(3), V(3)}})
    c.push_back({std::string("sum_to ") + from.str() + " to " + to.str(),
                 {from},
                 {kAny},
                 [to](Operands x) { return sum_to(x[0], to); },
                 [to](Plain x) { return ref::sum_to(x[0], to); }});
}

// Convolution and pooling on small odd images (5 x 7), two images of two channels, so that every
// index mapping (stride, padding, dilation, non-square kernels) is exercised and the batch and
// channel strides are not confused.
void conv_cases(std::vector<OpCase>& c) {
  const std::int64_t n = 2;
  auto geometry = [](std::int64_t kh, std::int64_t kw, std::int64_t s, std::int64_t p, std::int64_t d) {
    return Conv2dGeometry{.channels = 2,
                          .height = 5,
                          .width = 7,
                          .kernel_h = kh,
                          .kernel_w = kw,
                          .stride_h = s,
                          .stride_w = s,
                          .padding_h = p,
                          .padding_w = p,
                          .dilation_h = d,
                          .dilation_w = d};
  };
  auto label = [](const Conv2dGeometry& g) {
    return std::to_string(g.kernel_h) + "x" + std::to_string(g.kernel_w) + " stride " +
           std::to_string(g.stride_h) + " pad " + std::to_string(g.padding_h) + " dil " +
           std::to_string(g.dilation_h);
  };
  std::vector<Conv2dGeometry> geometries;
  for (const auto& [kh, kw] : std::vector<std::pair<std::int64_t, std::int64_t>>{{3, 3}, {2, 3}})
    for (const std::int64_t s : {1, 2})
      for (const std::int64_t p : {0, 1}) geometries.push_back(geometry(kh, kw, s, p, 1));
  geometries.push_back(geometry(3, 3, 1, 1, 2));
  geometries.push_back(geometry(2, 3, 2, 1, 2));
  const std::int64_t out = 3;
  for (const Conv2dGeometry& g : geometries) {
    const Shape x = M(n, 2 * 5 * 7), w = M(out, 2 * g.kernel_h * g.kernel_w), b = V(out);
    c.push_back({"conv2d " + label(g),
                 {x, w, b},
                 {kAny},
                 [g](Operands v) { return conv2d(v[0], v[1], v[2], g); },
                 [g](Plain v) { return ref::conv2d(v[0], v[1], &v[2], g); }});
    c.push_back({"conv2d without bias " + label(g),
                 {x, w},
                 {kAny},
                 [g](Operands v) { return conv2d(v[0], v[1], g); },
                 [g](Plain v) { return ref::conv2d(v[0], v[1], nullptr, g); }});
  }
  // The channel-major convolution against the same reference, its operand and result reordered:
  // x channel-major is C x (N*H*W), the result out x (N*H'*W').
  for (const Conv2dGeometry& g : {geometries[0], geometries[3], geometries[5], geometries[8]}) {
    const std::int64_t p = g.out_height() * g.out_width();
    auto reference = [g, p](Plain v, bool with_bias) {
      const Tensor x = ref::transpose_blocks(v[0].reshaped(M(1, n * 70)), 2, n, 35).reshaped(M(n, 70));
      const Tensor y = ref::conv2d(x, v[1], with_bias ? &v[2] : nullptr, g);
      return ref::transpose_blocks(y.reshaped(M(1, y.size())), n, out, p).reshaped(M(out, n * p));
    };
    const Shape x = M(2, n * 35), w = M(out, 2 * g.kernel_h * g.kernel_w), b = V(out);
    c.push_back({"conv2d_channel_major " + label(g),
                 {x, w, b},
                 {kAny},
                 [g](Operands v) { return conv2d_channel_major(v[0], v[1], v[2], g); },
                 [reference](Plain v) { return reference(v, true); }});
    c.push_back({"conv2d_channel_major without bias " + label(g),
                 {x, w},
                 {kAny},
                 [g](Operands v) { return conv2d_channel_major(v[0], v[1], g); },
                 [reference](Plain v) { return reference(v, false); }});
  }
  // One input channel and one output channel: the degenerate block sizes of transpose_blocks.
  {
    const Conv2dGeometry g{.channels = 1, .height = 4, .width = 3, .kernel_h = 2, .kernel_w = 2};
    c.push_back({"conv2d one channel",
                 {M(3, 12), M(1, 4), V(1)},
                 {kAny},
                 [g](Operands v) { return conv2d(v[0], v[1], v[2], g); },
                 [g](Plain v) { return ref::conv2d(v[0], v[1], &v[2], g); }});
  }
  for (const Conv2dGeometry& g : {geometries[0], geometries[3], geometries[5], geometries[9]}) {
    const std::int64_t rows = n * g.out_height() * g.out_width();
    const std::int64_t taps = 2 * g.kernel_h * g.kernel_w;
    c.push_back({"unfold " + label(g),
                 {M(n, 70)},
                 {kAny},
                 [g](Operands v) { return unfold(v[0], g); },
                 [g](Plain v) { return ref::unfold(v[0], g); }});
    c.push_back({"fold " + label(g),
                 {M(taps, rows)},
                 {kAny},
                 [g](Operands v) { return fold(v[0], g); },
                 [g](Plain v) { return ref::fold(v[0], g); }});
  }
  struct Blocks {
    std::int64_t rows, cols, inner;
  };
  for (const Blocks& b : std::vector<Blocks>{{3, 4, 1}, {5, 2, 1}, {2, 3, 4}, {3, 2, 2}})
    c.push_back({"transpose_blocks " + std::to_string(b.rows) + " x " + std::to_string(b.cols) + " of " +
                     std::to_string(b.inner),
                 {M(2, b.rows * b.cols * b.inner)},
                 {kAny},
                 [b](Operands v) { return transpose_blocks(v[0], b.rows, b.cols, b.inner); },
                 [b](Plain v) { return ref::transpose_blocks(v[0], b.rows, b.cols, b.inner); }});
  const ImageShape im{2, 5, 7};
  for (const auto& [k, s] :
       std::vector<std::pair<std::int64_t, std::int64_t>>{{2, 2}, {3, 1}, {2, 1}, {3, 2}}) {
    const std::string geo = " k " + std::to_string(k) + " stride " + std::to_string(s);
    const std::int64_t pooled = 2 * ((5 - k) / s + 1) * ((7 - k) / s + 1);
    c.push_back({"avg_pool2d" + geo,
                 {M(n, 70)},
                 {kAny},
                 [im, k, s](Operands v) { return avg_pool2d(v[0], im, k, s); },
                 [im, k, s](Plain v) { return ref::avg_pool2d(v[0], im, k, s); }});
    c.push_back({"avg_pool2d_adjoint" + geo,
                 {M(n, pooled)},
                 {kAny},
                 [im, k, s](Operands v) { return avg_pool2d_adjoint(v[0], im, k, s); },
                 [im, k, s](Plain v) { return ref::avg_pool2d_adjoint(v[0], im, k, s); }});
    // Random points have distinct pixels, far apart relative to the finite-difference steps.
    c.push_back({"max_pool2d" + geo,
                 {M(n, 70)},
                 {kAny},
                 [im, k, s](Operands v) { return max_pool2d(v[0], im, k, s); },
                 [im, k, s](Plain v) { return ref::max_pool2d(v[0], im, k, s); }});
  }
  // 2 x 2 windows tiling the planes exactly, in rows of 4 outputs (an odd count of them, so one
  // is left after the pairs) and of 8.
  for (const ImageShape& tiled : {ImageShape{1, 6, 8}, ImageShape{2, 2, 16}}) {
    const std::string geo = " tiled " + std::to_string(tiled.channels) + "x" + std::to_string(tiled.height) +
                            "x" + std::to_string(tiled.width);
    const std::int64_t pixels = tiled.channels * tiled.height * tiled.width;
    c.push_back({"avg_pool2d" + geo,
                 {M(3, pixels)},
                 {kAny},
                 [tiled](Operands v) { return avg_pool2d(v[0], tiled, 2); },
                 [tiled](Plain v) { return ref::avg_pool2d(v[0], tiled, 2, 2); }});
    c.push_back({"avg_pool2d_adjoint" + geo,
                 {M(3, pixels / 4)},
                 {kAny},
                 [tiled](Operands v) { return avg_pool2d_adjoint(v[0], tiled, 2); },
                 [tiled](Plain v) { return ref::avg_pool2d_adjoint(v[0], tiled, 2, 2); }});
  }
  // The default stride is the kernel.
  c.push_back({"max_pool2d default stride",
               {M(n, 70)},
               {kAny},
               [im](Operands v) { return max_pool2d(v[0], im, 2); },
               [im](Plain v) { return ref::max_pool2d(v[0], im, 2, 2); }});
  c.push_back({"avg_pool2d default stride",
               {M(n, 70)},
               {kAny},
               [im](Operands v) { return avg_pool2d(v[0], im, 2); },
               [im](Plain v) { return ref::avg_pool2d(v[0], im, 2, 2); }});
  // gather with a repeated index (its adjoint adds both reads) and one element never read, and
  // scatter_add of several values onto one element; a matrix source, a vector result.
  const std::vector<double> picks = {4, 0, 4, 2, 5, 1};
  c.push_back({"gather (2, 3) at 6 indices",
               {M(2, 3)},
               {kAny},
               [picks](Operands v) { return gather(v[0], v[0].tape().constant(Tensor::vector(picks))); },
               [picks](Plain v) {
                 Tensor y(V(6));
                 for (std::int64_t i = 0; i < 6; ++i)
                   y[i] = v[0][static_cast<std::int64_t>(picks[static_cast<std::size_t>(i)])];
                 return y;
               }});
  c.push_back({"scatter_add (6) into (2, 3)",
               {V(6)},
               {kAny},
               [picks](Operands v) {
                 return scatter_add(v[0], v[0].tape().constant(Tensor::vector(picks)), M(2, 3));
               },
               [picks](Plain v) {
                 Tensor y(M(2, 3));
                 for (std::int64_t i = 0; i < 6; ++i)
                   y[static_cast<std::int64_t>(picks[static_cast<std::size_t>(i)])] += v[0][i];
                 return y;
               }});
}

std::vector<OpCase> op_cases() {
  std::vector<OpCase> c;
  elementwise_cases(c);
  scalar_cases(c);
  broadcast_cases(c);
  reduction_cases(c);
  matmul_cases(c);
  shape_cases(c);
  conv_cases(c);
  return c;
}

const std::vector<OpCase>& all_cases() {
  static const std::vector<OpCase> cases = op_cases();
  return cases;
}

class Op : public ::testing::TestWithParam<std::size_t> {};

// Three seeded random points per case; the labels carry the seed so a failure names its point.
TEST_P(Op, AgreesWithFiniteDifferencesAndItselfInEveryMode) {
  const OpCase& c = all_cases()[GetParam()];
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    std::vector<Tensor> parts;
    for (std::size_t i = 0; i < c.shapes.size(); ++i)
      parts.push_back(pk::ad::test::random_tensor(c.shapes[i], c.domains[std::min(i, c.domains.size() - 1)],
                                                  seed * 1000 + i));
    const Tensor w = parts.size() == 1 ? parts[0] : pk::ad::test::pack(parts);
    const std::vector<Shape>& shapes = c.shapes;
    AdOptions o = c.options;
    o.reference = [&](const Tensor& x) {
      if (shapes.size() == 1) return c.reference(std::span<const Tensor>(&x, 1));
      const std::vector<Tensor> p = pk::ad::test::unpack(x, shapes);
      return c.reference(p);
    };
    expect_ad(
        c.name + " (seed " + std::to_string(seed) + ")",
        [&](Var x) { return c.op(pk::ad::test::unpack(x, shapes)); }, w, o);
  }
}

std::string case_name(const ::testing::TestParamInfo<std::size_t>& info) {
  std::string name;
  for (const char ch : all_cases()[info.param].name) {
    if (std::isalnum(static_cast<unsigned char>(ch)))
      name += ch;
    else if (!name.empty() && name.back() != '_')
      name += '_';
  }
  while (!name.empty() && name.back() == '_') name.pop_back();
  return name + "_" + std::to_string(info.param);
}

INSTANTIATE_TEST_SUITE_P(Table, Op, ::testing::Range<std::size_t>(0, all_cases().size()), case_name);

// --- edge cases ---------------------------------------------------------------------------------

Tensor diagonal(std::vector<double> d) {
  const auto n = static_cast<std::int64_t>(d.size());
  Tensor m(M(n, n));
  for (std::int64_t i = 0; i < n; ++i) m(i, i) = d[static_cast<std::size_t>(i)];
  return m;
}

const double kInf = std::numeric_limits<double>::infinity();

// At a kink the documented convention is the derivative 0; finite differences would give the
// average of the two one-sided slopes, so the expected Jacobian is given instead.
TEST(OpEdge, ReluAtZeroHasDerivativeZero) {
  const Tensor w = Tensor::vector({0.0, 1.5, -0.7, 0.0});
  expect_ad("relu at 0", [](Var x) { return relu(x); }, w,
            {.finite_differences = false, .jacobian = diagonal({0, 1, 0, 0})});
  expect_ad("sum relu at 0", [](Var x) { return sum(relu(x)); }, w,
            {.finite_differences = false, .hessian = Tensor(M(4, 4))});
}

TEST(OpEdge, AbsAtZeroHasDerivativeZero) {
  const Tensor w = Tensor::vector({0.0, 1.5, -0.7, 0.0});
  expect_ad("abs at 0", [](Var x) { return abs(x); }, w,
            {.finite_differences = false, .jacobian = diagonal({0, 1, -1, 0})});
  expect_ad("sum abs at 0", [](Var x) { return sum(abs(x)); }, w,
            {.finite_differences = false, .hessian = Tensor(M(4, 4))});
}

TEST(OpEdge, SignAndStepHaveDerivativeZeroEverywhere) {
  const Tensor w = Tensor::vector({0.0, 1.5, -0.7, -0.0});
  expect_ad("sign at 0", [](Var x) { return sign(x); }, w,
            {.finite_differences = false, .jacobian = Tensor(M(4, 4))});
  expect_ad("step at 0", [](Var x) { return step(x); }, w,
            {.finite_differences = false, .jacobian = Tensor(M(4, 4))});
  // Through a product the zero derivative must stay zero, not turn into 0 * x.
  expect_ad("x * sign(x) at 0", [](Var x) { return sum(x * sign(x) + x * step(x)); }, w,
            {.finite_differences = false, .hessian = Tensor(M(4, 4))});
}

// tanh is computed without std::tanh (a table-driven expm1); it must stay within 4 ulp of it
// everywhere: across the range reduction's steps, near 0, at saturation, on subnormals,
// infinities and NaN, and on the lanes of a last, partial block.
TEST(OpEdge, TanhIsWithinFourUlpOfStdTanh) {
  std::vector<double> xs = {0.0,
                            -0.0,
                            1e-310,
                            -1e-310,
                            1e-300,
                            1e-17,
                            1e-8,
                            19.99,
                            20.0,
                            20.01,
                            700.0,
                            std::numeric_limits<double>::infinity(),
                            -std::numeric_limits<double>::infinity()};
  for (double x = -25.0; x <= 25.0; x += 0.0137) xs.push_back(x);
  for (double x = 1e-6; x < 1.0; x *= 1.21) xs.push_back(-x);
  xs.push_back(std::numeric_limits<double>::quiet_NaN());  // 1 + 8k elements: a partial block
  Tape t;
  const Tensor y(tanh(t.constant(Tensor::vector(xs))).value());
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double want = std::tanh(xs[i]), got = y[static_cast<std::int64_t>(i)];
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << "tanh(" << xs[i] << ")";
      continue;
    }
    const double ulp =
        std::nextafter(std::abs(want), std::numeric_limits<double>::infinity()) - std::abs(want);
    EXPECT_LE(std::abs(got - want), 4.0 * ulp) << "tanh(" << xs[i] << ") = " << got << ", want " << want;
    EXPECT_EQ(std::signbit(got), std::signbit(want)) << "tanh(" << xs[i] << ")";
  }
}

// With AVX-512, tanh runs eight elements at a time and the rest one at a time: the two paths
// must give the same bits, or a value would depend on where it sits in its tensor.
TEST(OpEdge, TanhGivesTheSameBitsAtEveryPositionOfATensor) {
  std::vector<double> xs = {0.0, -0.0, 1e-310, 1e-17, 0.0153, 0.0217, 0.5, 1.0, 3.7, 19.99, 20.0, 700.0};
  for (double x = -21.0; x <= 21.0; x += 0.0371) xs.push_back(x);
  for (const double x : xs) {
    Tape t;
    const Tensor y(tanh(t.constant(Tensor(V(11), x))).value());  // one block of 8 and 3 alone
    for (std::int64_t i = 1; i < 11; ++i)
      ASSERT_EQ(std::bit_cast<std::uint64_t>(y[i]), std::bit_cast<std::uint64_t>(y[0]))
          << "tanh(" << x << ") at position " << i << " = " << y[i] << ", at 0 = " << y[0];
  }
}

// The stable forms must give finite values and exact-looking derivatives where the naive ones
// overflow. Elements far out are flat, so the default steps stay accurate; logsumexp and softmax
// mix far and near elements in one line and take a smaller step (see ad_harness.hpp).
TEST(OpEdge, SaturatingFunctionsStayFiniteAtLargeArguments) {
  const Tensor w = Tensor::vector({-800.0, -30.0, -0.5, 0.5, 30.0, 800.0});
  expect_ad("softplus far out", [](Var x) { return softplus(x); }, w, {.reference = [](const Tensor& x) {
              return ref::map(
                  x, [](double v) { return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); });
            }});
  expect_ad("sigmoid far out", [](Var x) { return sigmoid(x); }, w,
            {.reference = [](const Tensor& x) { return ref::map(x, ref::sigmoid); }});
  expect_ad("tanh far out", [](Var x) { return tanh(x); }, w, {.reference = [](const Tensor& x) {
              return ref::map(x, [](double v) { return std::tanh(v); });
            }});
  expect_ad("gelu far out", [](Var x) { return gelu(x); }, w,
            {.reference = [](const Tensor& x) { return ref::map(x, ref::gelu); }});
  expect_ad("erf far out", [](Var x) { return erf(x); }, w,
            {.reference = [](const Tensor& x) { return ref::map(x, [](double v) { return std::erf(v); }); }});
  const Tensor lines = Tensor::matrix(2, 3, {800.0, 799.5, -800.0, -800.0, -799.0, 0.5});
  for (int axis = 0; axis < 2; ++axis) {
    expect_ad("logsumexp far out, axis " + std::to_string(axis), [axis](Var x) { return logsumexp(x, axis); },
              lines,
              {.reference = [axis](const Tensor& x) { return ref::logsumexp(x, axis); }, .step = 1e-6});
    expect_ad("softmax far out, axis " + std::to_string(axis), [axis](Var x) { return softmax(x, axis); },
              lines, {.reference = [axis](const Tensor& x) { return ref::softmax(x, axis); }, .step = 1e-6});
  }
}

TEST(OpEdge, SaturatedDerivativesAreExactlyZeroOrOneNotNan) {
  Tape t;
  const Var x = t.variable(Tensor::vector({-800.0, 800.0}));
  const Tensor g_softplus(grad(sum(softplus(x)), x).value());
  EXPECT_EQ(g_softplus[0], 0.0);
  EXPECT_EQ(g_softplus[1], 1.0);
  const Tensor g_sigmoid(grad(sum(sigmoid(x)), x).value());
  EXPECT_EQ(g_sigmoid[0], 0.0);
  EXPECT_EQ(g_sigmoid[1], 0.0);
  const Tensor g_lse(grad(logsumexp(x, 0), x).value());
  EXPECT_EQ(g_lse[0], 0.0);
  EXPECT_EQ(g_lse[1], 1.0);
}

// Near 0 log and sqrt have derivatives of 1e8 and more: steps relative to |x| (step_floor 0).
TEST(OpEdge, LogAndSqrtNearZero) {
  const Tensor w = Tensor::vector({1e-8, 3e-6, 1e-3});
  expect_ad("log near 0", [](Var x) { return log(x); }, w,
            {.reference = [](const Tensor& x) { return ref::map(x, [](double v) { return std::log(v); }); },
             .step_floor = 0.0});
  expect_ad("sqrt near 0", [](Var x) { return sqrt(x); }, w,
            {.reference = [](const Tensor& x) { return ref::map(x, [](double v) { return std::sqrt(v); }); },
             .step_floor = 0.0});
}

// At 0 itself the documented IEEE values: ln 0 = -inf with slope +inf, sqrt 0 = 0 with slope +inf.
TEST(OpEdge, LogAndSqrtAtZeroGiveInfiniteSlopes) {
  Tape t;
  const Var x = t.variable(Tensor::scalar(0.0));
  const Var l = log(x);
  EXPECT_EQ(l.item(), -kInf);
  EXPECT_EQ(grad(l, x).item(), kInf);
  const Var s = sqrt(x);
  EXPECT_EQ(s.item(), 0.0);
  EXPECT_EQ(grad(s, x).item(), kInf);
  const Var xt = t.variable(Tensor::scalar(0.0), Tensor::scalar(1.0));
  EXPECT_EQ(log(xt).tangent().item(), kInf);
  EXPECT_EQ(sqrt(xt).tangent().item(), kInf);
}

// x^p at 0: polynomials are smooth there, so finite differences apply; p = 0 must give the
// derivative 0, not 0 * 0^-1 = NaN.
TEST(OpEdge, PowAtZero) {
  const Tensor zero = Tensor::scalar(0.0);
  expect_ad("pow 0 at 0", [](Var x) { return pow(x, 0.0); }, zero,
            {.jacobian = Tensor(M(1, 1)), .hessian = Tensor(M(1, 1))});
  expect_ad("pow 1 at 0", [](Var x) { return pow(x, 1.0); }, zero,
            {.jacobian = Tensor(M(1, 1), 1.0), .hessian = Tensor(M(1, 1))});
  expect_ad("pow 2 at 0", [](Var x) { return pow(x, 2.0); }, zero,
            {.jacobian = Tensor(M(1, 1)), .hessian = Tensor(M(1, 1), 2.0)});
  expect_ad("pow 3 at 0", [](Var x) { return pow(x, 3.0); }, zero,
            {.jacobian = Tensor(M(1, 1)), .hessian = Tensor(M(1, 1))});
  // Half-integer and negative exponents follow std::pow: infinite at 0.
  Tape t;
  const Var x = t.variable(zero);
  EXPECT_EQ(pow(x, -1.0).item(), kInf);
  EXPECT_EQ(grad(pow(x, -1.0), x).item(), -kInf);
  EXPECT_EQ(pow(x, 0.5).item(), 0.0);
  EXPECT_EQ(grad(pow(x, 0.5), x).item(), kInf);
}

TEST(OpEdge, DivisionByZeroGivesIeeeInfinities) {
  Tape t;
  const Var a = t.variable(Tensor::vector({1.0, -2.0}));
  const Var b = t.variable(Tensor::vector({0.0, 0.0}));
  const Var q = div(a, b);
  EXPECT_EQ(q.value()[0], kInf);
  EXPECT_EQ(q.value()[1], -kInf);
  const Tensor ga(grad(sum(q), a).value());
  EXPECT_EQ(ga[0], kInf);
  EXPECT_EQ(ga[1], kInf);
}

// --- operands whose shapes an op cannot combine ----------------------------------------------

struct BadShapes {
  std::string op;                     // must appear in the message
  std::vector<std::string> mentions;  // the shapes, as Shape::str writes them
  std::function<void(Tape&)> call;
};

Var filled(Tape& t, Shape s) { return t.variable(Tensor(s, 1.0)); }

std::vector<BadShapes> bad_shapes() {
  std::vector<BadShapes> b;
  for (const auto& [name, op] : std::vector<std::pair<std::string, Var (*)(Var, Var)>>{
           {"add", add}, {"sub", sub}, {"mul", mul}, {"div", div}})
    b.push_back({name, {"(3, 4)", "(3)"}, [op](Tape& t) { op(filled(t, M(3, 4)), filled(t, V(3))); }});
  b.push_back(
      {"add", {"(2, 3)", "(3, 2)"}, [](Tape& t) { (void)(filled(t, M(2, 3)) + filled(t, M(3, 2))); }});
  b.push_back({"mul", {"(4)", "(5)"}, [](Tape& t) { (void)(filled(t, V(4)) * filled(t, V(5))); }});
  b.push_back(
      {"tanh_backward", {"(3)", "(4)"}, [](Tape& t) { tanh_backward(filled(t, V(3)), filled(t, V(4))); }});
  b.push_back({"dot", {"(3)", "(4)"}, [](Tape& t) { dot(filled(t, V(3)), filled(t, V(4))); }});
  b.push_back({"dot", {"(3, 1)", "(3, 1)"}, [](Tape& t) { dot(filled(t, M(3, 1)), filled(t, M(3, 1))); }});
  b.push_back(
      {"matmul", {"(2, 3)", "(4, 5)"}, [](Tape& t) { matmul(filled(t, M(2, 3)), filled(t, M(4, 5))); }});
  b.push_back({"matmul", {"(2, 3)", "(2, 5)"}, [](Tape& t) {
                 matmul(filled(t, M(2, 3)), filled(t, M(2, 5)), false, false);
               }});
  b.push_back({"matmul", {"(2, 3)", "(2, 5)"}, [](Tape& t) {
                 matmul(filled(t, M(2, 3)), filled(t, M(2, 5)), false, true);
               }});
  b.push_back({"matmul", {"(2, 3)", "(2, 5)"}, [](Tape& t) {
                 matmul(filled(t, M(2, 3)), filled(t, M(2, 5)), true, true);
               }});
  b.push_back({"matmul", {"(2, 3)", "(3, 5)"}, [](Tape& t) {
                 matmul(filled(t, M(2, 3)), filled(t, M(3, 5)), true, false);
               }});
  b.push_back({"matmul", {"(3)", "(4, 5)"}, [](Tape& t) { matmul(filled(t, V(3)), filled(t, M(4, 5))); }});
  b.push_back({"matmul", {"(4, 5)", "(3)"}, [](Tape& t) { matmul(filled(t, M(4, 5)), filled(t, V(3))); }});
  b.push_back({"matmul", {"(3)", "(4)"}, [](Tape& t) { matmul(filled(t, V(3)), filled(t, V(4))); }});
  b.push_back({"matmul", {"()", "(3)"}, [](Tape& t) { matmul(filled(t, S()), filled(t, V(3))); }});
  b.push_back({"matmul", {"(3)", "(3, 3)"}, [](Tape& t) {
                 matmul(filled(t, V(3)), filled(t, M(3, 3)), true, false);
               }});
  b.push_back({"reshape", {"(3, 4)", "(5)"}, [](Tape& t) { reshape(filled(t, M(3, 4)), V(5)); }});
  b.push_back({"slice", {"(4)"}, [](Tape& t) { slice(filled(t, V(4)), 0, 2, 5); }});
  b.push_back({"slice", {"(4)"}, [](Tape& t) { slice(filled(t, V(4)), 0, 3, 2); }});
  b.push_back({"slice", {"(4)"}, [](Tape& t) { slice(filled(t, V(4)), 0, -1, 2); }});
  b.push_back({"slice", {"(3, 4)"}, [](Tape& t) { slice(filled(t, M(3, 4)), 1, 0, 5); }});
  b.push_back({"slice", {"(3, 4)"}, [](Tape& t) { slice(filled(t, M(3, 4)), 2, 0, 1); }});
  b.push_back({"slice", {"(3, 4)"}, [](Tape& t) { slice(filled(t, M(3, 4)), 0, 2); }});
  b.push_back({"slice", {"()"}, [](Tape& t) { slice(filled(t, S()), 0, 0, 1); }});
  b.push_back({"pad", {"(3, 4)"}, [](Tape& t) { pad(filled(t, M(3, 4)), 2, 1, 1); }});
  b.push_back({"pad", {"(3)"}, [](Tape& t) { pad(filled(t, V(3)), 0, -1, 1); }});
  b.push_back(
      {"add_padded", {"(3)", "(4)"}, [](Tape& t) { add_padded(filled(t, V(3)), filled(t, V(4)), 0, 0); }});
  b.push_back(
      {"add_padded", {"(5)", "(3)"}, [](Tape& t) { add_padded(filled(t, V(5)), filled(t, V(3)), 0, 3); }});
  b.push_back({"add_padded", {"(3, 4)", "(2, 3)"}, [](Tape& t) {
                 add_padded(filled(t, M(3, 4)), filled(t, M(2, 3)), 0, 0);
               }});
  b.push_back({"linear", {"(3, 2)", "(4, 3)", "(4)"}, [](Tape& t) {
                 linear(filled(t, M(3, 2)), filled(t, M(4, 3)), filled(t, V(4)));
               }});
  b.push_back({"linear", {"(3, 2)", "(4, 2)", "(3)"}, [](Tape& t) {
                 linear(filled(t, M(3, 2)), filled(t, M(4, 2)), filled(t, V(3)));
               }});
  b.push_back({"concatenate", {"(2, 3)", "(2, 4)"}, [](Tape& t) {
                 const Var xs[] = {filled(t, M(2, 3)), filled(t, M(2, 4))};
                 concatenate(xs, 0);
               }});
  b.push_back({"concatenate", {"(3)", "(2, 3)"}, [](Tape& t) {
                 const Var xs[] = {filled(t, V(3)), filled(t, M(2, 3))};
                 concatenate(xs, 0);
               }});
  b.push_back({"concatenate", {"(3)", "(2)"}, [](Tape& t) {
                 const Var xs[] = {filled(t, V(3)), filled(t, V(2))};
                 concatenate(xs, 1);
               }});
  b.push_back({"concatenate", {}, [](Tape&) { concatenate({}, 0); }});
  b.push_back({"broadcast_to", {"(3)", "(3, 4)"}, [](Tape& t) { broadcast_to(filled(t, V(3)), M(3, 4)); }});
  b.push_back({"broadcast_to", {"(3, 4)", "(4)"}, [](Tape& t) { broadcast_to(filled(t, M(3, 4)), V(4)); }});
  b.push_back({"sum_to", {"(3, 4)", "(3)"}, [](Tape& t) { sum_to(filled(t, M(3, 4)), V(3)); }});
  b.push_back({"sum_to", {"(4)", "(2, 4)"}, [](Tape& t) { sum_to(filled(t, V(4)), M(2, 4)); }});
  b.push_back({"sum", {"(3, 4)"}, [](Tape& t) { sum(filled(t, M(3, 4)), 2); }});
  b.push_back({"sum", {"(4)"}, [](Tape& t) { sum(filled(t, V(4)), 1); }});
  b.push_back({"mean", {"(3, 4)"}, [](Tape& t) { mean(filled(t, M(3, 4)), -1); }});
  b.push_back({"logsumexp", {"(3, 4)"}, [](Tape& t) { logsumexp(filled(t, M(3, 4)), 2); }});
  b.push_back({"softmax", {"(4)"}, [](Tape& t) { softmax(filled(t, V(4)), 1); }});
  return b;
}

TEST(OpShapes, IncompatibleOperandsThrowShapeErrorNamingTheOpAndShapes) {
  for (const BadShapes& b : bad_shapes()) {
    Tape t;
    std::string message;
    try {
      b.call(t);
      ADD_FAILURE() << b.op << " with shapes " << ::testing::PrintToString(b.mentions) << " did not throw";
      continue;
    } catch (const ShapeError& e) {
      message = e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << b.op << " threw something other than ShapeError: " << e.what();
      continue;
    }
    EXPECT_NE(message.find(b.op), std::string::npos) << message;
    for (const std::string& s : b.mentions)
      EXPECT_NE(message.find(s), std::string::npos) << "message does not mention " << s << ": " << message;
  }
}

// A shape error must surface identically from plain evaluation and from every derivative mode.
TEST(OpShapes, ShapeErrorsThrowInEveryDerivativeMode) {
  const Tensor w = pk::ad::test::random_tensor(V(12), kAny, 7);
  expect_ad(
      "add (3) + (4)", [](Var x) { return slice(x, 0, 3) + slice(x, 3, 7); }, w);
  expect_ad(
      "matmul (2, 3) @ (2, 3)",
      [](Var x) { return matmul(reshape(slice(x, 0, 6), M(2, 3)), reshape(slice(x, 6, 12), M(2, 3))); }, w);
  expect_ad(
      "reshape (12) to (5)", [](Var x) { return reshape(x, V(5)); }, w);
  expect_ad(
      "slice past the end", [](Var x) { return slice(x, 10, 13); }, w);
  expect_ad(
      "sum along axis 1 of a vector", [](Var x) { return sum(x, 1); }, w);
}

// --- memory safety under the sanitizers ---------------------------------------------------------
//
// The tests below reproduce library bugs that only the sanitizer build (asan preset) can see:
// the release build reads stale but intact memory and gets the right answer. Each runs its body
// in a child process (a gtest death test that expects a normal exit), so that when the
// sanitizer stops the child, this test fails on its own with the sanitizer's report and the
// rest of the suite still runs. Failed expectations in the child make it exit with 1.

template <class Body>
void expect_clean_exit(Body body) {
  EXPECT_EXIT(
      {
        body();
        std::exit(::testing::Test::HasFailure() ? 1 : 0);
      },
      ::testing::ExitedWithCode(0), "");
}

// An axis outside {0, 1} must be rejected before it is used to index a shape.
// Bug: concatenate.cpp:59 computes `as.dim(1 - axis)` before the axis is checked on line 60, so
// for matrices it reads dims[-1] or dims[2]. Release still throws the right error; the sanitizer
// build stops with "index 18446744073709551615 out of bounds for type 'long int [2]'".
TEST(OpMemoryDeathTest, ConcatenateRejectsAnAxisOutOfRangeBeforeUsingIt) {
  expect_clean_exit([] {
    for (const int axis : {2, -1}) {
      Tape t;
      const Var xs[] = {filled(t, M(2, 3)), filled(t, M(2, 3))};
      EXPECT_THROW(concatenate(xs, axis), ShapeError) << "axis " << axis;
    }
  });
}

// Runs `record_and_differentiate` on fresh tapes holding 0, 1, 2, ... filler values first, so
// that the tape's node storage (a vector whose first capacity is a few hundred nodes)
// reallocates at every possible point of the recording and of the backward pass in one run or
// another. Code that holds a reference into that storage, such as an input's shape, across a
// call that records reads freed memory at one of these lengths.
template <class Fn>
void at_every_tape_length(Fn record_and_differentiate) {
  expect_clean_exit([&] {
    for (int filler = 0; filler < 600; ++filler) {
      Tape t;
      for (int k = 0; k < filler; ++k) t.scalar(0.0);
      record_and_differentiate(t);
      if (::testing::Test::HasFailure()) {
        ADD_FAILURE() << "with " << filler << " values recorded first";
        return;
      }
    }
  });
}

// y = sum(a op b) with b broadcast, differentiated with an explicit seed so that only the op's
// own backward rule records.
void expect_binary_gradient(Var (*op)(Var, Var), double da, double db_sum) {
  at_every_tape_length([&](Tape& t) {
    const Var a = t.variable(Tensor::matrix(2, 2, {2.0, 2.0, 2.0, 2.0}));
    const Var b = t.variable(Tensor::vector({2.0, 2.0}));
    const Var y = sum(op(a, b));
    const Var wrt[] = {a, b};
    const std::vector<Var> g = grad(y, wrt, {.create_graph = false, .seed = t.scalar(1.0)});
    EXPECT_EQ(g[0].value()[0], da);
    EXPECT_EQ(g[1].value()[1], db_sum);
  });
}

// Bug: mul.cpp:17-18, sub.cpp:18 and div.cpp:18 write `sum_to(<an op that records>,
// c.input_shape(i))`. BackwardContext::input_shape returns a reference into the tape's node
// vector; GCC takes that reference before evaluating the recording argument and copies the
// Shape only after it, so when that recording reallocates the vector the shape is read from
// freed memory (heap-use-after-free).
TEST(OpMemoryDeathTest, MulBackwardSurvivesTheTapeGrowing) {
  expect_binary_gradient(mul, 2.0, 4.0);  // d/da = b; d/db_j = sum over rows of a
}
TEST(OpMemoryDeathTest, SubBackwardSurvivesTheTapeGrowing) { expect_binary_gradient(sub, 1.0, -2.0); }
TEST(OpMemoryDeathTest, DivBackwardSurvivesTheTapeGrowing) {
  expect_binary_gradient(div, 0.5, -1.0);  // 1/b; sum over rows of -a/b^2
}

// Bug: logsumexp.cpp:36 keeps `const Shape& xs = c.input_shape(0)` and reads it on line 38,
// after the reshape on line 37 and the softmax on line 38 have recorded (heap-use-after-free).
TEST(OpMemoryDeathTest, LogsumexpBackwardSurvivesTheTapeGrowing) {
  at_every_tape_length([](Tape& t) {
    const Var x = t.variable(Tensor::matrix(2, 2, {0.0, 0.0, 1.0, 1.0}));
    const Var g = grad(sum(logsumexp(x, 1)), x, {.create_graph = false, .seed = t.scalar(1.0)});
    EXPECT_DOUBLE_EQ(g.value()[0], 0.5);
    EXPECT_DOUBLE_EQ(g.value()[3], 0.5);
  });
}

// Bug: grad.cpp:26 keeps `const Shape& ys = y.shape()` and, without create_graph and without a
// seed, reads it for the default seed on line 50, after filling the result slots on line 48 has
// recorded (heap-use-after-free when that fill reallocates the node vector).
TEST(OpMemoryDeathTest, GradWithTheDefaultSeedSurvivesTheTapeGrowing) {
  at_every_tape_length([](Tape& t) {
    const Var x = t.variable(Tensor::vector({1.0, 2.0}));
    EXPECT_EQ(grad(sum(x), x).value()[1], 1.0);
  });
}

}  // namespace
