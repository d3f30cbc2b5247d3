// conv2d: unfold the batch once into (C*kh*kw) x (N*P) columns of window taps, multiply by the
// weight in one GEMM for the whole batch (out x (N*P)), add the bias down each row (a plain
// broadcast of an out x 1 column), and reorder to image-major rows, N x (out*P). Every step is an
// op with its own rules, so conv2d has none of its own: its gradient and every higher derivative
// come from unfold/fold, matmul, add and transpose_blocks. This layout keeps every copy in
// unfold, fold and the reordering a contiguous run of output positions. conv2d_channel_major
// takes and gives the product's own layout, channel-major over the batch, so that a chain of
// convolutions, elementwise activations and pooling (which act on each (image, channel) plane
// alike) needs no reordering until the end of the chain.
#include <string>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"
#include "autodiff/ops/window.hpp"

namespace pk::ad {
namespace {
Var convolve(Tape& t, Var x, Var weight, const Var* bias, const Conv2dGeometry& g, bool channel_major) {
  const char* op = channel_major ? "conv2d_channel_major" : "conv2d";
  if (channel_major)
    detail::check_channel_major(g, x.shape(), op);
  else
    detail::check_window(g, x.shape(), op);
  const Shape ws = weight.shape();
  const std::int64_t taps = detail::patch_size(g);
  if (ws.rank != 2 || ws.dim(1) != taps || ws.dim(0) < 1)
    throw ShapeError(std::string(op) + ": weight of shape " + ws.str() + " is not out x " +
                     std::to_string(taps) + " (out x in*kh*kw for " + detail::describe(g) + ")");
  const std::int64_t out = ws.dim(0);
  if (bias && bias->shape() != Shape::vector(out))
    throw ShapeError(std::string(op) + ": bias of shape " + bias->shape().str() + " for a weight of shape " +
                     ws.str() + " (expected " + Shape::vector(out).str() + ")");
  const std::int64_t n = x.size() / detail::image_size(g), p = detail::positions(g);
  std::int64_t size = 0;
  if (__builtin_mul_overflow(n * p, out, &size) || size > Shape::kMaxSize)
    throw ShapeError(std::string(op) + ": the output of " + std::to_string(n) + " images x " +
                     std::to_string(out) + " channels x " + std::to_string(p) +
                     " positions holds more than Shape::kMaxSize elements");
  Var y = matmul(weight, detail::unfold(x, store(t, g), channel_major));
  if (bias) y = add(y, reshape(*bias, Shape::matrix(out, 1)));
  if (channel_major) return y;
  y = transpose_blocks(reshape(y, Shape::matrix(1, size)), out, n, p);
  return reshape(y, Shape::matrix(n, out * p));
}
}  // namespace

Var conv2d(Var x, Var weight, const Conv2dGeometry& g) {
  Tape& t = detail::tape_of("conv2d", {x, weight});
  return convolve(t, x, weight, nullptr, g, false);
}

Var conv2d(Var x, Var weight, Var bias, const Conv2dGeometry& g) {
  Tape& t = detail::tape_of("conv2d", {x, weight, bias});
  return convolve(t, x, weight, &bias, g, false);
}

Var conv2d_channel_major(Var x, Var weight, const Conv2dGeometry& g) {
  Tape& t = detail::tape_of("conv2d_channel_major", {x, weight});
  return convolve(t, x, weight, nullptr, g, true);
}

Var conv2d_channel_major(Var x, Var weight, Var bias, const Conv2dGeometry& g) {
  Tape& t = detail::tape_of("conv2d_channel_major", {x, weight, bias});
  return convolve(t, x, weight, &bias, g, true);
}
}  // namespace pk::ad
