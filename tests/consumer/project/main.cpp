// An outside program using the installed library with the same include lines as the project.
#include <cmath>
#include <cstdio>

#include "autodiff/autodiff.hpp"

int main() {
  using namespace pk::ad;
  // f(w) = sum(w^3): gradient 3 w^2, Hessian-vector product 6 w v.
  const Tensor w = Tensor::vector({1.0, -2.0, 0.5});
  const Tensor v = Tensor::vector({1.0, 1.0, 2.0});
  auto f = [](Var x) { return sum(pow(x, 3.0)); };
  const Tensor g = grad(f, w);
  const Tensor hv = hvp(f, w, v);
  for (int i = 0; i < 3; ++i) {
    if (std::abs(g[i] - 3 * w[i] * w[i]) > 1e-12 || std::abs(hv[i] - 6 * w[i] * v[i]) > 1e-12) {
      std::printf("wrong derivative at %d\n", i);
      return 1;
    }
  }
  std::printf("consumer ok: grad = (%g, %g, %g)\n", g[0], g[1], g[2]);
  return 0;
}
