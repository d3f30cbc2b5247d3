#include "kernel/tangent_kernel.hpp"

#include <algorithm>
#include <string>

#include "autodiff/error.hpp"
#include "autodiff/gemm.hpp"
#include "autodiff/grad.hpp"

namespace pk::kernel {

using pk::ad::Shape;
using pk::ad::Tape;
using pk::ad::Tensor;
using pk::ad::Var;

Tensor per_sample_jacobians(ModelFunction f, const Tensor& points, const Tensor& w, Tape& tape) {
  if (points.shape().rank != 2)
    throw pk::ad::ShapeError("per_sample_jacobians: points must be a (points, features) matrix, got " +
                             points.shape().str());
  const std::int64_t n = points.shape().dim(0), features = points.shape().dim(1), d = w.size();
  Tensor jac;
  std::int64_t outputs = -1;
  Tensor row(Shape::matrix(1, features));
  for (std::int64_t p = 0; p < n; ++p) {
    tape.clear();
    std::copy_n(points.data() + p * features, features, row.data());
    const Var wv = tape.variable(w);
    const Var y = f(tape.constant(row), wv);
    if (y.shape().rank != 2 || y.shape().dim(0) != 1)
      throw pk::ad::ShapeError("per_sample_jacobians: one point gave outputs of shape " + y.shape().str() +
                               "; expected (1, outputs)");
    if (outputs < 0) {
      outputs = y.shape().dim(1);
      jac = Tensor(Shape::matrix(n * outputs, d));
    }
    Tensor unit(y.shape(), 0.0);
    for (std::int64_t c = 0; c < outputs; ++c) {
      const Tape::Mark m = tape.mark();
      unit[c] = 1.0;
      const Var g = pk::ad::grad(y, wv, {.create_graph = false, .seed = tape.constant(unit)});
      unit[c] = 0.0;
      std::copy_n(g.value().data(), d, jac.data() + (p * outputs + c) * d);
      tape.rewind(m);
    }
  }
  if (outputs < 0) return Tensor(Shape::matrix(0, d));
  return jac;
}

Tensor gram(const Tensor& a, const Tensor& b, Tape& tape) {
  (void)tape;  // the product needs no recording: Jacobians can be large, so no copies are made
  if (a.shape().rank != 2 || b.shape().rank != 2 || a.shape().dim(1) != b.shape().dim(1))
    throw pk::ad::ShapeError("gram: rows of " + a.shape().str() + " and " + b.shape().str() +
                             " have different lengths");
  const std::int64_t n = a.shape().dim(0), m = b.shape().dim(0), d = a.shape().dim(1);
  Tensor k(Shape::matrix(n, m));
  pk::ad::detail::gemm(false, true, n, m, d, 1.0, a.data(), d, b.data(), d, 0.0, k.data(), m);
  return k;
}

namespace {
// J J^T for K(A, A): only the blocks on and above the diagonal are multiplied (about half the
// work of the full product, which dominates a large kernel), and the rest is their mirror image.
Tensor symmetric_gram(const Tensor& j) {
  const std::int64_t n = j.shape().dim(0), d = j.shape().dim(1);
  constexpr std::int64_t kBlock = 128;
  Tensor k(Shape::matrix(n, n));
  for (std::int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const std::int64_t rows = std::min(kBlock, n - i0);
    pk::ad::detail::gemm(false, true, rows, n - i0, d, 1.0, j.data() + i0 * d, d, j.data() + i0 * d, d, 0.0,
                         k.data() + i0 * n + i0, n);
  }
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t c = 0; c < r; ++c) k(r, c) = k(c, r);
  return k;
}
}  // namespace

Tensor tangent_kernel(ModelFunction f, const Tensor& points_a, const Tensor& points_b, const Tensor& w,
                      Tape& tape) {
  const Tensor ja = per_sample_jacobians(f, points_a, w, tape);
  // K(A, A), the common case, needs one set of Jacobians, not two.
  const bool same = points_a.shape() == points_b.shape() &&
                    std::equal(points_a.span().begin(), points_a.span().end(), points_b.span().begin());
  if (same) return symmetric_gram(ja);
  return gram(ja, per_sample_jacobians(f, points_b, w, tape), tape);
}

}  // namespace pk::kernel
