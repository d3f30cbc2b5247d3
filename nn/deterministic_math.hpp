#pragma once
// Logarithm, sine, cosine and integer powers that give the same bits on every platform. The C
// library's versions are accurate but not required to be correctly rounded, so their last bit
// can differ between C libraries; the synthetic data sets, the normal variates and the schedules
// use these instead. They are built only from IEEE-754 +, -, *, / (each correctly rounded) and
// exact operations (frexp, ldexp, round), with contraction into fused multiply-adds disabled for
// the nn library. Accuracy is a few units in the last place, which is all that is needed.

#include <cstdint>

namespace pk::nn::detail {

/// ln x for finite x > 0 (NaN for x <= 0 or non-finite x).
double log(double x);
/// sin x for |x| <= 1e5; throws SpecError beyond (no caller needs more).
double sin(double x);
/// cos x for |x| <= 1e5; throws SpecError beyond.
double cos(double x);
/// x^n for an integer n >= 0, by repeated squaring.
double powi(double x, std::int64_t n);

}  // namespace pk::nn::detail
