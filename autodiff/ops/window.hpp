#pragma once
// What the convolution and pooling ops share: the check of a window geometry against a batch of
// images, and unfold/fold taking a geometry already stored on the tape, so that backward rules
// reuse the forward's record instead of storing a copy per derivative order. Internal to
// autodiff/ops.

#include <cstdint>
#include <string>

#include "autodiff/ops.hpp"

namespace pk::ad::detail {

/// Throws `ShapeError` naming `op`, the geometry and the operand's shape unless g's fields are in
/// range: positive extents, kernel, stride and dilation, non-negative padding, each below 2^31
/// so that no index arithmetic on them overflows, and a window that fits the padded image.
void check_geometry(const Conv2dGeometry& g, const Shape& operand, const char* op);

/// check_geometry, and x must be a batch of images for it: throws unless g describes a window over
/// the rows of x: a matrix of N x (C*H*W) (N may be 0) whose unfolding fits in a shape.
void check_window(const Conv2dGeometry& g, const Shape& x, const char* op);

/// "channels 2, image 5 x 7, kernel 3 x 3, stride 1 x 1, padding 0 x 0, dilation 1 x 1".
std::string describe(const Conv2dGeometry& g);

/// Pixels per image (C*H*W) and window taps per output position (C*kh*kw).
inline std::int64_t image_size(const Conv2dGeometry& g) { return g.channels * g.height * g.width; }
inline std::int64_t patch_size(const Conv2dGeometry& g) { return g.channels * g.kernel_h * g.kernel_w; }
inline std::int64_t positions(const Conv2dGeometry& g) { return g.out_height() * g.out_width(); }

/// unfold and fold with a geometry stored on x's tape (checked by the caller). With
/// `channel_major` the images are held C x (N*H*W) (each row one channel of every image) instead
/// of N x (C*H*W); the columns are the same either way.
Var unfold(Var x, const Conv2dGeometry* g, bool channel_major = false);
Var fold(Var cols, const Conv2dGeometry* g, bool channel_major = false);

/// check_window for a channel-major batch x of C x (N*H*W).
void check_channel_major(const Conv2dGeometry& g, const Shape& x, const char* op);

}  // namespace pk::ad::detail

namespace pk::ad::detail {

/// gather without the check of its indices, for callers that computed them (max_pool2d).
Var gather_unchecked(Var x, Var index);

/// The geometry of a pooling window: kernel x kernel every stride pixels (0: kernel), no padding.
inline Conv2dGeometry pool_geometry(const ImageShape& image, std::int64_t kernel, std::int64_t stride) {
  const std::int64_t s = stride == 0 ? kernel : stride;
  return {.channels = image.channels,
          .height = image.height,
          .width = image.width,
          .kernel_h = kernel,
          .kernel_w = kernel,
          .stride_h = s,
          .stride_w = s};
}

}  // namespace pk::ad::detail
