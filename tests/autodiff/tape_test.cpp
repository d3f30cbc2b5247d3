// The tape as a machine: memory reuse, depth, threads, and the errors it must raise.
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "autodiff/autodiff.hpp"
#include "autodiff/op_author.hpp"
#include "bench/mlp_problem.hpp"
#include "tests/autodiff/allocation_counter.hpp"

using namespace pk::ad;

TEST(Tape, ReusedForAnMlpGradientKeepsItsFootprintAndStopsAllocating) {
  const pk::bench::MlpProblem problem({2, 16, 16, 1}, 32);
  Tape tape;
  auto iteration = [&] {
    tape.clear();
    const Var w = tape.variable(problem.w);
    return grad(problem.loss(w), w);
  };
  const double g0 = iteration().value()[0];
  const std::size_t after_first = tape.reserved_bytes();
  const std::int64_t before = pk::test::allocations_on_this_thread();
  for (int i = 1; i < 10000; ++i) {
    const Var g = iteration();
    ASSERT_EQ(g.value()[0], g0);
  }
  EXPECT_EQ(pk::test::allocations_on_this_thread() - before, 0)
      << "heap allocations after the first iteration";
  EXPECT_EQ(tape.reserved_bytes(), after_first);
}

TEST(Tape, HvpLoopStopsAllocatingToo) {
  const pk::bench::MlpProblem problem({2, 16, 16, 1}, 32);
  const Tensor v(problem.w.shape(), 0.5);
  Tape tape;
  auto iteration = [&] {
    tape.clear();
    const Var w = tape.variable(problem.w, v);
    return grad(problem.loss(w), w);
  };
  iteration();
  const std::size_t after_first = tape.reserved_bytes();
  const std::int64_t before = pk::test::allocations_on_this_thread();
  for (int i = 1; i < 1000; ++i) iteration();
  EXPECT_EQ(pk::test::allocations_on_this_thread() - before, 0);
  EXPECT_EQ(tape.reserved_bytes(), after_first);
}

TEST(Tape, DifferentiatesAGraphOneHundredThousandOpsDeep) {
  Tape tape;
  const Var x = tape.variable(Tensor::scalar(0.3));
  Var y = x;
  // y_{i+1} = y_i * (1 + 1e-6) + 1e-7 keeps values bounded and the derivative known.
  const int depth = 50000;
  for (int i = 0; i < depth; ++i) y = (y * (1.0 + 1e-6)) + 1e-7;
  ASSERT_GE(tape.size(), 100000u);
  EXPECT_NEAR(grad(y, x).item(), std::pow(1.0 + 1e-6, depth), 1e-9);
  // The same depth through create_graph, and a second derivative (zero: y is affine in x).
  const Var g = grad(y, x, {.create_graph = true, .seed = {}});
  EXPECT_NEAR(g.item(), std::pow(1.0 + 1e-6, depth), 1e-9);
  EXPECT_EQ(grad(g, x).item(), 0.0);
}

TEST(Tape, TwoThreadsWithTheirOwnTapesGetBitIdenticalResults) {
  const pk::bench::MlpProblem problem({8, 64, 64, 1}, 128);
  const Tensor v(problem.w.shape(), 0.25);
  auto work = [&](Tensor* g, Tensor* hv) {
    Tape tape;
    for (int rep = 0; rep < 20; ++rep) {
      tape.clear();
      const Var w = tape.variable(problem.w, v);
      const Var gw = grad(problem.loss(w), w);
      *g = Tensor(gw.value());
      *hv = gw.tangent();
    }
  };
  Tensor g1, h1, g2, h2;
  std::thread a(work, &g1, &h1), b(work, &g2, &h2);
  a.join();
  b.join();
  Tensor g0, h0;
  work(&g0, &h0);
  for (std::int64_t i = 0; i < g0.size(); ++i) {
    ASSERT_EQ(g1[i], g0[i]);
    ASSERT_EQ(g2[i], g0[i]);
    ASSERT_EQ(h1[i], h0[i]);
    ASSERT_EQ(h2[i], h0[i]);
  }
}

// The message of the exception `fn` throws, or a failure when it throws none.
template <class E, class Fn>
std::string message_of(Fn fn) {
  try {
    fn();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "no exception";
  return {};
}

TEST(TapeErrors, ShapeMismatchNamesTheOpAndShapes) {
  Tape t;
  const Var a = t.variable(Tensor(Shape::matrix(3, 4)));
  const Var b = t.variable(Tensor(Shape::matrix(2, 4)));
  const std::string m = message_of<ShapeError>([&] { add(a, b); });
  EXPECT_NE(m.find("add"), std::string::npos) << m;
  EXPECT_NE(m.find("(3, 4)"), std::string::npos) << m;
  EXPECT_NE(m.find("(2, 4)"), std::string::npos) << m;
  const std::string mm = message_of<ShapeError>([&] { matmul(a, b); });
  EXPECT_NE(mm.find("matmul"), std::string::npos) << mm;
  EXPECT_NE(mm.find("(3, 4) @ (2, 4)"), std::string::npos) << mm;
}

TEST(TapeErrors, BackwardFromNonScalarNeedsASeed) {
  Tape t;
  const Var x = t.variable(Tensor::vector({1, 2, 3}));
  const std::string m = message_of<GradError>([&] { grad(exp(x), x); });
  EXPECT_NE(m.find("(3)"), std::string::npos) << m;
  EXPECT_NE(m.find("seed"), std::string::npos) << m;
  // With a seed it is a vector-Jacobian product: u^T diag(e^x).
  const Var u = t.constant(Tensor::vector({1, 0, 2}));
  const Var g = grad(exp(x), x, {.create_graph = false, .seed = u});
  EXPECT_DOUBLE_EQ(g.value()[2], 2 * std::exp(3.0));
  EXPECT_EQ(g.value()[1], 0.0);
  const Var bad = t.constant(Tensor::vector({1, 0}));
  EXPECT_THROW(grad(exp(x), x, {.create_graph = false, .seed = bad}), GradError);
}

TEST(TapeErrors, GradientWithRespectToAValueOnAnotherTape) {
  Tape t1, t2;
  const Var x = t1.variable(Tensor::scalar(1.0));
  const Var y = t2.variable(Tensor::scalar(2.0));
  const std::string m = message_of<TapeError>([&] { grad(square(x), y); });
  EXPECT_NE(m.find("another tape"), std::string::npos) << m;
  EXPECT_THROW(add(x, y), TapeError);
  EXPECT_THROW(grad(square(x), Var{}), TapeError);
}

TEST(TapeErrors, UseAfterClearOrRewindIsCaught) {
  Tape t;
  const Var x = t.variable(Tensor::scalar(1.0));
  t.clear();
  const Var z = t.variable(Tensor::scalar(5.0));  // reuses x's slot
  EXPECT_THROW(x.value(), TapeError);
  EXPECT_THROW(tanh(x), TapeError);
  const std::string m = message_of<TapeError>([&] { tanh(x); });
  EXPECT_NE(m.find("tanh"), std::string::npos) << m;
  EXPECT_NE(m.find("cleared"), std::string::npos) << m;
  const Tape::Mark mark = t.mark();
  const Var w = exp(z);
  t.rewind(mark);
  EXPECT_THROW(w.item(), TapeError);
  EXPECT_DOUBLE_EQ(z.item(), 5.0);
}

TEST(Tape, GradientIsZeroForValuesTheOutputDoesNotDependOn) {
  Tape t;
  const Var x = t.variable(Tensor::vector({1, 2}));
  const Var unused = t.variable(Tensor::matrix(2, 2, {1, 2, 3, 4}));
  const std::vector<Var> wrt{x, unused};
  const auto g = grad(sum(square(x)), wrt);
  EXPECT_EQ(g[0].value()[1], 4.0);
  EXPECT_EQ(g[1].shape(), Shape::matrix(2, 2));
  EXPECT_EQ(max_abs_diff(g[1].value(), Tensor(Shape::matrix(2, 2), 0.0)), 0.0);
}

TEST(Tape, GradWithoutCreateGraphLeavesOnlyTheResultsOnTheTape) {
  Tape t;
  const Var x = t.variable(Tensor::vector({0.1, 0.2, 0.3}));
  const Var y = sum(tanh(mul(x, x)));
  const std::size_t before = t.size();
  grad(y, x);
  EXPECT_EQ(t.size(), before + 1);
}

TEST(Tape, BackwardSkipsAdjointsThatCannotReachTheRequestedValues) {
  Tape t;
  const Var a = t.variable(Tensor::vector({1, 2, 3}));
  const Var b = t.variable(Tensor::vector({4, 5, 6}));
  const Var y = sum(tanh(a) * exp(b));
  const std::size_t before = t.size();
  const Var ga = grad(y, a, {.create_graph = true, .seed = {}});
  const std::size_t only_a = t.size() - before;
  const std::size_t before_both = t.size();
  const std::vector<Var> wrt{a, b};
  const auto gab = grad(y, wrt, {.create_graph = true, .seed = {}});
  const std::size_t both = t.size() - before_both;
  // b's branch (the adjoint through exp) is recorded only when b is asked for.
  EXPECT_LT(only_a, both);
  EXPECT_EQ(max_abs_diff(ga.value(), gab[0].value()), 0.0);
  // And the pruned gradient is still differentiable in b: d/db of dy/da = (1 - tanh^2 a) e^b.
  const Var mixed = grad(sum(ga), b);
  EXPECT_NEAR(mixed.value()[1], (1 - std::tanh(2.0) * std::tanh(2.0)) * std::exp(5.0), 1e-12);
}

TEST(Tape, MoveAssignmentReleasesTheTargetsMemoryAndKeepsTheSourcesValues) {
  Tape a, b;
  a.variable(Tensor(Shape::vector(5000), 1.0));  // memory that the assignment must release (ASan)
  const Var x = b.variable(Tensor::vector({1.0, 2.0}));
  const double kept = x.value()[1];
  a = std::move(b);
  EXPECT_EQ(a.size(), 1u);
  EXPECT_EQ(node_at(a, 0).value[1], kept);
  EXPECT_EQ(b.size(), 0u);
  const Var y = b.variable(Tensor::scalar(3.0));  // the moved-from tape is usable again
  EXPECT_EQ(y.item(), 3.0);
}
