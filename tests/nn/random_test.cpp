// The project's own generator and distributions: reference outputs, statistics, and the
// deterministic log/sin/cos against the C library.
#include "nn/random.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "nn/deterministic_math.hpp"
#include "nn/error.hpp"

namespace pk::nn {
namespace {

TEST(SplitMix64, MatchesPublishedReferenceOutputs) {
  SplitMix64 g(1234567);
  const std::uint64_t expected[] = {6457827717110365317ULL, 3203168211198807973ULL, 9817491932198370423ULL,
                                    4593380528125082431ULL, 16408922859458223821ULL};
  for (const std::uint64_t e : expected) EXPECT_EQ(g.next(), e);
}

TEST(Rng, MatchesAnIndependentImplementationOfXoshiro256StarStar) {
  // Values from a separate Python implementation of the reference C code, seeded through
  // SplitMix64(42) as Rng is.
  Rng g(42);
  const std::uint64_t expected[] = {1546998764402558742ULL, 6990951692964543102ULL, 12544586762248559009ULL,
                                    17057574109182124193ULL};
  for (const std::uint64_t e : expected) EXPECT_EQ(g.next(), e);
}

TEST(Rng, UniformIsInTheUnitIntervalWithTheRightMoments) {
  Rng g(7);
  double sum = 0.0, sq = 0.0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double u = g.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    sq += u * u;
  }
  EXPECT_NEAR(sum / n, 0.5, 0.005);
  EXPECT_NEAR(sq / n - (sum / n) * (sum / n), 1.0 / 12.0, 0.002);
}

TEST(Rng, NormalHasMeanZeroVarianceOneAndLightTails) {
  Rng g(11);
  double sum = 0.0, sq = 0.0, fourth = 0.0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double z = g.normal();
    sum += z;
    sq += z * z;
    fourth += z * z * z * z;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(sq / n, 1.0, 0.015);
  EXPECT_NEAR(fourth / n, 3.0, 0.1);  // the normal's kurtosis
}

TEST(Rng, SameSeedSameStreamOtherSeedOtherStream) {
  Rng a(5), b(5), c(6);
  for (int i = 0; i < 100; ++i) {
    const double x = a.normal();
    EXPECT_EQ(x, b.normal());
    EXPECT_NE(x, c.normal());
  }
}

TEST(Rng, PinnedValuesDoNotDrift) {
  // Bit patterns of this implementation: a change here changes every seeded initialisation and
  // data set, which must be a deliberate decision.
  Rng g(2024);
  EXPECT_EQ(g.uniform(), 0x1.c90e2b427aeep-5);
  EXPECT_EQ(g.normal(), -0x1.25abdd8a7f40bp-1);
}

TEST(Rng, BelowIsUniformAndInRange) {
  Rng g(3);
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 70000; ++i) {
    const std::uint64_t v = g.below(7);
    ASSERT_LT(v, 7u);
    ++counts[v];
  }
  for (const int c : counts) EXPECT_NEAR(c, 10000, 400);
  EXPECT_THROW(g.below(0), SpecError);
}

TEST(Rng, ShuffleIsAPermutation) {
  Rng g(9);
  std::vector<std::int64_t> v(50);
  std::iota(v.begin(), v.end(), 0);
  g.shuffle(v);
  std::vector<std::int64_t> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  for (std::int64_t i = 0; i < 50; ++i) EXPECT_EQ(sorted[static_cast<std::size_t>(i)], i);
  EXPECT_FALSE(std::is_sorted(v.begin(), v.end()));
}

TEST(DeterministicMath, AgreesWithTheCLibraryToAFewUlp) {
  Rng g(1);
  for (int i = 0; i < 20000; ++i) {
    const double x = g.uniform(-50.0, 50.0);
    EXPECT_NEAR(detail::sin(x), std::sin(x), 4e-16) << x;
    EXPECT_NEAR(detail::cos(x), std::cos(x), 4e-16) << x;
    const double y = std::exp(g.uniform(-700.0, 700.0));
    EXPECT_NEAR(detail::log(y), std::log(y), 4e-16 * std::max(1.0, std::abs(std::log(y)))) << y;
  }
  EXPECT_EQ(detail::log(1.0), 0.0);
  EXPECT_EQ(detail::sin(0.0), 0.0);
  EXPECT_EQ(detail::cos(0.0), 1.0);
  EXPECT_TRUE(std::isnan(detail::log(-1.0)));
  EXPECT_THROW(detail::sin(1e6), SpecError);
  EXPECT_EQ(detail::powi(1.5, 0), 1.0);
  EXPECT_EQ(detail::powi(2.0, 10), 1024.0);
  EXPECT_NEAR(detail::powi(0.99, 1000), std::pow(0.99, 1000), 1e-15);
}

}  // namespace
}  // namespace pk::nn
