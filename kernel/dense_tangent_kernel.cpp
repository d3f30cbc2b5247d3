#include "kernel/dense_tangent_kernel.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "nn/dense_chain.hpp"
#include "nn/layers.hpp"

namespace pk::kernel {

using pk::ad::Shape;
using pk::ad::Tape;
using pk::ad::Tensor;
using pk::ad::Var;

namespace {
// Rows [begin, end) of a recorded matrix as a plain tensor.
Tensor rows(Var m, std::int64_t begin, std::int64_t end) {
  const std::int64_t cols = m.shape().dim(1);
  const pk::ad::TensorView v = m.value();
  return Tensor(Shape::matrix(end - begin, cols),
                std::vector<double>(v.data() + begin * cols, v.data() + end * cols));
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
  std::vector<Tensor> ga(static_cast<std::size_t>(layers)), gb(static_cast<std::size_t>(layers));
  for (std::int64_t l = 0; l < layers; ++l) {
    const std::int64_t width = chain->layers[static_cast<std::size_t>(l)].out();
    ga[static_cast<std::size_t>(l)] = Tensor(Shape::matrix(na * c_out, width));
    if (!same) gb[static_cast<std::size_t>(l)] = Tensor(Shape::matrix(nb * c_out, width));
  }
  Tensor seed(h.shape(), 0.0);
  for (std::int64_t c = 0; c < c_out; ++c) {
    for (std::int64_t p = 0; p < stacked; ++p) seed(p, c) = 1.0;
    const Tape::Mark m = tape.mark();
    const std::vector<Var> adj = pk::ad::grad(h, pre, {.create_graph = false, .seed = tape.constant(seed)});
    for (std::int64_t l = 0; l < layers; ++l) {
      const auto li = static_cast<std::size_t>(l);
      const std::int64_t width = chain->layers[li].out();
      const pk::ad::TensorView g = adj[li].value();
      for (std::int64_t p = 0; p < stacked; ++p) {
        double* dst = p < na ? ga[li].data() + (p * c_out + c) * width
                             : gb[li].data() + ((p - na) * c_out + c) * width;
        std::copy_n(g.data() + p * width, width, dst);
      }
    }
    tape.rewind(m);
    for (std::int64_t p = 0; p < stacked; ++p) seed(p, c) = 0.0;
  }
  if (same) gb = ga;

  // K = sum_l (G_l(A) G_l(B)^T) .* (H_l(A) H_l(B)^T + 1), the second factor shared by each
  // C x C block.
  std::vector<Tensor> ha, hb;
  for (std::int64_t l = 0; l < layers; ++l) {
    ha.push_back(rows(inputs[static_cast<std::size_t>(l)], 0, na));
    hb.push_back(same ? ha.back() : rows(inputs[static_cast<std::size_t>(l)], na, na + nb));
  }
  Tensor k(Shape::matrix(na * c_out, nb * c_out), 0.0);
  tape.clear();
  for (std::int64_t l = 0; l < layers; ++l) {
    const auto li = static_cast<std::size_t>(l);
    const Tape::Mark m = tape.mark();
    const Var gg = pk::ad::matmul(tape.constant(ga[li]), tape.constant(gb[li]), false, true);
    const Var hh = pk::ad::matmul(tape.constant(ha[li]), tape.constant(hb[li]), false, true);
    const pk::ad::TensorView g = gg.value(), x = hh.value();
    for (std::int64_t p = 0; p < na; ++p)
      for (std::int64_t q = 0; q < nb; ++q) {
        const double input_gram = x[p * nb + q] + 1.0;
        for (std::int64_t c = 0; c < c_out; ++c)
          for (std::int64_t c2 = 0; c2 < c_out; ++c2) {
            const std::int64_t i = (p * c_out + c) * (nb * c_out) + q * c_out + c2;
            k[i] += g[i] * input_gram;
          }
      }
    tape.rewind(m);
  }
  return k;
}

}  // namespace pk::kernel
