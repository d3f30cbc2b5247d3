#include "kernel/step_terms.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>

#include "autodiff/error.hpp"
#include "autodiff/grad.hpp"
#include "autodiff/ops.hpp"
#include "kernel/gauss_legendre.hpp"
#include "kernel/layered_second_order.hpp"
#include "nn/activation.hpp"
#include "nn/architecture.hpp"
#include "nn/dense_chain.hpp"
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

FirstOrder first_order_term(ModelFunction f, const Tensor& queries, const Tensor& w, const Tensor& dw,
                            Tape& tape) {
  check_direction(w, dw, "first_order_term");
  tape.clear();
  const Var y = call_model(f, tape, queries, tape.variable(w, dw));
  return {Tensor(y.value()), y.tangent()};
}

SecondOrder second_order_term(ModelFunction f, const Tensor& queries, const Tensor& w, const Tensor& dw,
                              Tape& tape) {
  check_direction(w, dw, "second_order_term");
  tape.clear();
  const Var wv = tape.variable(w, dw);
  const Var y = call_model(f, tape, queries, wv);
  // Everything below is linear in u, so its value does not matter; ones keep it simple.
  const Var u = tape.variable(Tensor(y.shape(), 1.0));
  const Var jt_u = pk::ad::grad(pk::ad::sum(pk::ad::mul(u, y)), wv, {.create_graph = true, .seed = {}});
  const Var s = pk::ad::sum(pk::ad::mul(jt_u, tape.constant(dw)));
  const Var j_dw = pk::ad::grad(s, u);
  Tensor second = j_dw.tangent();
  for (double& v : second.span()) v *= 0.5;
  return {Tensor(j_dw.value()), std::move(second)};
}

ThirdOrder third_order_term(ModelFunction f, const Tensor& queries, const Tensor& w, const Tensor& dw,
                            Tape& tape) {
  check_direction(w, dw, "third_order_term");
  tape.clear();
  const Var wv = tape.variable(w, dw);
  const Var y = call_model(f, tape, queries, wv);
  // Everything below is linear in u, so its value does not matter; ones keep it simple.
  const Var u = tape.variable(Tensor(y.shape(), 1.0));
  const Var direction = tape.constant(dw);
  const Var jt_u = pk::ad::grad(pk::ad::sum(pk::ad::mul(u, y)), wv, {.create_graph = true, .seed = {}});
  const Var s1 = pk::ad::sum(pk::ad::mul(jt_u, direction));  // u^T J dw
  const Var h_dw = pk::ad::grad(s1, wv, {.create_graph = true, .seed = {}});
  const Var s2 = pk::ad::sum(pk::ad::mul(h_dw, direction));  // sum_i u_i dw^T H_i dw
  const Var curvature = pk::ad::grad(s2, u);
  const Var slope = pk::ad::grad(s1, u);
  Tensor second(curvature.value()), third = curvature.tangent();
  for (double& v : second.span()) v *= 0.5;
  for (double& v : third.span()) v /= 6.0;
  return {Tensor(slope.value()), std::move(second), std::move(third)};
}

namespace {
// dense_second_order_term for a chain already read off the model.
SecondOrder taylor_second_order(const pk::nn::Model& model, const pk::nn::DenseChain& chain,
                                const Tensor& queries, const Tensor& w, const Tensor& dw, Tape& tape) {
  pk::nn::check_parameters(model, w, "dense_second_order_term");
  check_direction(w, dw, "dense_second_order_term");
  if (queries.shape().rank != 2 || queries.shape().dim(1) != model.input_dim())
    throw pk::ad::ShapeError("dense_second_order_term: query points of shape " + queries.shape().str() +
                             " for a network of " + std::to_string(model.input_dim()) + " inputs");
  tape.clear();
  const Var wv = tape.constant(w), dwv = tape.constant(dw);
  // h and its first and second derivatives along t; undefined means zero (the inputs are fixed).
  Var h = tape.constant(queries), h_t, h_tt;
  for (const pk::nn::DenseLayer& layer : chain.layers) {
    const Var z = pk::nn::linear(h, wv, layer.weight, layer.bias);
    Var z_t = pk::nn::linear(h, dwv, layer.weight, layer.bias);  // h dW^T + db
    Var z_tt;
    if (h_t.defined()) {
      z_t = pk::ad::add(z_t, pk::ad::matmul(h_t, layer.weight.view(wv), false, true));
      z_tt = pk::ad::mul_scalar(pk::ad::matmul(h_t, layer.weight.view(dwv), false, true), 2.0);
      if (h_tt.defined()) z_tt = pk::ad::add(z_tt, pk::ad::matmul(h_tt, layer.weight.view(wv), false, true));
    }
    h = z, h_t = z_t, h_tt = z_tt;
    for (const pk::nn::Activation act : layer.activations) {
      // The activation at h carrying the tangent h_t: its value's tangent is sigma'(h) h_t, and a
      // backward pass seeded with c gives sigma'(h) c, whose tangent is sigma''(h) h_t c.
      const Var hv = tape.variable(h.value(), h_t.value());
      const Var a = pk::nn::activate(act, hv);
      const Var curvature = pk::ad::grad(a, hv, {.create_graph = false, .seed = h_t});
      Tensor next_tt = curvature.tangent();  // sigma''(h) h_t^2
      if (h_tt.defined()) {
        const Var slope = pk::ad::grad(a, hv, {.create_graph = false, .seed = h_tt});  // sigma'(h) h_tt
        const pk::ad::TensorView s = slope.value();
        for (std::int64_t i = 0; i < next_tt.size(); ++i) next_tt[i] += s[i];
      }
      h = tape.constant(a.value());
      h_t = tape.constant(a.tangent());
      h_tt = tape.constant(next_tt);
    }
  }
  Tensor second = h_tt.defined() ? Tensor(h_tt.value()) : Tensor(h.shape(), 0.0);
  for (double& v : second.span()) v *= 0.5;
  return {Tensor(h_t.value()), std::move(second)};
}
}  // namespace

SecondOrder dense_second_order_term(const pk::nn::Model& model, const Tensor& queries, const Tensor& w,
                                    const Tensor& dw, Tape& tape) {
  const std::optional<pk::nn::DenseChain> chain = pk::nn::dense_chain(model);
  if (!chain)
    throw std::invalid_argument("dense_second_order_term: " + model.name() +
                                " is not a chain of dense layers and pointwise activations");
  return taylor_second_order(model, *chain, queries, w, dw, tape);
}

SecondOrder model_second_order_term(const pk::nn::Model& model, const Tensor& queries, const Tensor& w,
                                    const Tensor& dw, Tape& tape) {
  if (const std::optional<pk::nn::DenseChain> chain = pk::nn::dense_chain(model))
    return taylor_second_order(model, *chain, queries, w, dw, tape);
  if (const pk::nn::Architecture* arch = model.architecture())
    return layered_second_order_term(*arch, model, queries, w, dw, tape);
  auto f = [&model](Var x, Var wv) { return model.forward(x, wv); };
  return second_order_term(f, queries, w, dw, tape);
}

ExactChange exact_change(ModelFunction f, const Tensor& queries, const Tensor& w, const Tensor& dw,
                         const Tensor& actual_change, Tape& tape, double tolerance, double floor,
                         int min_nodes, int max_nodes, const std::vector<double>& row_floor) {
  check_direction(w, dw, "exact_change");
  const std::int64_t rows = actual_change.shape().rank == 2 ? actual_change.shape().dim(0) : 1;
  const std::int64_t cols = rows > 0 ? actual_change.size() / rows : 0;
  if (!row_floor.empty() && static_cast<std::int64_t>(row_floor.size()) != rows)
    throw pk::ad::ShapeError("exact_change: " + std::to_string(row_floor.size()) + " row floors for " +
                             std::to_string(rows) + " query points");
  // Each row is judged on its own scale and frozen once it converges, so a query point's result
  // is the same whichever other points share its batch.
  std::vector<double> scale(static_cast<std::size_t>(rows), 0.0);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c)
      scale[static_cast<std::size_t>(r)] =
          std::max(scale[static_cast<std::size_t>(r)], std::abs(actual_change[r * cols + c]));
  std::vector<int> done_at(static_cast<std::size_t>(rows), 0);
  ExactChange best{Tensor(actual_change.shape(), 0.0), 0, 0.0};
  Tensor point(w.shape());
  std::int64_t open = rows;
  for (int n = std::max(1, min_nodes); open > 0; n *= 2) {
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
    const bool last = n * 2 > max_nodes;
    for (std::int64_t r = 0; r < rows; ++r) {
      const auto ru = static_cast<std::size_t>(r);
      if (done_at[ru] != 0) continue;
      const double allowed = tolerance * scale[ru] + floor + (row_floor.empty() ? 0.0 : row_floor[ru]);
      bool converged = true;
      for (std::int64_t c = 0; c < cols; ++c)
        if (!(std::abs(sum[r * cols + c] - actual_change[r * cols + c]) <= allowed)) converged = false;
      if (!converged && !last) continue;
      done_at[ru] = n;
      --open;
      for (std::int64_t c = 0; c < cols; ++c) best.change[r * cols + c] = sum[r * cols + c];
      best.nodes = std::max(best.nodes, n);
    }
    if (last) break;
  }
  for (std::int64_t j = 0; j < actual_change.size(); ++j)
    best.error = std::max(best.error, std::abs(best.change[j] - actual_change[j]));
  return best;
}

}  // namespace pk::kernel
