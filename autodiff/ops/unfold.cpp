// unfold (im2col) and fold (col2im), each the other's adjoint: unfold copies every window's taps
// into one row per output position, fold adds each row's elements back onto the pixels they came
// from. Both are linear, so each one's tangent is itself applied to the input's tangent and each
// one's backward rule is the other, which makes derivatives of any order of everything built on
// them (conv2d) come from these two rules and matmul's.
#include <algorithm>
#include <limits>
#include <string>

#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"
#include "autodiff/ops/window.hpp"

namespace pk::ad {
namespace detail {

std::string describe(const Conv2dGeometry& g) {
  auto pair = [](std::int64_t a, std::int64_t b) {
    return std::to_string(a) + " x " + std::to_string(b);
  };
  return "channels " + std::to_string(g.channels) + ", image " + pair(g.height, g.width) +
         ", kernel " + pair(g.kernel_h, g.kernel_w) + ", stride " + pair(g.stride_h, g.stride_w) +
         ", padding " + pair(g.padding_h, g.padding_w) + ", dilation " +
         pair(g.dilation_h, g.dilation_w);
}

void check_geometry(const Conv2dGeometry& g, const Shape& operand, const char* op) {
  auto fail = [&](const char* why) {
    throw ShapeError(std::string(op) + ": " + why + " (" + describe(g) + "; operand of shape " +
                     operand.str() + ")");
  };
  constexpr std::int64_t kLimit = std::int64_t{1} << 31;
  for (const std::int64_t v : {g.channels, g.height, g.width, g.kernel_h, g.kernel_w, g.stride_h,
                               g.stride_w, g.dilation_h, g.dilation_w})
    if (v < 1 || v >= kLimit) fail("extents, kernel, stride and dilation must lie in [1, 2^31)");
  if (g.padding_h < 0 || g.padding_w < 0 || g.padding_h >= kLimit || g.padding_w >= kLimit)
    fail("padding must lie in [0, 2^31)");
  // Below 2^31 each, so these spans and the out_height/out_width arithmetic fit in 64 bits.
  if (g.dilation_h * (g.kernel_h - 1) + 1 > g.height + 2 * g.padding_h ||
      g.dilation_w * (g.kernel_w - 1) + 1 > g.width + 2 * g.padding_w)
    fail("the window is larger than the padded image");
  std::int64_t n = 0;
  if (__builtin_mul_overflow(g.channels * g.height, g.width, &n) || n > Shape::kMaxSize ||
      __builtin_mul_overflow(g.channels * g.kernel_h, g.kernel_w, &n) || n > Shape::kMaxSize ||
      __builtin_mul_overflow(g.out_height(), g.out_width(), &n) || n > Shape::kMaxSize)
    fail("the image, the window or the output positions number more than Shape::kMaxSize");
}

void check_window(const Conv2dGeometry& g, const Shape& x, const char* op) {
  check_geometry(g, x, op);
  std::int64_t rows = 0;
  if (x.rank != 2 || x.dim(1) != image_size(g))
    throw ShapeError(std::string(op) + ": expected a matrix with one image of " +
                     std::to_string(image_size(g)) + " pixels per row, got shape " + x.str() +
                     " (" + describe(g) + ")");
  if (__builtin_mul_overflow(x.dim(0), positions(g), &rows) ||
      __builtin_mul_overflow(rows, patch_size(g), &rows) || rows > Shape::kMaxSize)
    throw ShapeError(std::string(op) + ": unfolding shape " + x.str() +
                     " would give more than Shape::kMaxSize elements (" + describe(g) + ")");
}

}  // namespace detail

namespace {
// The window of output position (oh, ow) over image row h: which taps j fall inside the image.
// Interior positions, the common case, skip the per-tap test.
struct Row {
  std::int64_t w0;    // column of tap 0 (may be negative)
  bool interior;      // every tap of the row lies inside the image
};

Row row_of(const Conv2dGeometry& g, std::int64_t ow) {
  const std::int64_t w0 = ow * g.stride_w - g.padding_w;
  return {w0, w0 >= 0 && w0 + (g.kernel_w - 1) * g.dilation_w < g.width};
}

// cols ((N*P) x (C*kh*kw)) from x (N x (C*H*W)).
void unfold_values(const Conv2dGeometry& g, std::int64_t n_images, const double* x, double* cols) {
  const std::int64_t H = g.height, W = g.width, HW = H * W, kh = g.kernel_h, kw = g.kernel_w;
  const std::int64_t dh = g.dilation_h, dw = g.dilation_w;
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width();
  double* dst = cols;
  for (std::int64_t n = 0; n < n_images; ++n) {
    const double* image = x + n * g.channels * HW;
    for (std::int64_t oh = 0; oh < oh_n; ++oh) {
      const std::int64_t h0 = oh * g.stride_h - g.padding_h;
      for (std::int64_t ow = 0; ow < ow_n; ++ow) {
        const Row r = row_of(g, ow);
        for (std::int64_t c = 0; c < g.channels; ++c)
          for (std::int64_t i = 0; i < kh; ++i, dst += kw) {
            const std::int64_t h = h0 + i * dh;
            if (h < 0 || h >= H) {
              std::fill_n(dst, kw, 0.0);
              continue;
            }
            const double* src = image + c * HW + h * W + r.w0;
            if (r.interior) {
              for (std::int64_t j = 0; j < kw; ++j) dst[j] = src[j * dw];
            } else {
              for (std::int64_t j = 0; j < kw; ++j) {
                const std::int64_t w = r.w0 + j * dw;
                dst[j] = w >= 0 && w < W ? src[j * dw] : 0.0;
              }
            }
          }
      }
    }
  }
}

// x (N x (C*H*W)) = the sum of cols' elements onto the pixels unfold read them from.
void fold_values(const Conv2dGeometry& g, std::int64_t n_images, const double* cols, double* x) {
  const std::int64_t H = g.height, W = g.width, HW = H * W, kh = g.kernel_h, kw = g.kernel_w;
  const std::int64_t dh = g.dilation_h, dw = g.dilation_w;
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width();
  std::fill_n(x, n_images * g.channels * HW, 0.0);
  const double* src = cols;
  for (std::int64_t n = 0; n < n_images; ++n) {
    double* image = x + n * g.channels * HW;
    for (std::int64_t oh = 0; oh < oh_n; ++oh) {
      const std::int64_t h0 = oh * g.stride_h - g.padding_h;
      for (std::int64_t ow = 0; ow < ow_n; ++ow) {
        const Row r = row_of(g, ow);
        for (std::int64_t c = 0; c < g.channels; ++c)
          for (std::int64_t i = 0; i < kh; ++i, src += kw) {
            const std::int64_t h = h0 + i * dh;
            if (h < 0 || h >= H) continue;
            double* out = image + c * HW + h * W + r.w0;
            if (r.interior) {
              for (std::int64_t j = 0; j < kw; ++j) out[j * dw] += src[j];
            } else {
              for (std::int64_t j = 0; j < kw; ++j) {
                const std::int64_t w = r.w0 + j * dw;
                if (w >= 0 && w < W) out[j * dw] += src[j];
              }
            }
          }
      }
    }
  }
}

const Conv2dGeometry& geometry(const Node& n) {
  return *static_cast<const Conv2dGeometry*>(n.params.record);
}

void unfold_forward(Tape& t, Node& out) {
  const Node& x = t.node_at(out.inputs[0]);
  out.value = t.allocate(out.shape.size());
  unfold_values(geometry(out), x.shape.dim(0), x.value, out.value);
}
void unfold_tangent(Tape& t, Node& out) {
  const Node& x = t.node_at(out.inputs[0]);
  out.tangent = t.allocate(out.shape.size());
  unfold_values(geometry(out), x.shape.dim(0), x.tangent, out.tangent);
}
void unfold_backward(BackwardContext& c) {
  c.accumulate(0, detail::fold(c.grad_output(),
                               static_cast<const Conv2dGeometry*>(c.params().record)));
}
const OpRule unfold_rule{"unfold", unfold_forward, unfold_tangent, unfold_backward};

void fold_forward(Tape& t, Node& out) {
  out.value = t.allocate(out.shape.size());
  fold_values(geometry(out), out.shape.dim(0), t.node_at(out.inputs[0]).value, out.value);
}
void fold_tangent(Tape& t, Node& out) {
  out.tangent = t.allocate(out.shape.size());
  fold_values(geometry(out), out.shape.dim(0), t.node_at(out.inputs[0]).tangent, out.tangent);
}
void fold_backward(BackwardContext& c) {
  c.accumulate(0, detail::unfold(c.grad_output(),
                                 static_cast<const Conv2dGeometry*>(c.params().record)));
}
const OpRule fold_rule{"fold", fold_forward, fold_tangent, fold_backward};
}  // namespace

namespace detail {
Var unfold(Var x, const Conv2dGeometry* g) {
  Tape& t = x.tape();
  const Shape out = Shape::matrix(x.shape().dim(0) * positions(*g), patch_size(*g));
  OpParams p;
  p.record = g;
  return t.record(unfold_rule, {x}, out, p);
}

Var fold(Var cols, const Conv2dGeometry* g) {
  Tape& t = cols.tape();
  const Shape out = Shape::matrix(cols.shape().dim(0) / positions(*g), image_size(*g));
  OpParams p;
  p.record = g;
  return t.record(fold_rule, {cols}, out, p);
}
}  // namespace detail

Var unfold(Var x, const Conv2dGeometry& g) {
  Tape& t = detail::tape_of("unfold", {x});
  detail::check_window(g, x.shape(), "unfold");
  return detail::unfold(x, t.store(g));
}

Var fold(Var cols, const Conv2dGeometry& g) {
  Tape& t = detail::tape_of("fold", {cols});
  const Shape s = cols.shape();
  detail::check_geometry(g, s, "fold");
  const std::int64_t p = detail::positions(g);
  if (s.rank != 2 || s.dim(1) != detail::patch_size(g) || s.dim(0) % p != 0)
    throw ShapeError("fold: columns of shape " + s.str() + " do not hold whole images of " +
                     std::to_string(p) + " positions x " + std::to_string(detail::patch_size(g)) +
                     " taps (" + detail::describe(g) + ")");
  return detail::fold(cols, t.store(g));
}
}  // namespace pk::ad
