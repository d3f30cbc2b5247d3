// unfold (im2col) and fold (col2im), each the other's adjoint: unfold copies every window's taps
// into one row per output position, fold adds each row's elements back onto the pixels they came
// from. Both are linear, so each one's tangent is itself applied to the input's tangent and each
// one's backward rule is the other, which makes derivatives of any order of everything built on
// them (conv2d) come from these two rules and matmul's.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"
#include "autodiff/ops/window.hpp"

namespace pk::ad {
namespace detail {

std::string describe(const Conv2dGeometry& g) {
  auto pair = [](std::int64_t a, std::int64_t b) { return std::to_string(a) + " x " + std::to_string(b); };
  return "channels " + std::to_string(g.channels) + ", image " + pair(g.height, g.width) + ", kernel " +
         pair(g.kernel_h, g.kernel_w) + ", stride " + pair(g.stride_h, g.stride_w) + ", padding " +
         pair(g.padding_h, g.padding_w) + ", dilation " + pair(g.dilation_h, g.dilation_w);
}

void check_geometry(const Conv2dGeometry& g, const Shape& operand, const char* op) {
  auto fail = [&](const char* why) {
    throw ShapeError(std::string(op) + ": " + why + " (" + describe(g) + "; operand of shape " +
                     operand.str() + ")");
  };
  constexpr std::int64_t kLimit = std::int64_t{1} << 31;
  for (const std::int64_t v : {g.channels, g.height, g.width, g.kernel_h, g.kernel_w, g.stride_h, g.stride_w,
                               g.dilation_h, g.dilation_w})
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
                     std::to_string(image_size(g)) + " pixels per row, got shape " + x.str() + " (" +
                     describe(g) + ")");
  if (__builtin_mul_overflow(x.dim(0), positions(g), &rows) ||
      __builtin_mul_overflow(rows, patch_size(g), &rows) || rows > Shape::kMaxSize)
    throw ShapeError(std::string(op) + ": unfolding shape " + x.str() +
                     " would give more than Shape::kMaxSize elements (" + describe(g) + ")");
}

void check_channel_major(const Conv2dGeometry& g, const Shape& x, const char* op) {
  check_geometry(g, x, op);
  const std::int64_t plane = g.height * g.width;
  if (x.rank != 2 || x.dim(0) != g.channels || x.dim(1) % plane != 0)
    throw ShapeError(std::string(op) + ": expected a channel-major batch, " + std::to_string(g.channels) +
                     " rows of whole images of " + std::to_string(plane) + " pixels, got shape " + x.str() +
                     " (" + describe(g) + ")");
  check_window(g, Shape::matrix(x.dim(1) / plane, image_size(g)), op);
}

}  // namespace detail

namespace {
// The columns are laid out tap-major: row (c, i, j) of the (C*kh*kw) x (N*H'*W') result holds that
// tap for every output position, so each (row, image, output row) is a run of W' values read
// from one image row at stride sw. The taps that fall in the left or right padding are a prefix
// and a suffix of the run, found once per tap instead of tested per element, and for stride 1
// the middle is a plain copy.
struct Run {
  std::int64_t lo, hi;  // positions ow in [lo, hi) read inside the image; the rest are padding
  std::int64_t w0;      // image column of position 0 (may be negative)
};

Run run_of(const Conv2dGeometry& g, std::int64_t j) {
  const std::int64_t w0 = j * g.dilation_w - g.padding_w, sw = g.stride_w, ow_n = g.out_width();
  // The smallest ow with w0 + ow*sw >= 0 and the first with w0 + ow*sw >= W.
  const std::int64_t lo = w0 >= 0 ? 0 : (-w0 + sw - 1) / sw;
  const std::int64_t hi = g.width - w0 <= 0 ? 0 : (g.width - w0 + sw - 1) / sw;
  const std::int64_t l = std::min(lo, ow_n), h = std::clamp(hi, l, ow_n);
  return {l, h, w0};
}

// dst[0, n) = src[0, n) for the short runs of small images: a call to memmove per run (what a
// copy loop compiles to) costs more than the copy. Fixed-size chunks inline to vector moves; the
// last chunk overlaps the one before instead of looping over a tail.
void copy_run(const double* src, std::int64_t n, double* dst) {
  if (n >= 8) {
    for (std::int64_t q = 0; q + 8 <= n; q += 8) std::memcpy(dst + q, src + q, 8 * sizeof(double));
    std::memcpy(dst + n - 8, src + n - 8, 8 * sizeof(double));
    return;
  }
  if (n >= 4) {
    std::memcpy(dst, src, 4 * sizeof(double));
    std::memcpy(dst + n - 4, src + n - 4, 4 * sizeof(double));
    return;
  }
  for (std::int64_t q = 0; q < n; ++q) dst[q] = src[q];
}

// With stride 1 and an output as wide as the image (a "same" convolution), a tap's values for
// one image are the image shifted by a constant offset: output position q reads pixel q + offset
// when it lies inside the image, and is padding otherwise. Over the range [first, last) between
// the first and the last position that reads a pixel every read stays inside the plane, so one
// pass over it with a mask (all ones or all zeros per position, the same for every image and
// channel) copies the pixels and zeroes the padding that wrapped around from a neighbouring row;
// the positions before and after the range are padding. For small images this is one pass per
// tap and image instead of one per image row, each of which would cost more to set up than to
// run, and it vectorises (the mask is a bitwise and, exact for every value).
struct Shifted {
  std::int64_t first = 0, last = 0, offset = 0;  // empty when first == last
  std::vector<std::uint64_t> keep;               // over [first, last)
};

Shifted shifted_tap(const Conv2dGeometry& g, const Run& r, std::int64_t i) {
  const std::int64_t H = g.height, W = g.width, oh_n = g.out_height();
  const std::int64_t down = i * g.dilation_h - g.padding_h;  // image row of output row oh: oh + down
  const std::int64_t oh_lo = std::clamp(-down, std::int64_t{0}, oh_n);
  const std::int64_t oh_hi = std::clamp(H - down, oh_lo, oh_n);
  Shifted t;
  if (r.lo >= r.hi || oh_lo >= oh_hi) return t;
  t.first = oh_lo * W + r.lo;
  t.last = (oh_hi - 1) * W + r.hi;
  t.offset = down * W + r.w0;
  t.keep.resize(static_cast<std::size_t>(t.last - t.first));
  for (std::int64_t q = t.first; q < t.last; ++q) {
    const std::int64_t ow = q % W;
    t.keep[static_cast<std::size_t>(q - t.first)] = ow >= r.lo && ow < r.hi ? ~std::uint64_t{0} : 0;
  }
  return t;
}

double masked(double v, std::uint64_t keep) {
  return std::bit_cast<double>(std::bit_cast<std::uint64_t>(v) & keep);
}

void unfold_shifted(const Shifted& t, std::int64_t p, const double* plane, double* dst) {
  std::fill(dst, dst + t.first, 0.0);
  const std::int64_t n = t.last - t.first;
  const double* src = plane + (t.first + t.offset);  // inside the plane when n > 0
  double* out = dst + t.first;
  for (std::int64_t q = 0; q < n; ++q) out[q] = masked(src[q], t.keep[static_cast<std::size_t>(q)]);
  std::fill(dst + t.last, dst + p, 0.0);
}

// Where plane (image n, channel c) starts: images of C planes one after another (image-major,
// N x (C*H*W)), or channels of N planes one after another (channel-major, C x (N*H*W)).
std::int64_t plane_at(const Conv2dGeometry& g, std::int64_t n_images, bool channel_major, std::int64_t n,
                      std::int64_t c) {
  return (channel_major ? c * n_images + n : n * g.channels + c) * g.height * g.width;
}

// cols ((C*kh*kw) x (N*P)) from x (N x (C*H*W), or C x (N*H*W) when channel_major).
void unfold_values(const Conv2dGeometry& g, std::int64_t n_images, bool channel_major, const double* x,
                   double* cols) {
  const std::int64_t H = g.height, W = g.width, sw = g.stride_w;
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width(), p = oh_n * ow_n;
  const bool shifted = g.stride_h == 1 && sw == 1 && ow_n == W;
  double* dst = cols;
  for (std::int64_t c = 0; c < g.channels; ++c)
    for (std::int64_t i = 0; i < g.kernel_h; ++i)
      for (std::int64_t j = 0; j < g.kernel_w; ++j) {
        const Run r = run_of(g, j);
        const Shifted tap = shifted ? shifted_tap(g, r, i) : Shifted{};
        for (std::int64_t n = 0; n < n_images; ++n, dst += p) {
          const double* plane = x + plane_at(g, n_images, channel_major, n, c);
          if (shifted) {
            unfold_shifted(tap, p, plane, dst);
            continue;
          }
          for (std::int64_t oh = 0; oh < oh_n; ++oh) {
            double* out = dst + oh * ow_n;
            const std::int64_t h = oh * g.stride_h - g.padding_h + i * g.dilation_h;
            if (h < 0 || h >= H) {
              std::fill_n(out, ow_n, 0.0);
              continue;
            }
            const double* src = plane + h * W;
            for (std::int64_t ow = 0; ow < r.lo; ++ow) out[ow] = 0.0;
            if (sw == 1) {
              copy_run(src + (r.w0 + r.lo), r.hi - r.lo, out + r.lo);
            } else {
              for (std::int64_t ow = r.lo; ow < r.hi; ++ow) out[ow] = src[r.w0 + ow * sw];
            }
            for (std::int64_t ow = r.hi; ow < ow_n; ++ow) out[ow] = 0.0;
          }
        }
      }
}

// fold's counterpart of unfold_shifted: one pass over the range of a tap's values for one
// image, each added to the pixel at a constant offset. The elements that unfold set to padding
// add +0.0 instead, which leaves every pixel unchanged: the sums start from +0.0 and so are never
// -0.0.
void fold_shifted(const Shifted& t, const double* src, double* plane) {
  const std::int64_t n = t.last - t.first;
  double* out = plane + (t.first + t.offset);  // inside the plane when n > 0
  const double* in = src + t.first;
  for (std::int64_t q = 0; q < n; ++q) out[q] += masked(in[q], t.keep[static_cast<std::size_t>(q)]);
}

// x (N x (C*H*W), or C x (N*H*W) when channel_major) = the sum of cols' elements onto the pixels
// unfold read them from.
void fold_values(const Conv2dGeometry& g, std::int64_t n_images, bool channel_major, const double* cols,
                 double* x) {
  const std::int64_t H = g.height, W = g.width, HW = H * W, sw = g.stride_w;
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width(), p = oh_n * ow_n;
  const bool shifted = g.stride_h == 1 && sw == 1 && ow_n == W;
  std::fill_n(x, n_images * g.channels * HW, 0.0);
  const double* src = cols;
  for (std::int64_t c = 0; c < g.channels; ++c)
    for (std::int64_t i = 0; i < g.kernel_h; ++i)
      for (std::int64_t j = 0; j < g.kernel_w; ++j) {
        const Run r = run_of(g, j);
        const Shifted tap = shifted ? shifted_tap(g, r, i) : Shifted{};
        for (std::int64_t n = 0; n < n_images; ++n, src += p) {
          double* plane = x + plane_at(g, n_images, channel_major, n, c);
          if (shifted) {
            fold_shifted(tap, src, plane);
            continue;
          }
          for (std::int64_t oh = 0; oh < oh_n; ++oh) {
            const std::int64_t h = oh * g.stride_h - g.padding_h + i * g.dilation_h;
            if (h < 0 || h >= H) continue;
            const double* in = src + oh * ow_n;
            double* out = plane + h * W;
            if (sw == 1) {
              for (std::int64_t ow = r.lo; ow < r.hi; ++ow) out[r.w0 + ow] += in[ow];
            } else {
              for (std::int64_t ow = r.lo; ow < r.hi; ++ow) out[r.w0 + ow * sw] += in[ow];
            }
          }
        }
      }
}

const Conv2dGeometry& geometry(const Node& n) { return *static_cast<const Conv2dGeometry*>(n.params.record); }
bool channel_major(const Node& n) { return n.params.ints[0] != 0; }
// Images in the batch of an unfold or fold node: the columns' positions over those per image.
std::int64_t images_of(const Node& op, const Node& cols) {
  return cols.shape.dim(1) / detail::positions(geometry(op));
}

void unfold_forward(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  out.value = allocate(t, out.shape.size());
  unfold_values(geometry(out), images_of(out, out), channel_major(out), x.value, out.value);
}
void unfold_tangent(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  out.tangent = allocate(t, out.shape.size());
  unfold_values(geometry(out), images_of(out, out), channel_major(out), x.tangent, out.tangent);
}
void unfold_backward(BackwardContext& c) {
  c.accumulate(0, detail::fold(c.grad_output(), static_cast<const Conv2dGeometry*>(c.params().record),
                               c.params().ints[0] != 0));
}
const OpRule unfold_rule{"unfold", unfold_forward, unfold_tangent, unfold_backward};

void fold_forward(Tape& t, Node& out) {
  const Node& cols = node_at(t, out.inputs[0]);
  out.value = allocate(t, out.shape.size());
  fold_values(geometry(out), images_of(out, cols), channel_major(out), cols.value, out.value);
}
void fold_tangent(Tape& t, Node& out) {
  const Node& cols = node_at(t, out.inputs[0]);
  out.tangent = allocate(t, out.shape.size());
  fold_values(geometry(out), images_of(out, cols), channel_major(out), cols.tangent, out.tangent);
}
void fold_backward(BackwardContext& c) {
  c.accumulate(0, detail::unfold(c.grad_output(), static_cast<const Conv2dGeometry*>(c.params().record),
                                 c.params().ints[0] != 0));
}
const OpRule fold_rule{"fold", fold_forward, fold_tangent, fold_backward};
}  // namespace

namespace detail {
Var unfold(Var x, const Conv2dGeometry* g, bool channel_major) {
  Tape& t = x.tape();
  const std::int64_t n = x.size() / image_size(*g);
  const Shape out = Shape::matrix(patch_size(*g), n * positions(*g));
  OpParams p;
  p.ints[0] = channel_major;
  p.record = g;
  return record(t, unfold_rule, {x}, out, p);
}

Var fold(Var cols, const Conv2dGeometry* g, bool channel_major) {
  Tape& t = cols.tape();
  const std::int64_t n = cols.shape().dim(1) / positions(*g);
  const Shape out =
      channel_major ? Shape::matrix(g->channels, n * g->height * g->width) : Shape::matrix(n, image_size(*g));
  OpParams p;
  p.ints[0] = channel_major;
  p.record = g;
  return record(t, fold_rule, {cols}, out, p);
}
}  // namespace detail

Var unfold(Var x, const Conv2dGeometry& g) {
  Tape& t = detail::tape_of("unfold", {x});
  detail::check_window(g, x.shape(), "unfold");
  return detail::unfold(x, store(t, g));
}

Var fold(Var cols, const Conv2dGeometry& g) {
  Tape& t = detail::tape_of("fold", {cols});
  const Shape s = cols.shape();
  detail::check_geometry(g, s, "fold");
  const std::int64_t p = detail::positions(g);
  if (s.rank != 2 || s.dim(0) != detail::patch_size(g) || s.dim(1) % p != 0)
    throw ShapeError("fold: columns of shape " + s.str() + " are not " +
                     std::to_string(detail::patch_size(g)) + " taps x whole images of " + std::to_string(p) +
                     " positions (" + detail::describe(g) + ")");
  return detail::fold(cols, store(t, g));
}
}  // namespace pk::ad
