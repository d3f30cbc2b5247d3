// A report whose numbers are not finite must say so: the identities are checks, and a NaN must
// fail them rather than vanish in a max.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "kernel/decomposition.hpp"

namespace {
using pk::kernel::DecompositionReport;

DecompositionReport one_step_report(double f0, double f1, double df, double first) {
  DecompositionReport r;
  r.steps = r.queries = r.outputs = 1;
  r.learning_rate = {0.1};
  r.loss = {1.0};
  r.sharpness = {std::nan("")};
  r.exact_nodes = {0};
  r.second_order_computed = {0};
  r.df = {df};
  r.first_order = {first};
  r.second_order = {std::nan("")};
  r.exact_change = {std::nan("")};
  r.exact_error = {std::nan("")};
  r.complex = {0};
  r.f_initial = pk::ad::Tensor(pk::ad::Shape::matrix(1, 1), f0);
  r.f_final = pk::ad::Tensor(pk::ad::Shape::matrix(1, 1), f1);
  return r;
}
}  // namespace

TEST(NonFinite, TheRunIdentityFailsLoudlyInsteadOfReadingZero) {
  EXPECT_LT(one_step_report(1.0, 2.0, 1.0, 0.9).run_identity_error(), 1e-15);
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(one_step_report(1.0, std::nan(""), std::nan(""), 0.9).run_identity_error(), inf);
  EXPECT_EQ(one_step_report(1.0, -inf, -inf, 0.9).run_identity_error(), inf);
  EXPECT_EQ(one_step_report(1.0, 2.0, 1.0, inf).run_identity_error(), inf);
}

TEST(NonFinite, APredictionThatDidNotMoveHasNoRelativeError) {
  const auto s = one_step_report(0.5, 0.5, 0.0, 1e-18).summary(0, 0);
  EXPECT_TRUE(std::isnan(s.rel_error_first));  // not 1e-18 / 1e-300
}
