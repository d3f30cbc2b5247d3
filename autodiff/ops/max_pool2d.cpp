// max_pool2d: the flat index of each window's maximum is recorded as a value of its own (a
// piecewise-constant function of x with derivative 0, like sign), and the pooled result is
// gather(x, indices). Its derivatives are gather's: the adjoint goes to the argmax through
// scatter_add, whose own adjoint is gather again at the same indices, to any order.
#include <algorithm>
#include <cmath>
#include <string>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"
#include "autodiff/ops/window.hpp"

namespace pk::ad {
namespace {
// As PyTorch: a strictly larger value or a NaN takes over, so ties keep the first in row-major
// order and a NaN in the window wins.
void argmax_values(const Conv2dGeometry& g, std::int64_t planes, const double* x, double* index) {
  const std::int64_t W = g.width, HW = g.height * W, k = g.kernel_h, s = g.stride_h;
  const std::int64_t oh_n = g.out_height(), ow_n = g.out_width();
  for (std::int64_t p = 0; p < planes; ++p) {
    const double* plane = x + p * HW;
    for (std::int64_t oh = 0; oh < oh_n; ++oh)
      for (std::int64_t ow = 0; ow < ow_n; ++ow) {
        std::int64_t best = oh * s * W + ow * s;
        double top = plane[best];
        for (std::int64_t i = 0; i < k; ++i)
          for (std::int64_t j = 0; j < k; ++j) {
            const std::int64_t at = (oh * s + i) * W + ow * s + j;
            const double v = plane[at];
            if (v > top || (std::isnan(v) && !std::isnan(top))) {
              top = v;
              best = at;
            }
          }
        *index++ = static_cast<double>(p * HW + best);
      }
  }
}

void forward(Tape& t, Node& out) {
  const Conv2dGeometry& g = *static_cast<const Conv2dGeometry*>(out.params.record);
  out.value = allocate(t, out.shape.size());
  argmax_values(g, out.shape.dim(0) * g.channels, node_at(t, out.inputs[0]).value, out.value);
}
void tangent(Tape&, Node& out) { out.tangent = nullptr; }
void backward(BackwardContext&) {}
const OpRule argmax_rule{"max_pool2d", forward, tangent, backward};
}  // namespace

Var max_pool2d(Var x, const ImageShape& image, std::int64_t kernel, std::int64_t stride) {
  Tape& t = detail::tape_of("max_pool2d", {x});
  const Conv2dGeometry g = detail::pool_geometry(image, kernel, stride);
  detail::check_window(g, x.shape(), "max_pool2d");
  if (x.shape().dim(1) > (std::int64_t{1} << 53) / std::max<std::int64_t>(1, x.shape().dim(0)))
    throw ShapeError("max_pool2d: input of shape " + x.shape().str() +
                     " has more elements than float64 indices address exactly (2^53)");
  OpParams p;
  p.record = store(t, g);
  const Var index =
      record(t, argmax_rule, {x}, Shape::matrix(x.shape().dim(0), g.channels * detail::positions(g)), p);
  return detail::gather_unchecked(x, index);
}
}  // namespace pk::ad
