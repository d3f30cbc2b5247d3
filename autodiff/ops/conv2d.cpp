// conv2d: unfold the batch once into (N*P) x (C*kh*kw) rows of window taps, multiply by the
// weight's transpose in one GEMM for the whole batch, add the bias along the last axis (a plain
// broadcast), and reorder the (N*P) x out product to channel-major images. Every step is an op
// with its own rules, so conv2d has none of its own: its gradient and every higher derivative
// come from unfold/fold, matmul, add and transpose_blocks.
#include <string>

#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"
#include "autodiff/ops/window.hpp"

namespace pk::ad {
namespace {
Var convolve(Tape& t, Var x, Var weight, const Var* bias, const Conv2dGeometry& g) {
  detail::check_window(g, x.shape(), "conv2d");
  const Shape ws = weight.shape();
  const std::int64_t taps = detail::patch_size(g);
  if (ws.rank != 2 || ws.dim(1) != taps || ws.dim(0) < 1)
    throw ShapeError("conv2d: weight of shape " + ws.str() + " is not out x " +
                     std::to_string(taps) + " (out x in*kh*kw for " + detail::describe(g) + ")");
  const std::int64_t out = ws.dim(0);
  if (bias && bias->shape() != Shape::vector(out))
    throw ShapeError("conv2d: bias of shape " + bias->shape().str() + " for a weight of shape " +
                     ws.str() + " (expected " + Shape::vector(out).str() + ")");
  const std::int64_t n = x.shape().dim(0), p = detail::positions(g);
  std::int64_t size = 0;
  if (__builtin_mul_overflow(n * p, out, &size) || size > Shape::kMaxSize)
    throw ShapeError("conv2d: the output of " + std::to_string(n) + " images x " +
                     std::to_string(out) + " channels x " + std::to_string(p) +
                     " positions holds more than Shape::kMaxSize elements");
  Var y = matmul(detail::unfold(x, t.store(g)), weight, false, true);
  if (bias) y = add(y, *bias);
  return transpose_blocks(reshape(y, Shape::matrix(n, p * out)), p, out);
}
}  // namespace

Var conv2d(Var x, Var weight, const Conv2dGeometry& g) {
  Tape& t = detail::tape_of("conv2d", {x, weight});
  return convolve(t, x, weight, nullptr, g);
}

Var conv2d(Var x, Var weight, Var bias, const Conv2dGeometry& g) {
  Tape& t = detail::tape_of("conv2d", {x, weight, bias});
  return convolve(t, x, weight, &bias, g);
}
}  // namespace pk::ad
