#include "kernel/layered_second_order.hpp"

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "nn/activation.hpp"

namespace pk::kernel {

using pk::ad::Shape;
using pk::ad::Tape;
using pk::ad::Tensor;
using pk::ad::Var;
using pk::nn::LayerKind;

namespace {
// A value and its first two derivatives along the line; an undefined derivative is zero (what
// comes before the first layer with parameters does not move with w).
struct Jet {
  Var v, t, tt;
};

// (a + b) with an undefined operand meaning zero.
Var plus(Var a, Var b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  return pk::ad::add(a, b);
}
// Channel-major products (out x N*P) reordered to image-major rows (N x out*P), as conv2d does.
Var image_major(Var y, std::int64_t out, std::int64_t n, std::int64_t p) {
  const Var row = pk::ad::reshape(y, Shape::matrix(1, y.shape().size()));
  return pk::ad::reshape(pk::ad::transpose_blocks(row, out, n, p), Shape::matrix(n, out * p));
}

// A convolution's jet, conv2d's product written out so that each input is unfolded once and
// multiplied by W and dW stacked (one GEMM for both), instead of five separate convolutions.
Jet conv_jet(const Jet& h, Var weight, Var bias, Var step, Var step_bias, const pk::ad::Conv2dGeometry& g) {
  const std::int64_t out = weight.shape().dim(0), n = h.v.shape().dim(0);
  const std::int64_t p = g.out_height() * g.out_width();
  const Var both_list[] = {weight, step};
  const Var both = pk::ad::concatenate(both_list, 0);  // [W; dW], 2out x taps
  auto products = [&](Var x) {                         // W unfold(x) and dW unfold(x), each out x N*P
    const Var y = pk::ad::matmul(both, pk::ad::unfold(x, g));
    return std::pair{pk::ad::slice(y, 0, 0, out), pk::ad::slice(y, 0, out, 2 * out)};
  };
  const Shape column = Shape::matrix(out, 1);
  const auto [w_h, dw_h] = products(h.v);
  Jet z;
  z.v = image_major(pk::ad::add(w_h, pk::ad::reshape(bias, column)), out, n, p);
  Var t = pk::ad::add(dw_h, pk::ad::reshape(step_bias, column));
  if (h.t.defined()) {
    const auto [w_t, dw_t] = products(h.t);
    t = pk::ad::add(t, w_t);
    Var tt = pk::ad::mul_scalar(dw_t, 2.0);
    if (h.tt.defined()) tt = pk::ad::add(tt, pk::ad::matmul(weight, pk::ad::unfold(h.tt, g)));
    z.tt = image_major(tt, out, n, p);
  }
  z.t = image_major(t, out, n, p);
  return z;
}
}  // namespace

SecondOrder layered_second_order_term(const pk::nn::Architecture& arch, const pk::nn::Model& model,
                                      const Tensor& queries, const Tensor& w, const Tensor& dw, Tape& tape) {
  const pk::nn::ArchitectureShapes shapes = pk::nn::infer_shapes(arch);
  if (shapes.parameter_count != model.parameter_count() || shapes.input_size != model.input_dim() ||
      shapes.output_size != model.output_dim())
    throw std::invalid_argument("layered_second_order_term: " + model.name() + " is not the model of " +
                                arch.str());
  pk::nn::check_parameters(model, w, "layered_second_order_term");
  if (dw.shape() != w.shape())
    throw pk::ad::ShapeError("layered_second_order_term: step of shape " + dw.shape().str() +
                             " for weights of shape " + w.shape().str());
  if (queries.shape().rank != 2 || queries.shape().dim(1) != shapes.input_size)
    throw pk::ad::ShapeError("layered_second_order_term: query points of shape " + queries.shape().str() +
                             " for a network of " + std::to_string(shapes.input_size) + " inputs");
  tape.clear();
  const Var wv = tape.constant(w), dwv = tape.constant(dw);
  const auto& blocks = model.layout().blocks();
  std::size_t unit = 0;
  Jet h{tape.constant(queries), {}, {}};
  std::vector<std::int64_t> s = arch.input_shape;
  for (std::size_t i = 0; i < arch.layers.size(); ++i) {
    const pk::nn::LayerSpec& l = arch.layers[i];
    switch (l.kind) {
      case LayerKind::linear:
      case LayerKind::conv2d: {
        if (2 * unit + 1 >= blocks.size())
          throw std::invalid_argument("layered_second_order_term: " + model.name() +
                                      " has fewer parameter blocks than " + arch.str() +
                                      " has layers with parameters");
        const pk::nn::ParameterBlock& wb = blocks[2 * unit];
        const pk::nn::ParameterBlock& bb = blocks[2 * unit + 1];
        ++unit;
        const pk::ad::Conv2dGeometry g{.channels = s[0],
                                       .height = s.size() == 3 ? s[1] : 1,
                                       .width = s.size() == 3 ? s[2] : 1,
                                       .kernel_h = l.kernel,
                                       .kernel_w = l.kernel,
                                       .stride_h = l.stride,
                                       .stride_w = l.stride,
                                       .padding_h = l.padding,
                                       .padding_w = l.padding};
        // L(x; weight) and L(x; weight, bias) of a dense layer.
        auto apply = [](Var x, Var weight) { return pk::ad::matmul(x, weight, false, true); };
        auto apply_biased = [](Var x, Var weight, Var bias) {
          return pk::ad::add(pk::ad::matmul(x, weight, false, true), bias);
        };
        const Var weight = wb.view(wv), step = wb.view(dwv);
        if (l.kind == LayerKind::conv2d) {
          h = conv_jet(h, weight, bb.view(wv), step, bb.view(dwv), g);
          break;
        }
        Jet z;
        z.v = apply_biased(h.v, weight, bb.view(wv));
        z.t = apply_biased(h.v, step, bb.view(dwv));
        if (h.t.defined()) {
          z.t = pk::ad::add(z.t, apply(h.t, weight));
          z.tt =
              plus(pk::ad::mul_scalar(apply(h.t, step), 2.0), h.tt.defined() ? apply(h.tt, weight) : Var{});
        }
        h = z;
        break;
      }
      case LayerKind::avg_pool2d: {
        const pk::ad::ImageShape image{s[0], s[1], s[2]};
        for (Var* x : {&h.v, &h.t, &h.tt})
          if (x->defined()) *x = pk::ad::avg_pool2d(*x, image, l.kernel, l.stride);
        break;
      }
      case LayerKind::max_pool2d: {
        const pk::ad::ImageShape image{s[0], s[1], s[2]};
        if (!h.t.defined()) {
          h.v = pk::ad::max_pool2d(h.v, image, l.kernel, l.stride);
          break;
        }
        // The windows' maxima are chosen by the values; each derivative rides along as a tangent.
        const Var first =
            pk::ad::max_pool2d(tape.variable(h.v.value(), h.t.value()), image, l.kernel, l.stride);
        Jet out{tape.constant(first.value()), tape.constant(first.tangent()), {}};
        if (h.tt.defined())
          out.tt = tape.constant(
              pk::ad::max_pool2d(tape.variable(h.v.value(), h.tt.value()), image, l.kernel, l.stride)
                  .tangent());
        h = out;
        break;
      }
      case LayerKind::activation: {
        if (!h.t.defined()) {
          h.v = pk::nn::activate(l.activation, h.v);
          break;
        }
        // The activation at z carrying the tangent z_t: its value's tangent is sigma'(z) z_t, and a
        // backward pass seeded with c gives sigma'(z) c, whose tangent is sigma''(z) z_t c.
        const Var zv = tape.variable(h.v.value(), h.t.value());
        const Var a = pk::nn::activate(l.activation, zv);
        const Var curvature = pk::ad::grad(a, zv, {.create_graph = false, .seed = h.t});
        Tensor next_tt = curvature.tangent();  // sigma''(z) z_t^2
        if (h.tt.defined()) {
          const Var slope = pk::ad::grad(a, zv, {.create_graph = false, .seed = h.tt});  // sigma'(z) z_tt
          const pk::ad::TensorView sv = slope.value();
          for (std::int64_t k = 0; k < next_tt.size(); ++k) next_tt[k] += sv[k];
        }
        h = {tape.constant(a.value()), tape.constant(a.tangent()), tape.constant(next_tt)};
        break;
      }
      case LayerKind::flatten:
        break;  // channel-major rows already are PyTorch's flatten
    }
    s = shapes.outputs[i];
  }
  Tensor first = h.t.defined() ? Tensor(h.t.value()) : Tensor(h.v.shape(), 0.0);
  Tensor second = h.tt.defined() ? Tensor(h.tt.value()) : Tensor(h.v.shape(), 0.0);
  for (double& v : second.span()) v *= 0.5;
  return {std::move(first), std::move(second)};
}

}  // namespace pk::kernel
