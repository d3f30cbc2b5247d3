// avg_pool2d and its adjoint: the mean of each window, and each output's adjoint spread evenly
// back over its window. Both are linear, each one's backward rule is the other and each one's
// tangent is itself applied to the tangent, so derivatives of every order come from these two
// loops. A dedicated pair rather than unfold + mean: pooling reads each pixel once or a few
// times, and materialising the windows would cost more than the averaging.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"
#include "autodiff/ops/window.hpp"

namespace pk::ad {
namespace {
const Conv2dGeometry& geometry(const Node& n) { return *static_cast<const Conv2dGeometry*>(n.params.record); }

// Each output adds its window in row-major order and divides by k^2, as PyTorch does. The
// 2 x 2, stride 2 window, by far the commonest, gets a loop of its own with the window unrolled:
// the general loops' k x k inner loops, two iterations each, cost more than the additions.

// When 2 x 2 windows every 2 pixels tile the planes exactly, the planes stacked are one tall
// image and output row r (of planes * H' rows) averages input rows 2r and 2r + 1. Eight outputs
// at a time are then vector operations: the even and odd pixels of 16 consecutive inputs are two
// shuffles, and the sum keeps the row-major order of the general loop. Eight outputs are one
// row's block when W' is a multiple of 8, or two whole rows when W' = 4 (8 x 8 images).
typedef double v8d __attribute__((vector_size(64)));

v8d load(const double* p) {
  v8d v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
void store(const v8d& v, double* p) { std::memcpy(p, &v, sizeof v); }

bool tiled_pairs(const Conv2dGeometry& g) {
  return g.kernel_h == 2 && g.stride_h == 2 && g.height == 2 * g.out_height() &&
         g.width == 2 * g.out_width() && (g.out_width() % 8 == 0 || g.out_width() == 4);
}

// The means of 8 windows whose top-left pixels' rows start at a and b (16 pixels each, the
// bottom rows W further on).
v8d pool8(const double* a, const double* b, std::int64_t W) {
  const v8d t0 = load(a), t1 = load(b), u0 = load(a + W), u1 = load(b + W);
  // __builtin_shufflevector (GCC 12 and Clang alike), not GCC's __builtin_shuffle: the fuzzers
  // build this file with Clang.
  const v8d top_even = __builtin_shufflevector(t0, t1, 0, 2, 4, 6, 8, 10, 12, 14);
  const v8d top_odd = __builtin_shufflevector(t0, t1, 1, 3, 5, 7, 9, 11, 13, 15);
  const v8d bot_even = __builtin_shufflevector(u0, u1, 0, 2, 4, 6, 8, 10, 12, 14);
  const v8d bot_odd = __builtin_shufflevector(u0, u1, 1, 3, 5, 7, 9, 11, 13, 15);
  return (((top_even + top_odd) + bot_even) + bot_odd) / 4.0;
}

void pool_tiled(const Conv2dGeometry& g, std::int64_t planes, const double* x, double* y) {
  const std::int64_t W = g.width, ow_n = g.out_width(), rows = planes * g.out_height();
  if (ow_n == 4) {  // two output rows (four input rows of 8) per vector
    std::int64_t r = 0;
    for (; r + 2 <= rows; r += 2, y += 8) store(pool8(x + 2 * r * W, x + (2 * r + 2) * W, W), y);
    if (r < rows) {
      const double* r0 = x + 2 * r * W;
      for (std::int64_t ow = 0; ow < 4; ++ow)
        y[ow] = (((r0[2 * ow] + r0[2 * ow + 1]) + r0[W + 2 * ow]) + r0[W + 2 * ow + 1]) / 4.0;
    }
    return;
  }
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t ow = 0; ow < ow_n; ow += 8, y += 8) {
      const double* a = x + 2 * r * W + 2 * ow;
      store(pool8(a, a + 8, W), y);
    }
}

// The adjoint: each of 8 outputs' g / 4 to its window's 4 pixels.
void spread8(const double* gy, double* a, double* b, std::int64_t W) {
  const v8d v = load(gy) / 4.0;
  const v8d lo = __builtin_shufflevector(v, v, 0, 0, 1, 1, 2, 2, 3, 3);
  const v8d hi = __builtin_shufflevector(v, v, 4, 4, 5, 5, 6, 6, 7, 7);
  store(lo, a);
  store(lo, a + W);
  store(hi, b);
  store(hi, b + W);
}

void spread_tiled(const Conv2dGeometry& g, std::int64_t planes, const double* gy, double* x) {
  const std::int64_t W = g.width, ow_n = g.out_width(), rows = planes * g.out_height();
  if (ow_n == 4) {
    std::int64_t r = 0;
    for (; r + 2 <= rows; r += 2, gy += 8) spread8(gy, x + 2 * r * W, x + (2 * r + 2) * W, W);
    if (r < rows) {
      double* r0 = x + 2 * r * W;
      for (std::int64_t ow = 0; ow < 4; ++ow) {
        const double v = gy[ow] / 4.0;
        r0[2 * ow] = r0[2 * ow + 1] = r0[W + 2 * ow] = r0[W + 2 * ow + 1] = v;
      }
    }
    return;
  }
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t ow = 0; ow < ow_n; ow += 8, gy += 8) {
      double* a = x + 2 * r * W + 2 * ow;
      spread8(gy, a, a + 8, W);
    }
}

// y (planes x P) = window means of x (planes x H*W), one plane per (image, channel).
void pool_values(const Conv2dGeometry& g, std::int64_t planes, const double* x, double* y) {
  if (tiled_pairs(g)) return pool_tiled(g, planes, x, y);
  const std::int64_t W = g.width, HW = g.height * W, k = g.kernel_h, s = g.stride_h;
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width();
  const double count = static_cast<double>(k * k);
  for (std::int64_t p = 0; p < planes; ++p) {
    const double* plane = x + p * HW;
    for (std::int64_t oh = 0; oh < oh_n; ++oh, y += ow_n) {
      if (k == 2 && s == 2) {
        const double* r0 = plane + 2 * oh * W;
        const double* r1 = r0 + W;
        for (std::int64_t ow = 0; ow < ow_n; ++ow)
          y[ow] = (((r0[2 * ow] + r0[2 * ow + 1]) + r1[2 * ow]) + r1[2 * ow + 1]) / 4.0;
        continue;
      }
      for (std::int64_t ow = 0; ow < ow_n; ++ow) {
        const double* corner = plane + oh * s * W + ow * s;
        double sum = 0.0;
        for (std::int64_t i = 0; i < k; ++i)
          for (std::int64_t j = 0; j < k; ++j) sum += corner[i * W + j];
        y[ow] = sum / count;
      }
    }
  }
}

// x (planes x H*W) = each window's g / k^2 added to its pixels.
void spread_values(const Conv2dGeometry& g, std::int64_t planes, const double* gy, double* x) {
  if (tiled_pairs(g)) return spread_tiled(g, planes, gy, x);
  const std::int64_t W = g.width, HW = g.height * W, k = g.kernel_h, s = g.stride_h;
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width();
  const double count = static_cast<double>(k * k);
  if (k == 2 && s == 2 && g.height == 2 * oh_n && W == 2 * ow_n) {
    // Windows tile the plane exactly: every pixel is written once, nothing needs zeroing first.
    for (std::int64_t p = 0; p < planes; ++p) {
      double* plane = x + p * HW;
      for (std::int64_t oh = 0; oh < oh_n; ++oh, gy += ow_n) {
        double* r0 = plane + 2 * oh * W;
        double* r1 = r0 + W;
        for (std::int64_t ow = 0; ow < ow_n; ++ow) {
          const double v = gy[ow] / 4.0;
          r0[2 * ow] = v;
          r0[2 * ow + 1] = v;
          r1[2 * ow] = v;
          r1[2 * ow + 1] = v;
        }
      }
    }
    return;
  }
  std::fill_n(x, planes * HW, 0.0);
  for (std::int64_t p = 0; p < planes; ++p) {
    double* plane = x + p * HW;
    for (std::int64_t oh = 0; oh < oh_n; ++oh, gy += ow_n)
      for (std::int64_t ow = 0; ow < ow_n; ++ow) {
        double* corner = plane + oh * s * W + ow * s;
        const double v = gy[ow] / count;
        for (std::int64_t i = 0; i < k; ++i)
          for (std::int64_t j = 0; j < k; ++j) corner[i * W + j] += v;
      }
  }
}

std::int64_t planes_of(const Node& image_side) {
  return image_side.shape.dim(0) * static_cast<const Conv2dGeometry*>(image_side.params.record)->channels;
}

Var pool(Var x, const Conv2dGeometry* g);
Var spread(Var gy, const Conv2dGeometry* g);

void pool_forward(Tape& t, Node& out) {
  out.value = allocate(t, out.shape.size());
  pool_values(geometry(out), planes_of(out), node_at(t, out.inputs[0]).value, out.value);
}
void pool_tangent(Tape& t, Node& out) {
  out.tangent = allocate(t, out.shape.size());
  pool_values(geometry(out), planes_of(out), node_at(t, out.inputs[0]).tangent, out.tangent);
}
void pool_backward(BackwardContext& c) {
  c.accumulate(0, spread(c.grad_output(), static_cast<const Conv2dGeometry*>(c.params().record)));
}
const OpRule pool_rule{"avg_pool2d", pool_forward, pool_tangent, pool_backward};

void spread_forward(Tape& t, Node& out) {
  out.value = allocate(t, out.shape.size());
  spread_values(geometry(out), planes_of(out), node_at(t, out.inputs[0]).value, out.value);
}
void spread_tangent(Tape& t, Node& out) {
  out.tangent = allocate(t, out.shape.size());
  spread_values(geometry(out), planes_of(out), node_at(t, out.inputs[0]).tangent, out.tangent);
}
void spread_backward(BackwardContext& c) {
  c.accumulate(0, pool(c.grad_output(), static_cast<const Conv2dGeometry*>(c.params().record)));
}
const OpRule spread_rule{"avg_pool2d_adjoint", spread_forward, spread_tangent, spread_backward};

Var pool(Var x, const Conv2dGeometry* g) {
  OpParams p;
  p.record = g;
  return record(x.tape(), pool_rule, {x},
                Shape::matrix(x.shape().dim(0), g->channels * detail::positions(*g)), p);
}

Var spread(Var gy, const Conv2dGeometry* g) {
  OpParams p;
  p.record = g;
  return record(gy.tape(), spread_rule, {gy}, Shape::matrix(gy.shape().dim(0), detail::image_size(*g)), p);
}
}  // namespace

Var avg_pool2d(Var x, const ImageShape& image, std::int64_t kernel, std::int64_t stride) {
  Tape& t = detail::tape_of("avg_pool2d", {x});
  const Conv2dGeometry g = detail::pool_geometry(image, kernel, stride);
  detail::check_window(g, x.shape(), "avg_pool2d");
  return pool(x, store(t, g));
}

Var avg_pool2d_adjoint(Var gy, const ImageShape& image, std::int64_t kernel, std::int64_t stride) {
  Tape& t = detail::tape_of("avg_pool2d_adjoint", {gy});
  const Conv2dGeometry g = detail::pool_geometry(image, kernel, stride);
  const Shape s = gy.shape();
  detail::check_geometry(g, s, "avg_pool2d_adjoint");
  const std::int64_t per_image = g.channels * detail::positions(g);
  if (s.rank != 2 || s.dim(1) != per_image)
    throw ShapeError("avg_pool2d_adjoint: adjoint of shape " + s.str() + " is not N x " +
                     std::to_string(per_image) + " (" + detail::describe(g) + ")");
  // The result's size, checked as unfold's would be: N * C*H*W must fit a shape.
  detail::check_window(g, Shape::matrix(s.dim(0), detail::image_size(g)), "avg_pool2d_adjoint");
  return spread(gy, store(t, g));
}
}  // namespace pk::ad
