#pragma once
// The op set. Each op's forward, tangent and backward rules live in autodiff/ops/<name>.cpp;
// every backward rule is written in these same ops, so derivatives of any order come from them.
// Binary elementwise ops broadcast as NumPy does (see shape.hpp).

#include <cstdint>
#include <span>

#include "autodiff/tape.hpp"

namespace pk::ad {

// --- arithmetic (add.cpp, sub.cpp, mul.cpp, div.cpp, neg.cpp, scalar.cpp) ---------------------

/// a + b. d/da = 1, d/db = 1 (summed over broadcast axes).
Var add(Var a, Var b);
/// a - b. d/da = 1, d/db = -1.
Var sub(Var a, Var b);
/// a * b elementwise. d/da = b, d/db = a.
Var mul(Var a, Var b);
/// a / b elementwise. d/da = 1/b, d/db = -a/b^2. Division by zero gives IEEE infinities.
Var div(Var a, Var b);
/// -x.
Var neg(Var x);
/// x + c for a constant c. d/dx = 1.
Var add_scalar(Var x, double c);
/// c * x for a constant c. d/dx = c.
Var mul_scalar(Var x, double c);
/// c / x for a constant c. d/dx = -c / x^2.
Var rdiv_scalar(double c, Var x);

Var operator+(Var a, Var b);
Var operator-(Var a, Var b);
Var operator*(Var a, Var b);
Var operator/(Var a, Var b);
Var operator-(Var x);
Var operator+(Var x, double c);
Var operator+(double c, Var x);
Var operator-(Var x, double c);
Var operator-(double c, Var x);
Var operator*(Var x, double c);
Var operator*(double c, Var x);
Var operator/(Var x, double c);
Var operator/(double c, Var x);

// --- elementwise functions, one file each named after the op (exp.cpp, ..., tanh_backward.cpp) --

/// e^x. d/dx = e^x.
Var exp(Var x);
/// ln x. d/dx = 1/x. ln 0 = -inf and ln of a negative number is NaN, as in IEEE arithmetic.
Var log(Var x);
/// tanh x. d/dx = 1 - tanh^2 x.
Var tanh(Var x);
/// 1 / (1 + e^-x), evaluated without overflow for large |x|. d/dx = s (1 - s).
Var sigmoid(Var x);
/// max(x, 0). d/dx = 1 for x > 0 and 0 for x <= 0 (the derivative at 0 is taken as 0).
Var relu(Var x);
/// ln(1 + e^x), evaluated as max(x, 0) + ln(1 + e^-|x|) so it never overflows. d/dx = sigmoid(x).
Var softplus(Var x);
/// x Phi(x) with Phi the standard normal CDF (exact, erf-based GELU).
/// d/dx = Phi(x) + x phi(x), phi the standard normal density.
Var gelu(Var x);
/// erf x. d/dx = 2/sqrt(pi) e^{-x^2}.
Var erf(Var x);
/// x^2. d/dx = 2x.
Var square(Var x);
/// sqrt x. d/dx = 1 / (2 sqrt x); infinite at 0, NaN below 0.
Var sqrt(Var x);
/// x^p for a constant p. d/dx = p x^(p-1). Follows std::pow at 0 and for negative x.
Var pow(Var x, double p);
/// |x|. d/dx = sign(x), taken as 0 at x = 0.
Var abs(Var x);
/// sign(x) in {-1, 0, 1}. Piecewise constant: its derivative is 0 everywhere.
Var sign(Var x);
/// 1 where x > 0, else 0. Piecewise constant: its derivative is 0 everywhere.
Var step(Var x);
/// g * s with broadcasting, except 0 wherever g is exactly 0 (even where s is infinite or NaN):
/// how backward rules apply a local derivative that can be infinite, so a zero adjoint passes on
/// zero instead of 0 * inf = NaN. d/dg = s, d/ds = g.
Var adjoint_scale(Var g, Var s);
/// (1 - y^2) * g: the backward of tanh given its output y, as an op of its own so that the
/// gradient of a tanh network costs one pass per layer. d/dy = -2 y g, d/dg = 1 - y^2.
Var tanh_backward(Var y, Var g);

// --- reductions (sum.cpp, which also holds mean; logsumexp.cpp, softmax.cpp, dot.cpp) -------

/// Sum of all elements (a scalar). The adjoint broadcasts back to every element.
Var sum(Var x);
/// Sum along `axis` (0 or 1 for a matrix, 0 for a vector), dropping that axis.
Var sum(Var x, int axis);
/// Mean of all elements.
Var mean(Var x);
/// Mean along `axis`, dropping that axis.
Var mean(Var x, int axis);
/// log sum exp(x) along `axis`, stable for large x (the maximum is factored out).
/// d/dx = softmax(x) along that axis.
Var logsumexp(Var x, int axis);
/// exp(x - logsumexp(x)) along `axis`. The Jacobian-vector product is s * (g - sum(g * s)).
Var softmax(Var x, int axis);
/// Inner product of two vectors of equal length. d/da = b, d/db = a.
Var dot(Var a, Var b);

// --- linear algebra and shape (matmul.cpp, transpose.cpp, reshape.cpp, slice.cpp with pad,
//     concatenate.cpp, broadcast.cpp with sum_to) --------------------------------------------

/// Matrix product with NumPy's rules for vectors: (m,k)@(k,n) -> (m,n), (m,k)@(k) -> (m),
/// (k)@(k,n) -> (n), (k)@(k) -> (). d/dA = G B^T, d/dB = A^T G.
Var matmul(Var a, Var b);
/// op(A) op(B) for matrices, where op transposes when asked; the transposes are never formed.
Var matmul(Var a, Var b, bool transpose_a, bool transpose_b);
/// The transpose of a matrix (a vector or scalar is returned unchanged).
Var transpose(Var x);
/// The same elements under another shape of equal size; shares the input's memory.
Var reshape(Var x, Shape shape);
/// Elements [begin, end) along `axis`. A slice of a vector, or of whole rows of a matrix,
/// shares the input's memory. The adjoint is padded back with zeros.
Var slice(Var x, int axis, std::int64_t begin, std::int64_t end);
/// Elements [begin, end) of a vector: how a layer's weights are cut out of a flat vector.
Var slice(Var x, std::int64_t begin, std::int64_t end);
/// x with `before` zeros in front and `after` zeros behind along `axis` (the adjoint of slice).
Var pad(Var x, int axis, std::int64_t before, std::int64_t after);
/// Joins values along `axis`; all other extents must agree.
Var concatenate(std::span<const Var> xs, int axis);
/// x repeated along broadcast axes to `shape` (NumPy broadcasting).
Var broadcast_to(Var x, Shape shape);
/// The sum of x over the axes along which `shape` was broadcast to x's shape: the adjoint of
/// broadcasting. `sum_to(broadcast_to(x, s), x.shape())` sums copies of x.
Var sum_to(Var x, Shape shape);

}  // namespace pk::ad
