// Datasets: validation, row selection, standardisation, the seeded split, and the synthetic
// generators.
#include "nn/dataset.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <set>

#include "nn/error.hpp"
#include "nn/synthetic.hpp"
#include "test_support.hpp"

namespace pk::nn {
namespace {

bool same(const ad::Tensor& a, const ad::Tensor& b) {
  return a.shape() == b.shape() && std::equal(a.span().begin(), a.span().end(), b.span().begin());
}

TEST(Dataset, ValidatesAndNamesColumns) {
  const Dataset d(ad::Tensor::matrix(2, 2, {1, 2, 3, 4}), ad::Tensor::matrix(2, 1, {5, 6}));
  EXPECT_EQ(d.input_names(), (std::vector<std::string>{"x0", "x1"}));
  EXPECT_EQ(d.target_names(), (std::vector<std::string>{"y0"}));
  const std::vector<std::int64_t> rows{1, 1, 0};
  const Dataset r = d.rows(rows);
  EXPECT_EQ(r.size(), 3);
  EXPECT_EQ(r.inputs()(0, 1), 4.0);
  EXPECT_EQ(r.targets()(2, 0), 5.0);
  PK_EXPECT_THROW_WITH(d.rows(std::vector<std::int64_t>{2}), SpecError, "row 2 outside [0, 2)");
  PK_EXPECT_THROW_WITH(Dataset(ad::Tensor::matrix(2, 1, {1, 2}), ad::Tensor::matrix(3, 1, {1, 2, 3})),
                       SpecError, "2 input rows but 3 target rows");
  PK_EXPECT_THROW_WITH(Dataset(ad::Tensor::matrix(1, 1, {NAN}), ad::Tensor::matrix(1, 1, {1})), SpecError,
                       "input row 0, column 0 is not finite");
  PK_EXPECT_THROW_WITH(Dataset(ad::Tensor::vector({1}), ad::Tensor::matrix(1, 1, {1})), SpecError,
                       "must be matrices");
  PK_EXPECT_THROW_WITH(Dataset(ad::Tensor::matrix(1, 1, {1}), ad::Tensor::matrix(1, 1, {1}), {"a", "b"}),
                       SpecError, "2 input names for 1 columns");
}

TEST(Standardization, MapsTrainingColumnsToZeroMeanUnitScale) {
  const ad::Tensor x = ad::Tensor::matrix(4, 2, {1, 7, 2, 7, 3, 7, 4, 7});
  const Standardization s = Standardization::fit(x);
  EXPECT_EQ(s.mean[0], 2.5);
  EXPECT_NEAR(s.scale[0], std::sqrt(1.25), 1e-15);
  EXPECT_EQ(s.scale[1], 1.0);  // constant column
  const ad::Tensor z = s.apply(x);
  EXPECT_NEAR(z(0, 0), -1.5 / std::sqrt(1.25), 1e-15);
  EXPECT_EQ(z(2, 1), 0.0);
  const ad::Tensor back = s.invert(z);
  for (std::int64_t i = 0; i < 8; ++i) EXPECT_NEAR(back[i], x[i], 1e-15);
  PK_EXPECT_THROW_WITH(s.apply(ad::Tensor::matrix(1, 3, {1, 2, 3})), SpecError, "fitted on 2 columns");
  const Dataset d = standardize_inputs(Dataset(x, ad::Tensor::matrix(4, 1, {1, 2, 3, 4})), s);
  EXPECT_TRUE(same(d.inputs(), z));
}

TEST(Split, IsSeededDisjointAndComplete) {
  const Dataset d = sine_regression(50, 1);
  const Split a = train_test_split(d, 0.2, 7), b = train_test_split(d, 0.2, 7),
              c = train_test_split(d, 0.2, 8);
  EXPECT_EQ(a.test_rows.size(), 10u);
  EXPECT_EQ(a.train_rows.size(), 40u);
  EXPECT_EQ(a.test_rows, b.test_rows);
  EXPECT_NE(a.test_rows, c.test_rows);
  std::set<std::int64_t> all(a.train_rows.begin(), a.train_rows.end());
  all.insert(a.test_rows.begin(), a.test_rows.end());
  EXPECT_EQ(all.size(), 50u);
  EXPECT_TRUE(std::is_sorted(a.test_rows.begin(), a.test_rows.end()));
  EXPECT_EQ(a.test.inputs()(3, 0), d.inputs()(a.test_rows[3], 0));
  PK_EXPECT_THROW_WITH(train_test_split(d, 0.0, 1), SpecError, "must be in (0, 1)");
  PK_EXPECT_THROW_WITH(train_test_split(d, 0.001, 1), SpecError, "leaves a part empty");
}

TEST(Synthetic, SineRegression) {
  const Dataset d = sine_regression(200, 3);
  EXPECT_EQ(d.size(), 200);
  for (std::int64_t m = 0; m < d.size(); ++m) {
    EXPECT_GE(d.inputs()(m, 0), -std::numbers::pi);
    EXPECT_LT(d.inputs()(m, 0), std::numbers::pi);
    EXPECT_NEAR(d.targets()(m, 0), std::sin(d.inputs()(m, 0)), 1e-15);
  }
  const Dataset noisy = sine_regression(200, 3, 0.1);
  EXPECT_TRUE(same(noisy.inputs(), sine_regression(200, 3, 0.1).inputs()));
  EXPECT_NE(noisy.targets()(0, 0), d.targets()(0, 0));
}

TEST(Synthetic, TwoMoonsLieOnTheirArcs) {
  const Dataset d = two_moons(101, 4, 0.0);
  EXPECT_EQ(d.input_dim(), 2);
  std::int64_t upper = 0;
  for (std::int64_t m = 0; m < d.size(); ++m) {
    const double x = d.inputs()(m, 0), y = d.inputs()(m, 1);
    if (d.targets()(m, 0) == 0.0) {
      ++upper;
      EXPECT_NEAR(x * x + y * y, 1.0, 1e-14);
      EXPECT_GE(y, -1e-15);
    } else {
      EXPECT_NEAR((x - 1) * (x - 1) + (y - 0.5) * (y - 0.5), 1.0, 1e-14);
      EXPECT_LE(y, 0.5 + 1e-15);
    }
  }
  EXPECT_EQ(upper, 51);
  EXPECT_TRUE(same(two_moons(30, 5).inputs(), two_moons(30, 5).inputs()));
  EXPECT_FALSE(same(two_moons(30, 5).inputs(), two_moons(30, 6).inputs()));
}

TEST(Synthetic, SpiralsAndXor) {
  const Dataset s = spirals(90, 6, 0.0, 3, 1.5);
  std::vector<int> counts(3, 0);
  for (std::int64_t m = 0; m < s.size(); ++m) {
    ++counts[static_cast<std::size_t>(s.targets()(m, 0))];
    const double r = std::hypot(s.inputs()(m, 0), s.inputs()(m, 1));
    EXPECT_GT(r, 0.0);
    EXPECT_LE(r, 1.0 + 1e-15);
  }
  EXPECT_EQ(counts, (std::vector<int>{30, 30, 30}));
  PK_EXPECT_THROW_WITH(spirals(10, 1, 0.0, 1), SpecError, "at least 2 arms");
  const Dataset x = xor_problem(40, 7, 0.05);
  for (std::int64_t m = 0; m < x.size(); ++m) {
    const bool differ = (x.inputs()(m, 0) > 0) != (x.inputs()(m, 1) > 0);
    EXPECT_EQ(x.targets()(m, 0), differ ? 1.0 : 0.0);
  }
  PK_EXPECT_THROW_WITH(xor_problem(40, 7, -1.0), SpecError, "noise must be finite and >= 0");
}

TEST(Synthetic, PinnedValuesDoNotDrift) {
  // Bit patterns promised identical on every platform (own generator, own sin/cos, no FMA).
  EXPECT_EQ(two_moons(10, 1, 0.1).inputs()(3, 1), 0x1.3f2ed42499376p-1);
  EXPECT_EQ(sine_regression(5, 1, 0.1).targets()(2, 0), -0x1.da2a87eec9c1cp-2);
}

}  // namespace
}  // namespace pk::nn
