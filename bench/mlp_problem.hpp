#pragma once
// The MLP loss the autodiff benchmarks and tape tests share: a tanh network on a flat parameter
// vector (PyTorch's Linear layout: W as out x in row-major, then b, layer by layer) with the mean
// squared error 1/(2B) sum ||y - t||^2, written directly in autodiff ops so it depends on nothing
// above autodiff. A plain-loop evaluation of the same loss is the reference benchmarks check.

#include <cmath>
#include <cstdint>
#include <vector>

#include "autodiff/autodiff.hpp"

namespace pk::bench {

/// A tanh MLP regression problem with seeded inputs, targets and weights.
struct MlpProblem {
  std::vector<std::int64_t> widths;  // e.g. {2, 16, 16, 1}
  std::int64_t batch;
  pk::ad::Tensor x, target, w;

  MlpProblem(std::vector<std::int64_t> widths_, std::int64_t batch_, std::uint64_t seed = 1)
      : widths(std::move(widths_)), batch(batch_) {
    std::uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    auto uniform = [&s]() {  // SplitMix64 to [-1, 1): fixed on every platform
      s += 0x9E3779B97F4A7C15ULL;
      std::uint64_t z = s;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      z ^= z >> 31;
      return static_cast<double>(z >> 11) * 0x1.0p-52 - 1.0;
    };
    x = pk::ad::Tensor(pk::ad::Shape::matrix(batch, widths.front()));
    for (std::int64_t i = 0; i < x.size(); ++i) x[i] = uniform();
    target = pk::ad::Tensor(pk::ad::Shape::matrix(batch, widths.back()));
    for (std::int64_t i = 0; i < target.size(); ++i) target[i] = 0.5 * uniform();
    w = pk::ad::Tensor(pk::ad::Shape::vector(parameter_count()));
    std::int64_t at = 0;
    for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(widths[l]));  // PyTorch default
      for (std::int64_t i = 0; i < widths[l] * widths[l + 1] + widths[l + 1]; ++i)
        w[at++] = bound * uniform();
    }
  }

  std::int64_t parameter_count() const {
    std::int64_t n = 0;
    for (std::size_t l = 0; l + 1 < widths.size(); ++l) n += widths[l] * widths[l + 1] + widths[l + 1];
    return n;
  }

  /// The loss as a recorded function of the flat parameter vector.
  pk::ad::Var loss(pk::ad::Var wv) const {
    using namespace pk::ad;
    Tape& t = wv.tape();
    Var h = t.constant(x);
    std::int64_t at = 0;
    for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
      const std::int64_t in = widths[l], out = widths[l + 1];
      const Var W = reshape(slice(wv, at, at + out * in), Shape::matrix(out, in));
      const Var b = slice(wv, at + out * in, at + out * in + out);
      at += out * in + out;
      h = linear(h, W, b);
      if (l + 2 < widths.size()) h = tanh(h);
    }
    return sum(square(sub(h, t.constant(target)))) * (0.5 / static_cast<double>(batch));
  }

  /// The same loss by plain loops, the reference the benchmarks check against.
  double reference_loss(const pk::ad::Tensor& wt) const {
    std::vector<double> h(x.span().begin(), x.span().end()), next;
    std::int64_t at = 0;
    for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
      const std::int64_t in = widths[l], out = widths[l + 1];
      next.assign(static_cast<std::size_t>(batch * out), 0.0);
      for (std::int64_t r = 0; r < batch; ++r)
        for (std::int64_t o = 0; o < out; ++o) {
          double s = wt[at + out * in + o];
          for (std::int64_t i = 0; i < in; ++i)
            s += h[static_cast<std::size_t>(r * in + i)] * wt[at + o * in + i];
          next[static_cast<std::size_t>(r * out + o)] = l + 2 < widths.size() ? std::tanh(s) : s;
        }
      at += out * in + out;
      h.swap(next);
    }
    double loss = 0.0;
    for (std::int64_t i = 0; i < target.size(); ++i) {
      const double d = h[static_cast<std::size_t>(i)] - target[i];
      loss += d * d;
    }
    return 0.5 * loss / static_cast<double>(batch);
  }

  /// Multiply-adds in one forward pass (matrix products only).
  double forward_flops() const {
    double f = 0.0;
    for (std::size_t l = 0; l + 1 < widths.size(); ++l)
      f += 2.0 * static_cast<double>(batch * widths[l] * widths[l + 1]);
    return f;
  }
};

}  // namespace pk::bench
