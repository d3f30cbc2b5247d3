#include "kernel/step_terms.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "kernel/gauss_legendre.hpp"
#include "nn/activation.hpp"
#include "nn/layers.hpp"
#include "nn/model.hpp"

namespace pk::kernel {

using pk::ad::Shape;
using pk::ad::Tape;
using pk::ad::Tensor;
using pk::ad::Var;

namespace {
Var call_model(ModelFunction f, Tape& tape, const Tensor& queries, Var w) {
  const Var y = f(tape.constant(queries), w);
  if (y.shape().rank != 2 || y.shape().dim(0) != queries.shape().as_rows())
    throw pk::ad::ShapeError("model: " + std::to_string(queries.shape().as_rows()) +
                             " query points gave outputs of shape " + y.shape().str() +
                             "; expected (points, outputs)");
  return y;
}

void check_direction(const Tensor& w, const Tensor& dw, const char* who) {
  if (w.shape() != dw.shape())
    throw pk::ad::ShapeError(std::string(who) + ": step of shape " + dw.shape().str() +
                             " for weights of shape " + w.shape().str());
}
}  // namespace

Tensor predict(ModelFunction f, const Tensor& queries, const Tensor& w, Tape& tape) {
  tape.clear();
  return Tensor(call_model(f, tape, queries, tape.constant(w)).value());
}

FirstOrder first_order_term(ModelFunction f, const Tensor& queries, const Tensor& w,
                            const Tensor& dw, Tape& tape) {
  check_direction(w, dw, "first_order_term");
  tape.clear();
  const Var y = call_model(f, tape, queries, tape.variable(w, dw));
  return {Tensor(y.value()), y.tangent()};
}

SecondOrder second_order_term(ModelFunction f, const Tensor& queries, const Tensor& w,
                              const Tensor& dw, Tape& tape) {
  check_direction(w, dw, "second_order_term");
  tape.clear();
  const Var wv = tape.variable(w, dw);
  const Var y = call_model(f, tape, queries, wv);
  // Everything below is linear in u, so its value does not matter; ones keep it simple.
  const Var u = tape.variable(Tensor(y.shape(), 1.0));
  const Var jt_u = pk::ad::grad(pk::ad::sum(pk::ad::mul(u, y)), wv,
                                {.create_graph = true, .seed = {}});
  const Var s = pk::ad::sum(pk::ad::mul(jt_u, tape.constant(dw)));
  const Var j_dw = pk::ad::grad(s, u);
  Tensor second = j_dw.tangent();
  for (double& v : second.span()) v *= 0.5;
  return {Tensor(j_dw.value()), std::move(second)};
}

SecondOrder dense_second_order_term(const pk::nn::MlpSpec& spec, const Tensor& queries,
                                    const Tensor& w, const Tensor& dw, Tape& tape) {
  const pk::nn::Model model = pk::nn::mlp(spec);
  pk::nn::check_parameters(model, w, "dense_second_order_term");
  check_direction(w, dw, "dense_second_order_term");
  if (queries.shape().rank != 2 || queries.shape().dim(1) != model.input_dim())
    throw pk::ad::ShapeError("dense_second_order_term: query points of shape " + queries.shape().str() +
                             " for a network of " + std::to_string(model.input_dim()) + " inputs");
  const auto layers = static_cast<std::int64_t>(spec.widths.size()) - 1;
  tape.clear();
  const Var wv = tape.constant(w), dwv = tape.constant(dw);
  // h and its first and second derivatives along t; undefined means zero (the inputs are fixed).
  Var h = tape.constant(queries), h_t, h_tt;
  for (std::int64_t l = 0;; ++l) {
    const std::string name = "layer" + std::to_string(l);
    const pk::nn::ParameterBlock& weight = model.layout().block(name + ".weight");
    const pk::nn::ParameterBlock& bias = model.layout().block(name + ".bias");
    const Var z = pk::nn::linear(h, wv, weight, bias);
    Var z_t = pk::nn::linear(h, dwv, weight, bias);  // h dW^T + db
    Var z_tt;
    if (h_t.defined()) {
      z_t = pk::ad::add(z_t, pk::ad::matmul(h_t, weight.view(wv), false, true));
      z_tt = pk::ad::mul_scalar(pk::ad::matmul(h_t, weight.view(dwv), false, true), 2.0);
      z_tt = pk::ad::add(z_tt, pk::ad::matmul(h_tt, weight.view(wv), false, true));
    }
    if (l + 1 == layers) {
      Tensor second = z_tt.defined() ? Tensor(z_tt.value()) : Tensor(z.shape(), 0.0);
      for (double& v : second.span()) v *= 0.5;
      return {Tensor(z_t.value()), std::move(second)};
    }
    // The activation at z carrying the tangent z_t: its value's tangent is sigma'(z) z_t, and a
    // backward pass seeded with c gives sigma'(z) c, whose tangent is sigma''(z) z_t c.
    const Var zv = tape.variable(z.value(), z_t.value());
    const Var a = pk::nn::activate(spec.activation, zv);
    const Var curvature = pk::ad::grad(a, zv, {.create_graph = false, .seed = z_t});
    Tensor next_tt = curvature.tangent();  // sigma''(z) z_t^2
    if (z_tt.defined()) {
      const Var slope = pk::ad::grad(a, zv, {.create_graph = false, .seed = z_tt});  // sigma'(z) z_tt
      const pk::ad::TensorView s = slope.value();
      for (std::int64_t i = 0; i < next_tt.size(); ++i) next_tt[i] += s[i];
    }
    h = tape.constant(a.value());
    h_t = tape.constant(a.tangent());
    h_tt = tape.constant(next_tt);
  }
}

ExactChange exact_change(ModelFunction f, const Tensor& queries, const Tensor& w, const Tensor& dw,
                         const Tensor& actual_change, Tape& tape, double tolerance, double floor,
                         int min_nodes, int max_nodes) {
  check_direction(w, dw, "exact_change");
  double scale = 0.0;
  for (double v : actual_change.span()) scale = std::max(scale, std::abs(v));
  ExactChange best;
  Tensor point(w.shape());
  for (int n = std::max(1, min_nodes);; n *= 2) {
    const GaussLegendre rule = gauss_legendre(n);
    Tensor sum(actual_change.shape(), 0.0);
    for (std::size_t i = 0; i < rule.nodes.size(); ++i) {
      for (std::int64_t j = 0; j < w.size(); ++j) point[j] = w[j] + rule.nodes[i] * dw[j];
      const Tensor jvp = first_order_term(f, queries, point, dw, tape).first_order;
      if (jvp.shape() != sum.shape())
        throw pk::ad::ShapeError("exact_change: model outputs " + jvp.shape().str() +
                                 " but the actual change has shape " + sum.shape().str());
      for (std::int64_t j = 0; j < sum.size(); ++j) sum[j] += rule.weights[i] * jvp[j];
    }
    double error = 0.0;
    bool converged = true;
    for (std::int64_t j = 0; j < sum.size(); ++j) {
      const double e = std::abs(sum[j] - actual_change[j]);
      error = std::max(error, e);
      if (!(e <= tolerance * scale + floor)) converged = false;
    }
    best = {std::move(sum), n, error};
    if (converged || n * 2 > max_nodes) return best;
  }
}

}  // namespace pk::kernel
