// tanh: y = tanh x. dy/dx = 1 - y^2, applied through the fused op tanh_backward.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
// tanh x = sign(x) t / (t + 2) with t = expm1(2|x|), written without branches or calls so the
// loop over a layer vectorises: std::tanh costs about 12 ns an element here, this about 0.6 ns,
// and a small network's forward pass is mostly tanh. Within 4 ulp of std::tanh (tested).
// expm1(y) = 2^k expm1(r) + (2^k - 1) with y = k ln 2 + r, |r| <= ln(2)/2; the Taylor series of
// expm1(r) to degree 13 is exact to a few parts in 1e18 there. |x| is clamped at 20, beyond
// which tanh is 1 in double precision, so 2^k never overflows.
[[maybe_unused]] double tanh_value(double x) {
  const double a = std::abs(x);
  const double y = 2.0 * (a < 20.0 ? a : 20.0);
  constexpr double kShifter = 0x1.8p52;  // adding and subtracting it rounds to an integer
  constexpr double kLn2Hi = 0x1.62e42fee00000p-1, kLn2Lo = 0x1.a39ef35793c76p-33;
  const double k = (y * 1.4426950408889634 + kShifter) - kShifter;
  const double r = (y - k * kLn2Hi) - k * kLn2Lo;
  double p = 1.0 / 6227020800.0;  // 1/13!, then down to 1/2!
  for (const double c : {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
                         1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0,
                         1.0 / 6.0, 0.5})
    p = p * r + c;
  const double expm1_r = p * r * r + r;
  const double two_k =
      std::bit_cast<double>(static_cast<std::uint64_t>(static_cast<std::int64_t>(k) + 1023) << 52);
  const double t = two_k * expm1_r + (two_k - 1.0);
  const double magnitude = std::copysign(t / (t + 2.0), x);
  return x != x ? x : magnitude;  // NaN in, NaN out
}

#if defined(__AVX512F__)
// The same computation eight lanes at a time, with the one division replaced: a vector division
// issues once every 16 cycles here, which made it most of tanh's cost. The quotient t / d comes
// from the 14-bit reciprocal estimate, two Newton steps (28, then about 56 bits) and a final
// correction by the exact residual t - m d (one fused multiply-add), which rounds as the
// division does in all but rare halfway cases.
typedef double v8d __attribute__((vector_size(64)));
typedef std::int64_t v8l __attribute__((vector_size(64)));

// Lanes 8 x N: the polynomial and the Newton steps are one long chain of dependent operations, so
// N independent vectors go through each step together to keep the FMA pipes busy.
template <int N>
[[gnu::always_inline]] inline void tanh_lanes(const double* in, double* out) {
  constexpr double kShifter = 0x1.8p52;
  constexpr double kLn2Hi = 0x1.62e42fee00000p-1, kLn2Lo = 0x1.a39ef35793c76p-33;
  constexpr double kCoefficients[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                                      1.0 / 362880.0,    1.0 / 40320.0,    1.0 / 5040.0,
                                      1.0 / 720.0,       1.0 / 120.0,      1.0 / 24.0,
                                      1.0 / 6.0,         0.5};
  const v8l sign_bit = v8l{} + static_cast<std::int64_t>(0x8000000000000000ULL);
  v8d x[N], r[N], p[N], t[N], d[N], q[N];
  v8l k2[N];
#pragma GCC unroll 8
  for (int j = 0; j < N; ++j) {
    std::memcpy(&x[j], in + 8 * j, sizeof(v8d));
    const v8d a = reinterpret_cast<v8d>(reinterpret_cast<v8l>(x[j]) & ~sign_bit);
    const v8d y = 2.0 * (a < 20.0 ? a : v8d{} + 20.0);  // NaN takes 20; restored below
    const v8d k = (y * 1.4426950408889634 + kShifter) - kShifter;
    r[j] = (y - k * kLn2Hi) - k * kLn2Lo;
    k2[j] = __builtin_convertvector(k, v8l);
    p[j] = v8d{} + 1.0 / 6227020800.0;
  }
#pragma GCC unroll 11
  for (const double c : kCoefficients)
#pragma GCC unroll 8
    for (int j = 0; j < N; ++j) p[j] = p[j] * r[j] + c;
#pragma GCC unroll 8
  for (int j = 0; j < N; ++j) {
    const v8d expm1_r = p[j] * r[j] * r[j] + r[j];
    const v8d two_k = reinterpret_cast<v8d>((k2[j] + 1023) << 52);
    t[j] = two_k * expm1_r + (two_k - 1.0);
    d[j] = t[j] + 2.0;
    q[j] = reinterpret_cast<v8d>(_mm512_maskz_rcp14_pd(0xFF, reinterpret_cast<__m512d>(d[j])));
  }
#pragma GCC unroll 8
  for (int j = 0; j < N; ++j) q[j] = q[j] + q[j] * (1.0 - d[j] * q[j]);
#pragma GCC unroll 8
  for (int j = 0; j < N; ++j) q[j] = q[j] + q[j] * (1.0 - d[j] * q[j]);
#pragma GCC unroll 8
  for (int j = 0; j < N; ++j) {
    v8d m = t[j] * q[j];
    m = m + (t[j] - m * d[j]) * q[j];
    const v8d magnitude =
        reinterpret_cast<v8d>(reinterpret_cast<v8l>(m) | (reinterpret_cast<v8l>(x[j]) & sign_bit));
    const v8d result = x[j] != x[j] ? x[j] : magnitude;  // NaN in, NaN out
    std::memcpy(out + 8 * j, &result, sizeof(result));
  }
}

void forward(Tape& t, Node& out) {
  const Node& x = node_at(t, out.inputs[0]);
  out.value = allocate(t, out.shape.size());
  const std::int64_t n = out.shape.size(), full = n / 8 * 8;
  std::int64_t i = 0;
  for (; i + 32 <= full; i += 32) tanh_lanes<4>(x.value + i, out.value + i);
  for (; i < full; i += 8) tanh_lanes<1>(x.value + i, out.value + i);
  if (full < n) {  // the last n % 8 through a padded block, so every element is computed alike
    double in[8] = {}, result[8];
    std::copy_n(x.value + full, n - full, in);
    tanh_lanes<1>(in, result);
    std::copy_n(result, n - full, out.value + full);
  }
}
#else
void forward(Tape& t, Node& out) { detail::unary_forward(t, out, tanh_value); }
#endif
void tangent(Tape& t, Node& out) {
  detail::unary_tangent(t, out, []([[maybe_unused]] double x, [[maybe_unused]] double y) { return 1.0 - y * y; });
}
void backward(BackwardContext& c) {
  const Var g = c.grad_output();
  c.accumulate(0, tanh_backward(c.output(), g));
}
const OpRule rule{"tanh", forward, tangent, backward};
}  // namespace

Var tanh(Var x) {
  Tape& t = detail::tape_of("tanh", {x});
  return record(t, rule, {x}, x.shape());
}
}  // namespace pk::ad
