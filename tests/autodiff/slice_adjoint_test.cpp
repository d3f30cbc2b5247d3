// The adjoint of a value cut into slices is summed in place: each slice's rule adds its region
// into the sum the previous one made for that slot, instead of copying the whole sum. That is
// only right while no one else can see the sum, so these tests build the graphs where someone
// can (one adjoint handed to two inputs by add's rule, then sliced again) and check every
// derivative mode; and they check the in-place path is really taken.
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "autodiff/autodiff.hpp"
#include "tests/autodiff/ad_harness.hpp"

using namespace pk::ad;
using pk::ad::test::Domain;
using pk::ad::test::expect_ad;
using pk::ad::test::random_tensor;

namespace {
Shape V(std::int64_t n) { return Shape::vector(n); }
Shape M(std::int64_t r, std::int64_t c) { return Shape::matrix(r, c); }
}  // namespace

// add's rule hands the same adjoint to x and y. Slices of x and y recorded before the add
// reach their slots after it, when both slots hold that one adjoint: neither may add into it
// (it would change the other's too).
TEST(SliceAdjoints, AnAdjointSharedByTwoSlotsIsCopiedNotAddedInto) {
  const Tensor w = random_tensor(V(12), Domain{}, 3);
  expect_ad(
      "slices of x and y before add(x, y)",
      [](Var v) {
        const Var x = slice(v, 0, 6), y = slice(v, 6, 12);
        const Var early_x = slice(x, 1, 4), early_y = slice(y, 2, 5);  // their rules run after add's
        const Var s = x + y;
        const Var a = slice(s, 0, 3), b = slice(s, 3, 6);  // the second sums into the first in place
        return sum(a * b * b) + sum(tanh(early_x) * early_y);
      },
      w);
}

// The same with column slices of a matrix (strided regions), where the other holder of the
// shared adjoint is a reshape that aliases it, and a slot that received a contribution from an
// op other than slice before the slices arrive.
TEST(SliceAdjoints, ColumnSlicesAndMixedContributionsToOneSlot) {
  const Tensor w = random_tensor(V(12), Domain{}, 5);
  expect_ad(
      "column slices of m before m + reshape(v)",
      [](Var v) {
        const Var m = reshape(v, M(3, 4));
        const Var whole = sum(m * m * m);
        const Var left = slice(m, 1, 0, 2), right = slice(m, 1, 2, 4), last = slice(m, 1, 3, 4);
        const Var n = m + reshape(v, M(3, 4));  // n's adjoint goes to m and, aliased, to v
        const Var mid = slice(n, 1, 1, 3);
        return whole + sum(tanh(left) * right) + sum(mid * mid * mid) + sum(last);
      },
      w);
}

// Values the caller holds are never summed into: a seed that reaches a slot unchanged (through
// add's rule) and is then joined by slices keeps its value.
TEST(SliceAdjoints, TheCallersSeedIsNeverWrittenTo) {
  Tape t;
  const Var x = t.variable(Tensor(V(4), 1.0));
  const Var y = t.variable(Tensor(V(4), 2.0));
  const Var early = slice(x, 0, 2);
  const Var s = x + y;
  const Var out = s + concatenate(std::vector<Var>{early, early}, 0);
  const Var seed = t.constant(Tensor(V(4), 1.0));
  GradOptions options;
  options.seed = seed;
  const std::vector<Var> g = grad(out, std::vector<Var>{x, y}, options);
  for (std::int64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(seed.value()[i], 1.0);
    EXPECT_EQ(g[1].value()[i], 1.0);
    EXPECT_EQ(g[0].value()[i], i < 2 ? 3.0 : 1.0);
  }
}

// The gradient of D parameters in L slices makes O(D) doubles of adjoint, not L x D. 64 slices of
// a 2^16-vector: with copies the tape reserves about 127 D for the plain gradient and 255 D for
// the recorded one (create_graph) and for the forward-over-reverse HVP; in place about 15, 31
// and 15 D (the arena's blocks double, so the figures move in steps).
TEST(SliceAdjoints, ManySlicesOfOneVectorSumInPlace) {
  constexpr std::int64_t kD = std::int64_t{1} << 16, kSlices = 64, kWidth = kD / kSlices;
  const Tensor w = random_tensor(V(kD), Domain{}, 11);
  const Tensor v = random_tensor(V(kD), Domain{}, 12);
  auto f = [](Var x) {
    Var total = sum(square(slice(x, 0, kWidth)));
    for (std::int64_t l = 1; l < kSlices; ++l)
      total = total + sum(square(slice(x, l * kWidth, (l + 1) * kWidth)));
    return total;
  };
  const std::size_t d_bytes = static_cast<std::size_t>(kD) * sizeof(double);
  {
    Tape t;
    const Var x = t.variable(w);
    const Var g = grad(f(x), x);
    for (std::int64_t i = 0; i < kD; i += 997) ASSERT_EQ(g.value()[i], 2.0 * w[i]);
    EXPECT_LT(t.reserved_bytes(), 24 * d_bytes) << double(t.reserved_bytes()) / double(d_bytes);
  }
  {
    Tape t;
    const Var x = t.variable(w);
    GradOptions options;
    options.create_graph = true;
    const Var g = grad(f(x), x, options);
    const Var hv = grad(sum(g * t.constant(v)), x);
    for (std::int64_t i = 0; i < kD; i += 997) {
      ASSERT_EQ(g.value()[i], 2.0 * w[i]);
      ASSERT_EQ(hv.value()[i], 2.0 * v[i]);
    }
    EXPECT_LT(t.reserved_bytes(), 48 * d_bytes) << double(t.reserved_bytes()) / double(d_bytes);
  }
  {
    Tape t;
    Tensor gradient;
    const Tensor hv = hvp(f, w, v, &gradient, HvpMethod::forward_over_reverse, &t);
    for (std::int64_t i = 0; i < kD; i += 997) {
      ASSERT_EQ(gradient[i], 2.0 * w[i]);
      ASSERT_EQ(hv[i], 2.0 * v[i]);
    }
    EXPECT_LT(t.reserved_bytes(), 48 * d_bytes) << double(t.reserved_bytes()) / double(d_bytes);
  }
}
