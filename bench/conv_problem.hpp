#pragma once
// The convolutional net the conv benchmarks share (conv_bench.cpp and the libtorch peer): a batch
// of 256 8 x 8 single-channel images of seeded values in [-1, 1), seeded targets, and PyTorch's
// default-bounded weights, with the loss 1/(2B) sum ||net(x) - target||^2 recorded as a function of
// the flat parameter vector (PyTorch's parameters_to_vector layout) and the same loss by plain
// loops, the reference the benchmarks check against.
//
//   input 1x8x8 -> conv2d(4, 3x3, padding 1) -> tanh -> avg_pool2d(2)
//               -> conv2d(8, 3x3, padding 1) -> tanh -> avg_pool2d(2) -> flatten -> linear(10)

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "autodiff/autodiff.hpp"

namespace pk::bench {

using pk::ad::Conv2dGeometry;
using pk::ad::Shape;
using pk::ad::Tape;
using pk::ad::Tensor;
using pk::ad::Var;

/// The net in the layer grammar of nn::parse_architecture, over inputs of 1x8x8.
inline constexpr const char* kConvArchitecture =
    "conv2d(4,3,padding=1),tanh,avg_pool2d(2),conv2d(8,3,padding=1),tanh,avg_pool2d(2),flatten,linear(10)";

inline constexpr std::int64_t kBatch = 256;

/// A conv layer of the net (3 x 3 kernel, padding 1, then 2 x 2 average pooling).
struct Layer {
  std::int64_t in, out, side;  // channels in and out, image side (square images)
};
inline constexpr Layer kConv1{1, 4, 8}, kConv2{4, 8, 4};
inline constexpr std::int64_t kFlat = 8 * 2 * 2, kClasses = 10;

/// Weights and biases of a conv layer, and of the whole net.
inline std::int64_t conv_params(const Layer& l) { return l.out * l.in * 9 + l.out; }
inline std::int64_t parameter_count() {
  return conv_params(kConv1) + conv_params(kConv2) + kClasses * kFlat + kClasses;
}

/// SplitMix64 to [-1, 1): the same data on every platform.
struct Uniform {
  std::uint64_t s;
  double operator()() {
    s += 0x9E3779B97F4A7C15ULL;
    std::uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-52 - 1.0;
  }
};

/// The problem's data and weights, and its loss recorded and by plain loops.
struct ConvProblem {
  Tensor x, target, w;

  ConvProblem() {
    Uniform u{7};
    x = Tensor(Shape::matrix(kBatch, 64));
    for (std::int64_t i = 0; i < x.size(); ++i) x[i] = u();
    target = Tensor(Shape::matrix(kBatch, kClasses));
    for (std::int64_t i = 0; i < target.size(); ++i) target[i] = 0.5 * u();
    w = Tensor(Shape::vector(parameter_count()));
    // PyTorch's default bound 1/sqrt(fan_in) for each layer's weights and biases.
    std::int64_t at = 0;
    for (const auto& [count, fan_in] : std::vector<std::pair<std::int64_t, std::int64_t>>{
             {conv_params(kConv1), 9}, {conv_params(kConv2), 36}, {kClasses * kFlat + kClasses, kFlat}})
      for (std::int64_t i = 0; i < count; ++i) w[at++] = u() / std::sqrt(static_cast<double>(fan_in));
  }

  static Conv2dGeometry geometry(const Layer& l) {
    return {.channels = l.in,
            .height = l.side,
            .width = l.side,
            .kernel_h = 3,
            .kernel_w = 3,
            .padding_h = 1,
            .padding_w = 1};
  }

  /// The loss 1/(2B) sum ||net(x) - target||^2 as a recorded function of the flat parameters.
  Var loss(Var wv) const {
    Tape& t = wv.tape();
    // Channel-major through both conv layers (one input channel: the images' own numbers), so
    // the activations are reordered image-major once, before the linear layer.
    Var h = t.constant(x.reshaped(Shape::matrix(1, x.size())));
    std::int64_t at = 0;
    auto take = [&](std::int64_t n) {
      const Var piece = slice(wv, at, at + n);
      at += n;
      return piece;
    };
    for (const Layer& l : {kConv1, kConv2}) {
      const Var weight = reshape(take(l.out * l.in * 9), Shape::matrix(l.out, l.in * 9));
      const Var bias = take(l.out);
      const Var a = tanh(conv2d_channel_major(h, weight, bias, geometry(l)));
      const Var pooled =
          avg_pool2d(reshape(a, Shape::matrix(l.out * kBatch, l.side * l.side)), {1, l.side, l.side}, 2);
      h = reshape(pooled, Shape::matrix(l.out, kBatch * l.side * l.side / 4));
    }
    h = transpose_blocks(reshape(h, Shape::matrix(1, h.size())), kConv2.out, kBatch, kFlat / kConv2.out);
    h = reshape(h, Shape::matrix(kBatch, kFlat));
    const Var weight = reshape(take(kClasses * kFlat), Shape::matrix(kClasses, kFlat));
    const Var y = add(matmul(h, weight, false, true), take(kClasses));
    return sum(square(sub(y, t.constant(target)))) * (0.5 / static_cast<double>(kBatch));
  }

  /// The same loss by plain loops, straight from the layer definitions.
  double reference_loss(const Tensor& wt) const {
    std::vector<double> h(x.span().begin(), x.span().end());
    std::int64_t at = 0;
    for (const Layer& l : {kConv1, kConv2}) {
      const std::int64_t s = l.side, half = s / 2;
      const std::int64_t wat = at, bat = at + l.out * l.in * 9;
      at = bat + l.out;
      std::vector<double> pooled(static_cast<std::size_t>(kBatch * l.out * half * half), 0.0);
      for (std::int64_t n = 0; n < kBatch; ++n)
        for (std::int64_t o = 0; o < l.out; ++o)
          for (std::int64_t r = 0; r < s; ++r)
            for (std::int64_t c = 0; c < s; ++c) {
              double acc = wt[bat + o];
              for (std::int64_t ci = 0; ci < l.in; ++ci)
                for (std::int64_t i = 0; i < 3; ++i)
                  for (std::int64_t j = 0; j < 3; ++j) {
                    const std::int64_t rr = r - 1 + i, cc = c - 1 + j;
                    if (rr < 0 || rr >= s || cc < 0 || cc >= s) continue;
                    acc += wt[wat + (o * l.in + ci) * 9 + i * 3 + j] *
                           h[static_cast<std::size_t>(((n * l.in + ci) * s + rr) * s + cc)];
                  }
              pooled[static_cast<std::size_t>(((n * l.out + o) * half + r / 2) * half + c / 2)] +=
                  std::tanh(acc) / 4.0;
            }
      h.swap(pooled);
    }
    double loss = 0.0;
    for (std::int64_t n = 0; n < kBatch; ++n)
      for (std::int64_t k = 0; k < kClasses; ++k) {
        double y = wt[at + kClasses * kFlat + k];
        for (std::int64_t i = 0; i < kFlat; ++i)
          y += wt[at + k * kFlat + i] * h[static_cast<std::size_t>(n * kFlat + i)];
        const double d = y - target(n, k);
        loss += d * d;
      }
    return 0.5 * loss / static_cast<double>(kBatch);
  }
};

/// The direction of the HVPs: entries of both signs and unequal sizes.
inline Tensor direction(const Tensor& w) {
  Tensor v(w.shape());
  for (std::int64_t i = 0; i < v.size(); ++i) v[i] = std::sin(1.0 + 0.37 * static_cast<double>(i));
  return v;
}

}  // namespace pk::bench
