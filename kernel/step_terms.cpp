#include "kernel/step_terms.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "kernel/gauss_legendre.hpp"

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
