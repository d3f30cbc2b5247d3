// Differentiates a small tanh network's loss with respect to its flat parameter vector: the
// gradient, a Hessian-vector product by both routes, and finite-difference checks of each.
#include <cmath>
#include <cstdio>

#include "autodiff/autodiff.hpp"
#include "bench/mlp_problem.hpp"

int main() {
  using namespace pk::ad;
  const pk::bench::MlpProblem net({2, 8, 8, 1}, 16);  // 2-8-8-1, 16 samples
  auto loss = [&](Var w) { return net.loss(w); };

  Tensor v(net.w.shape());
  for (std::int64_t i = 0; i < v.size(); ++i) v[i] = (i % 3 == 0) ? 1.0 : -0.5;

  Tensor g;
  const Tensor hv = hvp(loss, net.w, v, &g);  // forward-over-reverse
  const Tensor hv_slow = hvp(loss, net.w, v, nullptr, HvpMethod::reverse_over_reverse);
  const DerivativeCheck grad_check = check_gradient(loss, net.w);
  const DerivativeCheck hvp_check = check_hvp(loss, net.w, v);

  auto norm = [](const Tensor& t) {
    double s = 0;
    for (double x : t.span()) s += x * x;
    return std::sqrt(s);
  };
  std::printf("network 2-8-8-1 (tanh), %lld parameters, %lld samples\n",
              static_cast<long long>(net.parameter_count()), static_cast<long long>(net.batch));
  std::printf("loss                 %.10f\n", value(loss, net.w));
  std::printf("gradient  |g|        %.10f   g[0..3] = %+.6f %+.6f %+.6f %+.6f\n", norm(g), g[0], g[1], g[2],
              g[3]);
  std::printf("H v       |Hv|       %.10f   Hv[0..3] = %+.6f %+.6f %+.6f %+.6f\n", norm(hv), hv[0], hv[1],
              hv[2], hv[3]);
  std::printf("forward-over-reverse vs reverse-over-reverse: max |difference| = %.2e\n",
              max_abs_diff(hv, hv_slow));
  std::printf("finite differences: gradient error %.2e, HVP error %.2e\n", grad_check.max_error,
              hvp_check.max_error);
  const bool ok = grad_check.passed(1e-6) && hvp_check.passed(1e-5) && max_abs_diff(hv, hv_slow) < 1e-12;
  std::printf("%s\n", ok ? "derivatives agree" : "DERIVATIVES DISAGREE");
  return ok ? 0 : 1;
}
