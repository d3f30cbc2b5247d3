#include "nn/deterministic_math.hpp"

#include <cmath>
#include <limits>
#include <string>

#include "nn/error.hpp"

namespace pk::nn::detail {

namespace {
// ln 2 split so that e * kLn2Hi is exact for the exponents of finite doubles.
constexpr double kLn2Hi = 6.93147180369123816490e-01;
constexpr double kLn2Lo = 1.90821492927058770002e-10;
// pi/2 split (fdlibm's pio2_1, pio2_1t): k * kPio2Hi is exact for |k| < 2^20.
constexpr double kPio2Hi = 1.57079632673412561417e+00;
constexpr double kPio2Lo = 6.07710050650619224932e-11;
constexpr double kTwoOverPi = 6.36619772367581382433e-01;

// Taylor series of sin and cos on |r| <= pi/4, where the first omitted terms are below 1e-19.
double sin_kernel(double r) {
  // sin r = r + r^3 P(r^2), P = sum_{n=1..10} (-1)^n r^(2n-2) / (2n+1)!, Horner from n = 10.
  const double r2 = r * r;
  constexpr double c[] = {
      1.0 / 51090942171709440000.0,  // 1/21!
      -1.0 / 121645100408832000.0,   // -1/19!
      1.0 / 355687428096000.0,       // 1/17!
      -1.0 / 1307674368000.0,        // -1/15!
      1.0 / 6227020800.0,            // 1/13!
      -1.0 / 39916800.0,             // -1/11!
      1.0 / 362880.0,                // 1/9!
      -1.0 / 5040.0,                 // -1/7!
      1.0 / 120.0,                   // 1/5!
      -1.0 / 6.0,                    // -1/3!
  };
  double p = c[0];
  for (int i = 1; i < 10; ++i) p = p * r2 + c[i];
  return r + r * r2 * p;
}

double cos_kernel(double r) {
  // cos r = 1 + r^2 Q(r^2), Q = sum_{n=1..10} (-1)^n r^(2n-2) / (2n)!.
  const double r2 = r * r;
  constexpr double c[] = {
      1.0 / 2432902008176640000.0,  // 1/20!
      -1.0 / 6402373705728000.0,    // -1/18!
      1.0 / 20922789888000.0,       // 1/16!
      -1.0 / 87178291200.0,         // -1/14!
      1.0 / 479001600.0,            // 1/12!
      -1.0 / 3628800.0,             // -1/10!
      1.0 / 40320.0,                // 1/8!
      -1.0 / 720.0,                 // -1/6!
      1.0 / 24.0,                   // 1/4!
      -1.0 / 2.0,                   // -1/2!
  };
  double p = c[0];
  for (int i = 1; i < 10; ++i) p = p * r2 + c[i];
  return 1.0 + r2 * p;
}

struct Reduced {
  double r;
  std::int64_t quadrant;
};

Reduced reduce(double x, const char* who) {
  if (!(std::abs(x) <= 1e5))
    throw SpecError(std::string("deterministic ") + who + ": argument " + std::to_string(x) +
                    " is outside [-1e5, 1e5]");
  const double k = std::round(x * kTwoOverPi);
  const double r = (x - k * kPio2Hi) - k * kPio2Lo;
  const auto q = static_cast<std::int64_t>(k);
  return {r, ((q % 4) + 4) % 4};
}
}  // namespace

double log(double x) {
  if (!(x > 0.0) || !std::isfinite(x)) return std::numeric_limits<double>::quiet_NaN();
  int e = 0;
  double m = std::frexp(x, &e);  // x = m 2^e, m in [0.5, 1)
  if (m < 0.70710678118654752440) {
    m *= 2.0;
    e -= 1;
  }
  // ln m = 2 atanh(s) with s = (m - 1) / (m + 1), |s| <= 0.1716, so 2 s^(2k+1) / (2k+1) falls
  // below 1e-19 by k = 12.
  const double s = (m - 1.0) / (m + 1.0);
  const double s2 = s * s;
  double p = 1.0 / 27.0;
  for (int k = 12; k >= 0; --k) p = p * s2 + 1.0 / static_cast<double>(2 * k + 1);
  const double de = static_cast<double>(e);
  return (de * kLn2Hi + (2.0 * s * p + de * kLn2Lo));
}

double sin(double x) {
  const Reduced red = reduce(x, "sin");
  switch (red.quadrant) {
    case 0:
      return sin_kernel(red.r);
    case 1:
      return cos_kernel(red.r);
    case 2:
      return -sin_kernel(red.r);
    default:
      return -cos_kernel(red.r);
  }
}

double cos(double x) {
  const Reduced red = reduce(x, "cos");
  switch (red.quadrant) {
    case 0:
      return cos_kernel(red.r);
    case 1:
      return -sin_kernel(red.r);
    case 2:
      return -cos_kernel(red.r);
    default:
      return sin_kernel(red.r);
  }
}

double powi(double x, std::int64_t n) {
  if (n < 0) throw SpecError("deterministic powi: negative exponent " + std::to_string(n));
  double result = 1.0;
  double base = x;
  while (n > 0) {
    if (n & 1) result *= base;
    base *= base;
    n >>= 1;
  }
  return result;
}

}  // namespace pk::nn::detail
