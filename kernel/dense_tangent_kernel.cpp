#include "kernel/dense_tangent_kernel.hpp"

#include <algorithm>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "autodiff/error.hpp"
#include "autodiff/gemm.hpp"
#include "autodiff/grad.hpp"
#include "autodiff/ops.hpp"
#include "nn/dense_chain.hpp"
#include "nn/layers.hpp"

namespace pk::kernel {

using pk::ad::Shape;
using pk::ad::Tape;
using pk::ad::Tensor;
using pk::ad::Var;

namespace {
typedef double v8d __attribute__((vector_size(64)));

// An 8 x 8 tile transposed in registers: pairs of rows interleaved, then pairs of pairs, then
// halves (24 shuffles for 64 elements, against 64 strided scalar moves).
void transpose_tile(const double* src, std::int64_t lds, double* dst, std::int64_t ldd) {
  v8d r[8];
  for (int i = 0; i < 8; ++i) std::memcpy(&r[i], src + i * lds, sizeof(v8d));
  v8d t[8], u[8];
  for (int i = 0; i < 8; i += 2) {  // t[i]: even columns of rows i, i+1 interleaved; t[i+1]: odd
    t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 2, 10, 4, 12, 6, 14);
    t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 1, 9, 3, 11, 5, 13, 7, 15);
  }
  for (int i = 0; i < 8; i += 4)  // u[i + c]: columns c and c + 4 of rows i..i+3
    for (int c = 0; c < 2; ++c) {
      u[i + c] = __builtin_shufflevector(t[i + c], t[i + c + 2], 0, 1, 8, 9, 4, 5, 12, 13);
      u[i + c + 2] = __builtin_shufflevector(t[i + c], t[i + c + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    }
  for (int c = 0; c < 4; ++c) {
    const v8d lo = __builtin_shufflevector(u[c], u[c + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    const v8d hi = __builtin_shufflevector(u[c], u[c + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    std::memcpy(dst + c * ldd, &lo, sizeof(v8d));
    std::memcpy(dst + (c + 4) * ldd, &hi, sizeof(v8d));
  }
}

// dst[j * ldd + i] = src[i * lds + j] for i < rows, j < cols, in 8 x 8 tiles: a whole-column
// walk of a 128-wide matrix strides 1 KiB, and such strides alias in the L1 sets.
void transpose(const double* src, std::int64_t rows, std::int64_t cols, std::int64_t lds, double* dst,
               std::int64_t ldd) {
  constexpr std::int64_t kTile = 8;
  for (std::int64_t i0 = 0; i0 < rows; i0 += kTile)
    for (std::int64_t j0 = 0; j0 < cols; j0 += kTile) {
      const std::int64_t i1 = std::min(rows, i0 + kTile), j1 = std::min(cols, j0 + kTile);
      if (i1 - i0 == kTile && j1 - j0 == kTile) {
        transpose_tile(src + i0 * lds + j0, lds, dst + j0 * ldd + i0, ldd);
        continue;
      }
      for (std::int64_t j = j0; j < j1; ++j)
        for (std::int64_t i = i0; i < i1; ++i) dst[j * ldd + i] = src[i * lds + j];
    }
}
}  // namespace

Tensor dense_tangent_kernel(const pk::nn::Model& model, const Tensor& points_a, const Tensor& points_b,
                            const Tensor& w, Tape& tape) {
  const std::optional<pk::nn::DenseChain> chain = pk::nn::dense_chain(model);
  if (!chain)
    throw std::invalid_argument("dense_tangent_kernel: " + model.name() +
                                " is not a chain of dense layers and pointwise activations");
  pk::nn::check_parameters(model, w, "dense_tangent_kernel");
  const std::int64_t in = model.input_dim(), c_out = model.output_dim();
  for (const Tensor* p : {&points_a, &points_b})
    if (p->shape().rank != 2 || p->shape().dim(1) != in)
      throw pk::ad::ShapeError("dense_tangent_kernel: points of shape " + p->shape().str() +
                               " for a network of " + std::to_string(in) + " inputs");
  const std::int64_t na = points_a.shape().dim(0), nb = points_b.shape().dim(0);
  const std::int64_t layers = static_cast<std::int64_t>(chain->layers.size());
  // K(A, A), the common case, needs the passes over A only.
  const bool same = points_a.shape() == points_b.shape() &&
                    std::equal(points_a.span().begin(), points_a.span().end(), points_b.span().begin());
  const std::int64_t stacked = same ? na : na + nb;

  // One forward pass over both point sets, keeping each layer's input and pre-activation.
  tape.clear();
  Tensor both(Shape::matrix(stacked, in));
  std::copy_n(points_a.data(), points_a.size(), both.data());
  if (!same) std::copy_n(points_b.data(), points_b.size(), both.data() + points_a.size());
  const Var wv = tape.variable(w);
  std::vector<Var> inputs, pre;
  Var h = tape.constant(both);
  for (const pk::nn::DenseLayer& layer : chain->layers) {
    inputs.push_back(h);
    const Var z = pk::nn::linear(h, wv, layer.weight, layer.bias);
    pre.push_back(z);
    h = z;
    for (const pk::nn::Activation act : layer.activations) h = pk::nn::activate(act, h);
  }

  // For each layer, the adjoints g_c stacked with rows ordered (point, output), for A and B.
  // With one output they are the backward pass's own results, read in place on the tape.
  std::vector<Tensor> ga(static_cast<std::size_t>(layers)), gb(static_cast<std::size_t>(layers));
  std::vector<const double*> g_single(static_cast<std::size_t>(layers));
  for (std::int64_t l = 0; l < layers && c_out > 1; ++l) {
    const std::int64_t width = chain->layers[static_cast<std::size_t>(l)].out();
    ga[static_cast<std::size_t>(l)] = Tensor(Shape::matrix(na * c_out, width));
    if (!same) gb[static_cast<std::size_t>(l)] = Tensor(Shape::matrix(nb * c_out, width));
  }
  Tensor seed(h.shape(), 0.0);
  for (std::int64_t c = 0; c < c_out; ++c) {
    for (std::int64_t p = 0; p < stacked; ++p) seed(p, c) = 1.0;
    const Tape::Mark m = tape.mark();
    const std::vector<Var> adj = pk::ad::grad(h, pre, {.create_graph = false, .seed = tape.constant(seed)});
    if (c_out == 1) {  // kept on the tape until the Grams are made
      for (std::size_t li = 0; li < adj.size(); ++li) g_single[li] = adj[li].value().data();
      break;
    }
    for (std::int64_t l = 0; l < layers; ++l) {
      const auto li = static_cast<std::size_t>(l);
      const std::int64_t width = chain->layers[li].out();
      const pk::ad::TensorView g = adj[li].value();
      for (std::int64_t p = 0; p < stacked; ++p) {
        double* dst =
            p < na ? ga[li].data() + (p * c_out + c) * width : gb[li].data() + ((p - na) * c_out + c) * width;
        std::copy_n(g.data() + p * width, width, dst);
      }
    }
    tape.rewind(m);
    for (std::int64_t p = 0; p < stacked; ++p) seed(p, c) = 0.0;
  }

  // K = sum_l (G_l(A) G_l(B)^T) .* (H_l(A) H_l(B)^T + 1), the second factor shared by each
  // C x C block. Both Grams are made a band of kBand points of A at a time and folded into K at
  // once, so no P x P product is stored. K(A, A) is symmetric: a band then starts at its own
  // diagonal block (about half the products) and the lower triangle is mirrored at the end.
  Tensor k(Shape::matrix(na * c_out, nb * c_out), 0.0);
  constexpr std::int64_t kBand = 8;
  const std::int64_t kcols = nb * c_out;
  // The transposed operands' rows are padded by a cache line: unpadded, a power-of-two row length
  // (128 points: 1 KiB) puts the rows a product walks in the same few L1 sets.
  const std::int64_t ldg = kcols + 8, ldh = nb + 8;
  std::vector<double> gbt, hbt, gg, hh;
  for (std::int64_t l = 0; l < layers; ++l) {
    const auto li = static_cast<std::size_t>(l);
    const std::int64_t wg = pre[li].shape().dim(1), wh = inputs[li].shape().dim(1);
    const double* g_a = c_out == 1 ? g_single[li] : ga[li].data();  // rows [0, na) are A, then B's
    const double* h_a = inputs[li].value().data();
    const double* g_b = same ? g_a : c_out == 1 ? g_a + na * wg : gb[li].data();
    const double* h_b = same ? h_a : h_a + na * wh;
    // G(B)^T and H(B)^T, so each band's products read rows of both operands.
    gbt.resize(static_cast<std::size_t>(wg * ldg));
    hbt.resize(static_cast<std::size_t>(wh * ldh));
    transpose(g_b, kcols, wg, wg, gbt.data(), ldg);
    transpose(h_b, nb, wh, wh, hbt.data(), ldh);
    for (std::int64_t p0 = 0; p0 < na; p0 += kBand) {
      const std::int64_t bp = std::min(kBand, na - p0);
      const std::int64_t q0 = same ? p0 : 0, bq = nb - q0;
      gg.resize(static_cast<std::size_t>(bp * c_out * bq * c_out));
      hh.resize(static_cast<std::size_t>(bp * bq));
      pk::ad::detail::gemm(false, false, bp * c_out, bq * c_out, wg, 1.0, g_a + p0 * c_out * wg, wg,
                           gbt.data() + q0 * c_out, ldg, 0.0, gg.data(), bq * c_out);
      pk::ad::detail::gemm(false, false, bp, bq, wh, 1.0, h_a + p0 * wh, wh, hbt.data() + q0, ldh, 0.0,
                           hh.data(), bq);
      for (std::int64_t p = 0; p < bp; ++p) {
        const double* x = hh.data() + p * bq;
        for (std::int64_t c = 0; c < c_out; ++c) {
          const double* g = gg.data() + (p * c_out + c) * bq * c_out;
          double* out = k.data() + ((p0 + p) * c_out + c) * kcols + q0 * c_out;
          if (c_out == 1) {  // one output: a contiguous loop that vectorises
            for (std::int64_t q = 0; q < bq; ++q) out[q] += g[q] * (x[q] + 1.0);
          } else {
            for (std::int64_t q = 0; q < bq; ++q) {
              const double input_gram = x[q] + 1.0;
              for (std::int64_t c2 = 0; c2 < c_out; ++c2)
                out[q * c_out + c2] += g[q * c_out + c2] * input_gram;
            }
          }
        }
      }
    }
  }
  if (same)  // the lower triangle from the upper, a tile row of K at a time
    for (std::int64_t i0 = 0; i0 < kcols; i0 += 8) {
      transpose(k.data() + i0, i0, std::min<std::int64_t>(8, kcols - i0), kcols, k.data() + i0 * kcols,
                kcols);
      for (std::int64_t i = i0 + 1; i < std::min(kcols, i0 + 8); ++i)
        for (std::int64_t j = i0; j < i; ++j) k[i * kcols + j] = k[j * kcols + i];
    }
  tape.clear();
  return k;
}

}  // namespace pk::kernel
