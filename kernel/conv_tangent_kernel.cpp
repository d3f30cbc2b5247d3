#include "kernel/conv_tangent_kernel.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "autodiff/gemm.hpp"

namespace pk::kernel {

using pk::ad::Shape;
using pk::ad::Tape;
using pk::ad::Tensor;
using pk::ad::Var;
using pk::nn::LayerKind;

namespace {
// Rows of the kernel formed at a time.
constexpr std::int64_t kPanelRows = 160;

// A layer with parameters, as the forward pass over the points recorded it.
struct Unit {
  LayerKind kind = LayerKind::linear;
  Var input, output;                // h (S x in) and z (S x out*positions), z before any activation
  pk::ad::Conv2dGeometry geometry;  // conv2d
  std::int64_t out = 0;             // features or channels
  std::int64_t width = 0;           // elements of z per point
  std::int64_t column = 0;          // conv2d: first column of its block in J
};

// One convolution's columns of J for every (point, output) row: its weight block (out x taps per
// row, PyTorch's order) then its bias block.
void convolution_jacobians(const Unit& u, const Tensor& g, const double* cols, std::int64_t points,
                           std::int64_t c_out, Tensor& j) {
  const pk::ad::Conv2dGeometry& geo = u.geometry;
  const std::int64_t taps = geo.channels * geo.kernel_h * geo.kernel_w;
  const std::int64_t positions = geo.out_height() * geo.out_width(), d = j.shape().dim(1);
  std::vector<double> product(static_cast<std::size_t>(c_out * u.out * taps));
  for (std::int64_t p = 0; p < points; ++p) {
    // Rows (c, o) of this point's adjoints times its unfolded input: every output at once.
    const double* gp = g.data() + p * c_out * u.width;
    pk::ad::detail::gemm(false, true, c_out * u.out, taps, positions, 1.0, gp, positions,
                         cols + p * positions, points * positions, 0.0, product.data(), taps);
    for (std::int64_t c = 0; c < c_out; ++c) {
      double* row = j.data() + (p * c_out + c) * d + u.column;
      std::copy_n(product.data() + c * u.out * taps, u.out * taps, row);
      const double* gc = gp + c * u.width;
      for (std::int64_t o = 0; o < u.out; ++o) {
        double sum = 0.0;
        for (std::int64_t q = 0; q < positions; ++q) sum += gc[o * positions + q];
        row[u.out * taps + o] = sum;
      }
    }
  }
}
// The lower triangle of a square matrix from its upper one, in tiles so that the column-wise
// reads of a large kernel stay in cache.
void mirror_upper(Tensor& k) {
  const std::int64_t n = k.shape().dim(0);
  constexpr std::int64_t kTile = 32;
  double* d = k.data();
  for (std::int64_t r0 = 0; r0 < n; r0 += kTile)
    for (std::int64_t c0 = 0; c0 <= r0; c0 += kTile)
      for (std::int64_t r = r0; r < std::min(n, r0 + kTile); ++r)
        for (std::int64_t c = c0; c < std::min(r, c0 + kTile); ++c) d[r * n + c] = d[c * n + r];
}
}  // namespace

bool has_convolutions(const pk::nn::Architecture& arch) {
  return std::any_of(arch.layers.begin(), arch.layers.end(),
                     [](const pk::nn::LayerSpec& l) { return l.kind == LayerKind::conv2d; });
}

Tensor conv_tangent_kernel(const pk::nn::Architecture& arch, const pk::nn::Model& model,
                           const Tensor& points_a, const Tensor& points_b, const Tensor& w, Tape& tape) {
  const pk::nn::ArchitectureShapes shapes = pk::nn::infer_shapes(arch);
  if (shapes.parameter_count != model.parameter_count() || shapes.input_size != model.input_dim() ||
      shapes.output_size != model.output_dim())
    throw std::invalid_argument("conv_tangent_kernel: " + model.name() + " is not the model of " +
                                arch.str());
  pk::nn::check_parameters(model, w, "conv_tangent_kernel");
  const std::int64_t in = shapes.input_size, c_out = shapes.output_size;
  for (const Tensor* p : {&points_a, &points_b})
    if (p->shape().rank != 2 || p->shape().dim(1) != in)
      throw pk::ad::ShapeError("conv_tangent_kernel: points of shape " + p->shape().str() +
                               " for a network of " + std::to_string(in) + " inputs");
  const std::int64_t na = points_a.shape().dim(0), nb = points_b.shape().dim(0);
  // K(A, A), the common case, needs the passes over A only.
  const bool same = points_a.shape() == points_b.shape() &&
                    std::equal(points_a.span().begin(), points_a.span().end(), points_b.span().begin());
  const std::int64_t stacked = same ? na : na + nb;

  // One forward pass over both point sets, keeping each parameter layer's input and output. The
  // blocks of w come in layer order, weight then bias (nn::sequential's layout).
  tape.clear();
  Tensor both(Shape::matrix(stacked, in));
  std::copy_n(points_a.data(), points_a.size(), both.data());
  if (!same) std::copy_n(points_b.data(), points_b.size(), both.data() + points_a.size());
  const Var wv = tape.variable(w);
  const auto& blocks = model.layout().blocks();
  std::vector<Unit> units;
  std::int64_t conv_columns = 0;
  Var h = tape.constant(both);
  std::vector<std::int64_t> s = arch.input_shape;
  for (std::size_t i = 0; i < arch.layers.size(); ++i) {
    const pk::nn::LayerSpec& l = arch.layers[i];
    const std::vector<std::int64_t>& next = shapes.outputs[i];
    if (l.kind == LayerKind::linear || l.kind == LayerKind::conv2d) {
      const std::size_t b = 2 * units.size();
      if (b + 1 >= blocks.size())
        throw std::invalid_argument("conv_tangent_kernel: " + model.name() +
                                    " has fewer parameter blocks than " + arch.str() +
                                    " has layers with parameters");
      Unit u;
      u.kind = l.kind;
      u.input = h;
      u.out = l.out;
      const Var weight = blocks[b].view(wv), bias = blocks[b + 1].view(wv);
      if (l.kind == LayerKind::linear) {
        h = pk::ad::add(pk::ad::matmul(h, weight, false, true), bias);
      } else {
        u.geometry = {.channels = s[0],
                      .height = s[1],
                      .width = s[2],
                      .kernel_h = l.kernel,
                      .kernel_w = l.kernel,
                      .stride_h = l.stride,
                      .stride_w = l.stride,
                      .padding_h = l.padding,
                      .padding_w = l.padding};
        h = pk::ad::conv2d(h, weight, bias, u.geometry);
        u.column = conv_columns;
        conv_columns += blocks[b].size() + blocks[b + 1].size();
      }
      u.output = h;
      u.width = h.shape().dim(1);
      units.push_back(u);
    } else if (l.kind == LayerKind::avg_pool2d) {
      h = pk::ad::avg_pool2d(h, {s[0], s[1], s[2]}, l.kernel, l.stride);
    } else if (l.kind == LayerKind::max_pool2d) {
      h = pk::ad::max_pool2d(h, {s[0], s[1], s[2]}, l.kernel, l.stride);
    } else if (l.kind == LayerKind::activation) {
      h = pk::nn::activate(l.activation, h);
    }  // flatten: channel-major rows already are PyTorch's flatten
    s = next;
  }

  // Each layer's output adjoints g_c, rows ordered (point, output), from one pass per output.
  std::vector<Var> outputs;
  for (const Unit& u : units) outputs.push_back(u.output);
  std::vector<Tensor> g;
  for (const Unit& u : units) g.emplace_back(Shape::matrix(stacked * c_out, u.width));
  Tensor seed(h.shape(), 0.0);
  for (std::int64_t c = 0; c < c_out; ++c) {
    for (std::int64_t p = 0; p < stacked; ++p) seed(p, c) = 1.0;
    const Tape::Mark m = tape.mark();
    const std::vector<Var> adj =
        pk::ad::grad(h, outputs, {.create_graph = false, .seed = tape.constant(seed)});
    for (std::size_t l = 0; l < units.size(); ++l) {
      const std::int64_t width = units[l].width;
      const pk::ad::TensorView a = adj[l].value();
      for (std::int64_t p = 0; p < stacked; ++p)
        std::copy_n(a.data() + p * width, width, g[l].data() + (p * c_out + c) * width);
    }
    tape.rewind(m);
    for (std::int64_t p = 0; p < stacked; ++p) seed(p, c) = 0.0;
  }

  // The convolutions' Jacobians J, one row per (point, output), their blocks side by side.
  Tensor j(Shape::matrix(stacked * c_out, conv_columns));
  for (std::size_t l = 0; l < units.size(); ++l) {
    if (units[l].kind != LayerKind::conv2d) continue;
    const Tape::Mark m = tape.mark();
    const Var cols = pk::ad::unfold(units[l].input, units[l].geometry);
    convolution_jacobians(units[l], g[l], cols.value().data(), stacked, c_out, j);
    tape.rewind(m);
  }

  // K = J(A) J(B)^T + sum over dense layers of (G(A) G(B)^T) .* (H(A) H(B)^T + 1), the second
  // factor shared by each C x C block. Formed in panels of rows, so the dense layers' products
  // need a panel of scratch rather than a second kernel-sized matrix; for K(A, A) only the
  // panels' parts on and above the diagonal are formed (half the work), then mirrored.
  const std::int64_t rows_a = na * c_out, cols_b = nb * c_out;
  const std::int64_t panel_points = std::max<std::int64_t>(1, kPanelRows / c_out);
  Tensor k(Shape::matrix(rows_a, cols_b));
  std::vector<double> scratch;
  for (std::int64_t p0 = 0; p0 < na; p0 += panel_points) {
    const std::int64_t p1 = std::min(na, p0 + panel_points), rows = (p1 - p0) * c_out;
    const std::int64_t q0 = same ? p0 : 0, width = cols_b - q0 * c_out;
    double* kp = k.data() + p0 * c_out * cols_b + q0 * c_out;
    const double* jb = j.data() + ((same ? 0 : na) + q0) * c_out * conv_columns;
    pk::ad::detail::gemm(false, true, rows, width, conv_columns, 1.0, j.data() + p0 * c_out * conv_columns,
                         conv_columns, jb, conv_columns, 0.0, kp, cols_b);
    for (std::size_t l = 0; l < units.size(); ++l) {
      if (units[l].kind != LayerKind::linear) continue;
      const pk::ad::TensorView hv = units[l].input.value();
      const std::int64_t out = units[l].width, features = hv.shape().dim(1);
      const double* ga = g[l].data() + p0 * c_out * out;
      const double* gb = g[l].data() + ((same ? 0 : na) + q0) * c_out * out;
      const double* ha = hv.data() + p0 * features;
      const double* hb = hv.data() + ((same ? 0 : na) + q0) * features;
      const std::int64_t nq = nb - q0;
      scratch.resize(static_cast<std::size_t>(rows * width + (p1 - p0) * nq));
      double* gg = scratch.data();
      double* hh = gg + rows * width;
      pk::ad::detail::gemm(false, true, rows, width, out, 1.0, ga, out, gb, out, 0.0, gg, width);
      pk::ad::detail::gemm(false, true, p1 - p0, nq, features, 1.0, ha, features, hb, features, 0.0, hh, nq);
      for (std::int64_t p = 0; p < p1 - p0; ++p)
        for (std::int64_t c = 0; c < c_out; ++c) {
          double* krow = kp + (p * c_out + c) * cols_b;
          const double* grow = gg + (p * c_out + c) * width;
          for (std::int64_t q = 0; q < nq; ++q) {
            const double input_gram = hh[p * nq + q] + 1.0;
            for (std::int64_t e = 0; e < c_out; ++e) krow[q * c_out + e] += grow[q * c_out + e] * input_gram;
          }
        }
    }
  }
  if (same) mirror_upper(k);
  tape.clear();
  return k;
}

}  // namespace pk::kernel
