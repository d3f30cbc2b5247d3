#pragma once
// The op set. Each op's forward, tangent and backward rules live in autodiff/ops/<name>.cpp;
// every backward rule is written in these same ops, so derivatives of any order come from them.
// Binary elementwise ops broadcast as NumPy does (see shape.hpp).

#include <cstdint>
#include <span>

#include "autodiff/tape.hpp"

namespace pk::ad {

// --- arithmetic (add.cpp, sub.cpp, mul.cpp, div.cpp, neg.cpp, scalar.cpp) ---------------------

/// a + b. d/da = 1, d/db = 1 (summed over broadcast axes).
Var add(Var a, Var b);
/// a - b. d/da = 1, d/db = -1.
Var sub(Var a, Var b);
/// a * b elementwise. d/da = b, d/db = a.
Var mul(Var a, Var b);
/// a / b elementwise. d/da = 1/b, d/db = -a/b^2. Division by zero gives IEEE infinities.
Var div(Var a, Var b);
/// -x.
Var neg(Var x);
/// x + c for a constant c. d/dx = 1.
Var add_scalar(Var x, double c);
/// c * x for a constant c. d/dx = c.
Var mul_scalar(Var x, double c);
/// c / x for a constant c. d/dx = -c / x^2.
Var rdiv_scalar(double c, Var x);

Var operator+(Var a, Var b);
Var operator-(Var a, Var b);
Var operator*(Var a, Var b);
Var operator/(Var a, Var b);
Var operator-(Var x);
Var operator+(Var x, double c);
Var operator+(double c, Var x);
Var operator-(Var x, double c);
Var operator-(double c, Var x);
Var operator*(Var x, double c);
Var operator*(double c, Var x);
Var operator/(Var x, double c);
Var operator/(double c, Var x);

// --- elementwise functions, one file each named after the op (exp.cpp, ..., tanh_backward.cpp) --

/// e^x. d/dx = e^x.
Var exp(Var x);
/// ln x. d/dx = 1/x. ln 0 = -inf and ln of a negative number is NaN, as in IEEE arithmetic.
Var log(Var x);
/// tanh x. d/dx = 1 - tanh^2 x.
Var tanh(Var x);
/// 1 / (1 + e^-x), evaluated without overflow for large |x|. d/dx = s (1 - s).
Var sigmoid(Var x);
/// max(x, 0). d/dx = 1 for x > 0 and 0 for x <= 0 (the derivative at 0 is taken as 0).
Var relu(Var x);
/// ln(1 + e^x), evaluated as max(x, 0) + ln(1 + e^-|x|) so it never overflows. d/dx = sigmoid(x).
Var softplus(Var x);
/// x Phi(x) with Phi the standard normal CDF (exact, erf-based GELU).
/// d/dx = Phi(x) + x phi(x), phi the standard normal density.
Var gelu(Var x);
/// erf x. d/dx = 2/sqrt(pi) e^{-x^2}.
Var erf(Var x);
/// x^2. d/dx = 2x.
Var square(Var x);
/// sqrt x. d/dx = 1 / (2 sqrt x); infinite at 0, NaN below 0.
Var sqrt(Var x);
/// x^p for a constant p. d/dx = p x^(p-1). Follows std::pow at 0 and for negative x.
Var pow(Var x, double p);
/// |x|. d/dx = sign(x), taken as 0 at x = 0.
Var abs(Var x);
/// sign(x) in {-1, 0, 1}. Piecewise constant: its derivative is 0 everywhere.
Var sign(Var x);
/// 1 where x > 0, else 0. Piecewise constant: its derivative is 0 everywhere.
Var step(Var x);
/// g * s with broadcasting, except 0 wherever g is exactly 0 (even where s is infinite or NaN):
/// how backward rules apply a local derivative that can be infinite, so a zero adjoint passes on
/// zero instead of 0 * inf = NaN. d/dg = s, d/ds = g.
Var adjoint_scale(Var g, Var s);
/// (1 - y^2) * g: the backward of tanh given its output y, as an op of its own so that the
/// gradient of a tanh network costs one pass per layer. d/dy = -2 y g, d/dg = 1 - y^2.
Var tanh_backward(Var y, Var g);

// --- reductions (sum.cpp, which also holds mean; logsumexp.cpp, softmax.cpp, dot.cpp) -------

/// Sum of all elements (a scalar). The adjoint broadcasts back to every element.
Var sum(Var x);
/// Sum along `axis` (0 or 1 for a matrix, 0 for a vector), dropping that axis.
Var sum(Var x, int axis);
/// Mean of all elements.
Var mean(Var x);
/// Mean along `axis`, dropping that axis.
Var mean(Var x, int axis);
/// log sum exp(x) along `axis`, stable for large x (the maximum is factored out).
/// d/dx = softmax(x) along that axis.
Var logsumexp(Var x, int axis);
/// exp(x - logsumexp(x)) along `axis`. The Jacobian-vector product is s * (g - sum(g * s)).
Var softmax(Var x, int axis);
/// Inner product of two vectors of equal length. d/da = b, d/db = a.
Var dot(Var a, Var b);

// --- linear algebra and shape (matmul.cpp, linear.cpp, transpose.cpp, reshape.cpp, slice.cpp
//     with pad, concatenate.cpp, broadcast.cpp with sum_to) -----------------------------------

/// Matrix product with NumPy's rules for vectors: (m,k)@(k,n) -> (m,n), (m,k)@(k) -> (m),
/// (k)@(k,n) -> (n), (k)@(k) -> (). d/dA = G B^T, d/dB = A^T G.
Var matmul(Var a, Var b);
/// op(A) op(B) for matrices, where op transposes when asked; the transposes are never formed.
Var matmul(Var a, Var b, bool transpose_a, bool transpose_b);
/// A dense layer over a batch, as PyTorch's Linear: x W^T + b for x (batch, in), W (out, in) and
/// b (out); add(matmul(x, W, false, true), b) in one op (same values, to rounding).
/// d/dx = G W, d/dW = G^T x, d/db = G summed over the batch.
Var linear(Var x, Var w, Var b);
/// The transpose of a matrix (a vector or scalar is returned unchanged).
Var transpose(Var x);
/// The same elements under another shape of equal size; shares the input's memory.
Var reshape(Var x, Shape shape);
/// Elements [begin, end) along `axis`. A slice of a vector, or of whole rows of a matrix,
/// shares the input's memory. The adjoint is padded back with zeros.
Var slice(Var x, int axis, std::int64_t begin, std::int64_t end);
/// Elements [begin, end) of a vector: how a layer's weights are cut out of a flat vector.
Var slice(Var x, std::int64_t begin, std::int64_t end);
/// x with `before` zeros in front and `after` zeros behind along `axis` (the adjoint of slice).
Var pad(Var x, int axis, std::int64_t before, std::int64_t after);
/// acc with x added to its elements from `before` along `axis` (x's other extent equal to
/// acc's): add(acc, pad(x, ...)) in one op, how the adjoints of several slices of one value are
/// summed. d/dacc = G, d/dx = the slice of G that x covers.
Var add_padded(Var acc, Var x, int axis, std::int64_t before);
/// Joins values along `axis`; all other extents must agree.
Var concatenate(std::span<const Var> xs, int axis);
/// x repeated along broadcast axes to `shape` (NumPy broadcasting).
Var broadcast_to(Var x, Shape shape);
/// The sum of x over the axes along which `shape` was broadcast to x's shape: the adjoint of
/// broadcasting. `sum_to(broadcast_to(x, s), x.shape())` sums copies of x.
Var sum_to(Var x, Shape shape);

// --- convolution and pooling (unfold.cpp, transpose_blocks.cpp, conv2d.cpp, avg_pool2d.cpp,
//     max_pool2d.cpp, gather.cpp) ------------------------------------------------------------
//
// Tensors are of rank 2 at most, so a batch of N images of C channels of H x W pixels is an
// N x (C*H*W) matrix, each row one image, channel-major then row then column: PyTorch's
// x.view(N, -1) of an NCHW tensor. Results use the same layout.

/// The geometry of a 2-D sliding window (a convolution kernel or a pooling window) over images of
/// `channels` x `height` x `width`, with PyTorch's meaning of stride, zero padding and dilation.
/// Window positions start at -padding and step by stride; the window's taps are dilation apart.
struct Conv2dGeometry {
  std::int64_t channels = 1;
  std::int64_t height = 1;
  std::int64_t width = 1;
  std::int64_t kernel_h = 1;
  std::int64_t kernel_w = 1;
  std::int64_t stride_h = 1;
  std::int64_t stride_w = 1;
  std::int64_t padding_h = 0;
  std::int64_t padding_w = 0;
  std::int64_t dilation_h = 1;
  std::int64_t dilation_w = 1;

  /// floor((height + 2 padding_h - dilation_h (kernel_h - 1) - 1) / stride_h) + 1.
  std::int64_t out_height() const {
    return (height + 2 * padding_h - dilation_h * (kernel_h - 1) - 1) / stride_h + 1;
  }
  /// floor((width + 2 padding_w - dilation_w (kernel_w - 1) - 1) / stride_w) + 1.
  std::int64_t out_width() const {
    return (width + 2 * padding_w - dilation_w * (kernel_w - 1) - 1) / stride_w + 1;
  }
};

/// The extents of the images in one row of an N x (C*H*W) batch.
struct ImageShape {
  std::int64_t channels = 1;
  std::int64_t height = 1;
  std::int64_t width = 1;
};

/// im2col: the window's inputs at every output position, one column per position (PyTorch's
/// F.unfold, with the images side by side). For x of N x (C*H*W) the result is
/// (C*kh*kw) x (N*H'*W'), row (c*kh + i)*kw + j and column n*H'*W' + oh*W' + ow holding
/// x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw] (0 in the padding). Linear in x; its adjoint
/// is `fold`.
Var unfold(Var x, const Conv2dGeometry& g);
/// col2im, the adjoint of `unfold`: every element of `cols` ((C*kh*kw) x (N*H'*W')) is added to
/// the input pixel that unfold read it from (padding taps are dropped), giving N x (C*H*W).
/// Linear; its adjoint is `unfold`.
Var fold(Var cols, const Conv2dGeometry& g);
/// Each row of x (N x (rows*cols*inner)) read as a rows x cols matrix of blocks of `inner`
/// contiguous elements, transposed block-wise into cols x rows (same shape as x). Linear; its
/// adjoint is transpose_blocks(., cols, rows, inner).
Var transpose_blocks(Var x, std::int64_t rows, std::int64_t cols, std::int64_t inner = 1);

/// 2-D convolution with PyTorch's Conv2d semantics (a cross-correlation): x is N x (C*H*W), the
/// weight out x (C*kh*kw) (PyTorch's weight.view(out, -1)), and the result N x (out*H'*W') with
///   y[n, o, oh, ow] = b[o] + sum_{c,i,j} w[o, c, i, j] x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw].
/// Computed as w unfold(x) (one GEMM for the whole batch) reordered image-major, so its
/// derivatives are those of unfold, matmul and transpose_blocks: dL/dx = fold(w^T G) and
/// dL/dw = G unfold(x)^T, G the output adjoint reordered to out x (N*H'*W'); dL/db sums G over
/// positions. The weight's columns must number g.channels*kh*kw.
Var conv2d(Var x, Var weight, const Conv2dGeometry& g);
/// As above plus a bias vector of `out` elements added to every position of channel o.
Var conv2d(Var x, Var weight, Var bias, const Conv2dGeometry& g);
/// conv2d on batches held channel-major: x is C x (N*H*W), row c holding channel c of every
/// image in turn, and the result out x (N*H'*W') (the product w unfold(x) itself, no reordering).
/// Elementwise ops and pooling over (C*N) x (H*W) planes (avg_pool2d with one channel) act on
/// this layout as on the image-major one, so a chain of convolutions keeps it throughout and
/// reorders once at the end: transpose_blocks(y, out, N, H'*W') on y as one row gives
/// N x (out*H'*W'). For C = 1 both layouts hold the same numbers.
Var conv2d_channel_major(Var x, Var weight, const Conv2dGeometry& g);
/// As above plus a bias vector of `out` elements added to every position of channel o.
Var conv2d_channel_major(Var x, Var weight, Var bias, const Conv2dGeometry& g);

/// Average pooling over kernel x kernel windows taken every `stride` pixels (0 means kernel), no
/// padding, as PyTorch's avg_pool2d: x N x (C*H*W) gives N x (C*H'*W'), H' = (H - k)/s + 1.
/// Linear; the adjoint spreads each output's adjoint evenly, 1/k^2 to each pixel of its window
/// (`avg_pool2d_adjoint`).
Var avg_pool2d(Var x, const ImageShape& image, std::int64_t kernel, std::int64_t stride = 0);
/// The adjoint of avg_pool2d: g (N x (C*H'*W')) spread back to N x (C*H*W), each window's pixels
/// receiving g / k^2 (summed where windows overlap). Linear; its adjoint is avg_pool2d.
Var avg_pool2d_adjoint(Var g, const ImageShape& image, std::int64_t kernel, std::int64_t stride = 0);
/// Max pooling over kernel x kernel windows every `stride` pixels (0 means kernel), no padding:
/// each output is the largest pixel of its window (the first in row-major order on ties, and NaN
/// when the window holds one, as PyTorch). It is gather(x, argmax indices): the derivative routes
/// each output's adjoint to its argmax pixel, and differentiates again through gather/scatter_add.
Var max_pool2d(Var x, const ImageShape& image, std::int64_t kernel, std::int64_t stride = 0);
/// out[i] = x[index[i]], x read as flat (row-major) and the result of index's shape. `index`
/// holds integers stored as float64 (a recorded value, usually a constant); it is not
/// differentiated. d/dx is scatter_add of the adjoint at the same indices.
Var gather(Var x, Var index);
/// A tensor of `shape` (flat, row-major) of zeros with src[i] added at index[i], for index of
/// src's shape: the adjoint of gather, and gather is its adjoint.
Var scatter_add(Var src, Var index, Shape shape);

}  // namespace pk::ad
