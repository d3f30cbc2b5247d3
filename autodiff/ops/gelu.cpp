// gelu: y = x Phi(x), Phi the standard normal CDF (the exact GELU, not the tanh approximation).
// dy/dx = Phi(x) + x phi(x), phi(x) = e^{-x^2/2} / sqrt(2 pi). The backward is built from erf and
// exp so that it can be differentiated again.
#include <cmath>

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) {
  detail::unary_forward(t, out, [](double x) { return 0.5 * x * (1.0 + std::erf(x * detail::kInvSqrt2)); });
}
void tangent(Tape& t, Node& out) {
  detail::unary_tangent(t, out, []([[maybe_unused]] double x, [[maybe_unused]] double y) {
    return 0.5 * (1.0 + std::erf(x * detail::kInvSqrt2)) + x * std::exp(-0.5 * x * x) * (detail::kInvSqrt2Pi);
  });
}
void backward(BackwardContext& c) {
  const Var g = c.grad_output();
  const Var x = c.input(0);
  const Var cdf = mul_scalar(add_scalar(erf(mul_scalar(x, detail::kInvSqrt2)), 1.0), 0.5);
  const Var pdf = mul_scalar(exp(mul_scalar(square(x), -0.5)), detail::kInvSqrt2Pi);
  c.accumulate(0, mul(g, add(cdf, mul(x, pdf))));
}
const OpRule rule{"gelu", forward, tangent, backward};
}  // namespace

Var gelu(Var x) {
  Tape& t = detail::tape_of("gelu", {x});
  return record(t, rule, {x}, x.shape());
}
}  // namespace pk::ad
