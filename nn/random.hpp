#pragma once
// The project's own random numbers. The standard library's distributions are implementation
// defined (std::normal_distribution gives different numbers under libstdc++ and libc++), so
// initial weights, shuffles and synthetic data would change with the compiler. Everything here
// uses only integer arithmetic, IEEE-754 +, -, *, /, sqrt and the series in
// nn/deterministic_math.hpp, and the nn library is compiled without floating-point contraction,
// so a seed gives the same bits with any conforming compiler on any platform.

#include <cstdint>
#include <span>

namespace pk::nn {

/// SplitMix64 (Steele, Lea, Flood 2014): a 64-bit generator used here to expand a seed into the
/// state of `Rng`, as the xoshiro authors recommend.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();

 private:
  std::uint64_t state_;
};

/// xoshiro256** 1.0 (Blackman, Vigna 2018) with uniform, integer and normal variates built on it.
class Rng {
 public:
  /// The state is four SplitMix64 outputs of `seed`, so every seed (0 included) is usable and
  /// nearby seeds give unrelated streams.
  explicit Rng(std::uint64_t seed);

  /// The next 64 random bits.
  std::uint64_t next();
  /// Uniform on [0, 1): the top 53 bits as a multiple of 2^-53.
  double uniform();
  /// Uniform on [a, b).
  double uniform(double a, double b);
  /// Uniform integer on [0, n) without modulo bias (rejection of the short last interval);
  /// n must be positive.
  std::uint64_t below(std::uint64_t n);
  /// Standard normal by Marsaglia's polar method (no trigonometry; the logarithm is the
  /// project's own). Each call draws a fresh pair and returns its first member, so a value depends
  /// only on the number of earlier draws, not on how they were interleaved with other kinds.
  double normal();
  /// Normal with the given mean and standard deviation.
  double normal(double mean, double stddev) { return mean + stddev * normal(); }
  /// A uniformly random permutation in place (Fisher-Yates, from the last element down).
  void shuffle(std::span<std::int64_t> values);

 private:
  std::uint64_t s_[4];
};

}  // namespace pk::nn
