// Random expression graphs over a small input vector, each run through the shared harness
// (ad_harness.hpp): gradients and Hessian-vector products against finite differences, forward
// over reverse against reverse over reverse, and the rest. Single ops are tested one at a time in
// ops_test.cpp; here they meet each other, with broadcasting, shared operands, aliasing views
// and reductions in between, which is where adjoint accumulation and shape bookkeeping go wrong.
//
// The generator builds each graph at a concrete point, evaluating as it goes, so it can keep
// every op inside the region where it is smooth: log and sqrt only see values bounded away from
// 0 (else they get softplus(x) + 0.1 or exp(x)), relu, abs, sign and step only values at least
// 0.05 from their kink, divisors stay away from 0, exp never sees more than 2.5, and a step whose
// values leave [-20, 20] is dropped. A failure prints the graph's description and the point;
// `Graph::generate(index)` rebuilds the same graph.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "autodiff/autodiff.hpp"
#include "tests/autodiff/ad_harness.hpp"

namespace {

using namespace pk::ad;

using Nodes = std::vector<Var>;

std::string num(double c) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", c);
  return buf;
}

std::string v(int i) { return std::string("v") + std::to_string(i); }

/// A graph as a list of steps, each making one new value from earlier ones (value 0 is the input
/// vector), replayable on any tape.
struct Graph {
  struct Step {
    std::string text;
    std::function<Var(const Nodes&)> apply;
  };
  std::vector<Step> steps;
  Tensor point;
  std::uint64_t seed = 0;

  Var operator()(Var w) const {
    Nodes nodes{w};
    for (const Step& s : steps) nodes.push_back(s.apply(nodes));
    return nodes.back();
  }

  std::string description() const {
    std::string d = std::string("graph ") + std::to_string(seed) + ": v0 = w " + point.shape().str();
    for (std::size_t i = 0; i < steps.size(); ++i)
      d += std::string("; ") + v(static_cast<int>(i) + 1) + " = " + steps[i].text;
    return d;
  }

  static Graph generate(std::uint64_t seed);
};

// Builds a graph at a concrete point, keeping the value of every node so that each new op can
// be chosen to be smooth where it is applied.
class Generator {
 public:
  explicit Generator(std::uint64_t seed) : rng_(seed) {
    const std::int64_t d = std::uniform_int_distribution<int>(2, 4)(rng_) * 2;
    graph_.seed = seed;
    graph_.point = pk::ad::test::random_tensor(Shape::vector(d), {-1.5, 1.5}, rng_);
    values_.push_back(tape_.constant(graph_.point));
    // Half the graphs start from w viewed as a matrix too, so that matrix products, transposes
    // and reductions along axes are not left to the rare step that makes a matrix.
    if (coin()) {
      const Shape m = coin() ? Shape::matrix(2, d / 2) : Shape::matrix(d / 2, 2);
      add({0}, std::string("reshape(v0, ") + m.str() + ")", [m](const Nodes& n) { return reshape(n[0], m); });
    }
  }

  Graph build() {
    const int steps = uniform(6, 16);
    for (int attempts = 0; static_cast<int>(graph_.steps.size()) < steps && attempts < 200; ++attempts)
      propose();
    join_sinks();
    return std::move(graph_);
  }

 private:
  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool coin() { return uniform(0, 1) == 1; }
  template <class T>
  const T& one_of(const std::vector<T>& xs) {
    return xs[static_cast<std::size_t>(uniform(0, static_cast<int>(xs.size()) - 1))];
  }

  int count() const { return static_cast<int>(values_.size()); }
  // Half the time the newest value, so graphs grow deep as well as wide.
  int pick() { return coin() ? count() - 1 : uniform(0, count() - 1); }
  Shape shape_of(int i) const { return values_[static_cast<std::size_t>(i)].shape(); }
  double lowest(int i) const {
    const TensorView x = values_[static_cast<std::size_t>(i)].value();
    return *std::min_element(x.span().begin(), x.span().end());
  }
  double largest_magnitude(int i) const {
    return pk::ad::test::detail::max_abs(values_[static_cast<std::size_t>(i)].value());
  }
  double smallest_magnitude(int i) const {
    const TensorView x = values_[static_cast<std::size_t>(i)].value();
    double m = std::abs(x[0]);
    for (std::int64_t k = 0; k < x.size(); ++k) m = std::min(m, std::abs(x[k]));
    return m;
  }

  // Records the step at the point; keeps it when its value is finite, moderate and small.
  void add(std::vector<int> operands, std::string text, std::function<Var(const Nodes&)> apply) {
    Var out;
    try {
      out = apply(values_);
    } catch (const Error& e) {
      // The generator only combines shapes the ops accept, so this is a bug on one side.
      ADD_FAILURE() << "graph " << graph_.seed << ": " << text << " threw " << e.what();
      return;
    }
    const TensorView x = out.value();
    if (x.size() > 24) return;
    for (std::int64_t k = 0; k < x.size(); ++k)
      if (!std::isfinite(x[k]) || std::abs(x[k]) > 20.0) return;
    for (const int k : operands) consumed_[static_cast<std::size_t>(k)] = true;
    values_.push_back(out);
    consumed_.push_back(false);
    graph_.steps.push_back({std::move(text), std::move(apply)});
  }

  // The output: every value no later step consumed, flattened and joined into one vector, so no
  // part of the graph is dead code that the checks would never reach.
  void join_sinks() {
    std::vector<int> sinks;
    for (int k = 1; k < count(); ++k)
      if (!consumed_[static_cast<std::size_t>(k)]) sinks.push_back(k);
    if (sinks.size() < 2) return;
    std::string text = "concatenate(";
    for (const int k : sinks) {
      text += k == sinks.front() ? "flat(" : ", flat(";
      text += v(k) + ")";
    }
    graph_.steps.push_back({text + ", axis 0)", [sinks](const Nodes& n) {
                              std::vector<Var> flat;
                              for (const int k : sinks) {
                                const Var x = n[static_cast<std::size_t>(k)];
                                flat.push_back(reshape(x, Shape::vector(x.size())));
                              }
                              return concatenate(flat, 0);
                            }});
  }

  // A value that is positive and at least 0.1 wherever it is evaluated near the point.
  std::pair<std::string, std::function<Var(Var)>> positive(int i) {
    if (lowest(i) > 0.2) return {v(i), [](Var x) { return x; }};
    if (largest_magnitude(i) < 2.3 && coin())  // e^-2.3 > 0.1
      return {std::string("exp(") + v(i) + ")", [](Var x) { return exp(x); }};
    return {std::string("(softplus(") + v(i) + ") + 0.1)", [](Var x) { return softplus(x) + 0.1; }};
  }

  void propose() {
    switch (uniform(0, 5)) {
      case 0:
      case 1:
        return unary();
      case 2:
        return binary();
      case 3:
        return reduction();
      case 4:
        return product();
      default:
        return reshaping();
    }
  }

  void unary() {
    const int i = pick();
    auto one = [&](const std::string& name, Var (*op)(Var)) {
      add({i}, name + "(" + v(i) + ")", [i, op](const Nodes& n) { return op(n[i]); });
    };
    const bool away_from_kink = smallest_magnitude(i) > 0.05;
    switch (uniform(0, 16)) {
      case 0:
        return one("tanh", [](Var x) { return tanh(x); });
      case 1:
        return one("sigmoid", [](Var x) { return sigmoid(x); });
      case 2:
        return one("softplus", [](Var x) { return softplus(x); });
      case 3:
        return one("gelu", [](Var x) { return gelu(x); });
      case 4:
        return one("erf", [](Var x) { return erf(x); });
      case 5:
        return one("neg", [](Var x) { return neg(x); });
      case 6:
        return one("square", [](Var x) { return square(x); });
      case 7:
        if (largest_magnitude(i) <= 2.5) one("exp", [](Var x) { return exp(x); });
        return;
      case 8: {
        auto [text, inner] = positive(i);
        return add({i}, std::string("log") + (text[0] == '(' ? text : std::string("(") + text + ")"),
                   [i, inner](const Nodes& n) { return log(inner(n[i])); });
      }
      case 9: {
        auto [text, inner] = positive(i);
        return add({i}, std::string("sqrt") + (text[0] == '(' ? text : std::string("(") + text + ")"),
                   [i, inner](const Nodes& n) { return sqrt(inner(n[i])); });
      }
      case 10: {
        const double p = one_of<double>({2.0, 3.0, 0.5, -1.0, 1.5, -0.5, 0.0, 1.0});
        if (p == std::floor(p) && p >= 0.0)
          return add({i}, std::string("pow(") + v(i) + ", " + num(p) + ")",
                     [i, p](const Nodes& n) { return pow(n[i], p); });
        auto [text, inner] = positive(i);
        return add({i}, std::string("pow(") + text + ", " + num(p) + ")",
                   [i, p, inner](const Nodes& n) { return pow(inner(n[i]), p); });
      }
      case 11: {
        const double c = one_of<double>({-1.5, -0.5, 0.3, 0.7, 2.0});
        if (coin()) return add({i}, v(i) + " + " + num(c), [i, c](const Nodes& n) { return n[i] + c; });
        return add({i}, num(c) + " * " + v(i), [i, c](const Nodes& n) { return c * n[i]; });
      }
      case 12:
        if (smallest_magnitude(i) > 0.3)
          add({i}, std::string("2 / ") + v(i), [i](const Nodes& n) { return 2.0 / n[i]; });
        return;
      case 13:
        if (away_from_kink) one("relu", [](Var x) { return relu(x); });
        return;
      case 14:
        if (away_from_kink) one("abs", [](Var x) { return abs(x); });
        return;
      case 15:
        // Piecewise constant: its derivative is 0, and a product keeps the graph differentiable.
        if (away_from_kink)
          add({i}, v(i) + " * sign(" + v(i) + ")", [i](const Nodes& n) { return n[i] * sign(n[i]); });
        return;
      default:
        if (away_from_kink)
          add({i}, v(i) + " * step(" + v(i) + ")", [i](const Nodes& n) { return n[i] * step(n[i]); });
        return;
    }
  }

  bool broadcastable(int a, int b) const {
    try {
      broadcast_shapes(shape_of(a), shape_of(b), "generator");
      return true;
    } catch (const ShapeError&) {
      return false;
    }
  }

  void binary() {
    int a = pick();
    std::vector<int> partners;
    for (int b = 0; b < count(); ++b)
      if (b != a && broadcastable(a, b)) partners.push_back(b);
    // Now and then a value with itself, whose adjoint then arrives twice.
    int b = partners.empty() || uniform(0, 4) == 0 ? a : one_of(partners);
    if (coin()) std::swap(a, b);
    const std::string va = v(a), vb = v(b);
    switch (uniform(0, 4)) {
      case 0:
        return add({a, b}, va + " + " + vb, [a, b](const Nodes& n) { return n[a] + n[b]; });
      case 1:
        return add({a, b}, va + " - " + vb, [a, b](const Nodes& n) { return n[a] - n[b]; });
      case 2:
        return add({a, b}, va + " * " + vb, [a, b](const Nodes& n) { return n[a] * n[b]; });
      case 3:
        if (smallest_magnitude(b) > 0.3)
          return add({a, b}, va + " / " + vb, [a, b](const Nodes& n) { return n[a] / n[b]; });
        return add({a, b}, va + " / (1 + square(" + vb + "))",
                   [a, b](const Nodes& n) { return n[a] / (square(n[b]) + 1.0); });
      default:
        if (shape_of(a) == shape_of(b))
          add({a, b}, std::string("tanh_backward(tanh(") + va + "), " + vb + ")",
              [a, b](const Nodes& n) { return tanh_backward(tanh(n[a]), n[b]); });
        return;
    }
  }

  void reduction() {
    const int i = pick();
    const Shape s = shape_of(i);
    const int axis = s.rank == 2 ? uniform(0, 1) : 0;
    const std::string along = std::string(", ") + std::to_string(axis) + ")";
    switch (uniform(0, 6)) {
      case 0:
        return add({i}, std::string("sum(") + v(i) + ")", [i](const Nodes& n) { return sum(n[i]); });
      case 1:
        return add({i}, std::string("mean(") + v(i) + ")", [i](const Nodes& n) { return mean(n[i]); });
      case 2:
        return add({i}, std::string("sum(") + v(i) + along,
                   [i, axis](const Nodes& n) { return sum(n[i], axis); });
      case 3:
        return add({i}, std::string("mean(") + v(i) + along,
                   [i, axis](const Nodes& n) { return mean(n[i], axis); });
      case 4:
        return add({i}, std::string("logsumexp(") + v(i) + along,
                   [i, axis](const Nodes& n) { return logsumexp(n[i], axis); });
      case 5:
        return add({i}, std::string("softmax(") + v(i) + along,
                   [i, axis](const Nodes& n) { return softmax(n[i], axis); });
      default: {
        std::vector<int> partners;
        for (int b = 0; b < count(); ++b)
          if (s.rank == 1 && shape_of(b) == s) partners.push_back(b);
        if (partners.empty()) return;
        const int b = one_of(partners);
        return add({i, b}, std::string("dot(") + v(i) + ", " + v(b) + ")",
                   [i, b](const Nodes& n) { return dot(n[i], n[b]); });
      }
    }
  }

  // Matrix products of whatever pairs fit, with every transpose flag; a matrix always fits
  // itself as A A^T and A^T A, and a vector itself as a dot product.
  void product() {
    const int a = pick();
    const Shape sa = shape_of(a);
    if (sa.rank == 0) return;
    struct Option {
      int b;
      bool ta, tb, flags;
    };
    std::vector<Option> options;
    for (int b = 0; b < count(); ++b) {
      const Shape sb = shape_of(b);
      if (sa.rank == 2 && sb.rank == 2) {
        for (const bool ta : {false, true})
          for (const bool tb : {false, true})
            if (sa.dim(ta ? 0 : 1) == sb.dim(tb ? 1 : 0)) options.push_back({b, ta, tb, true});
      } else if (sb.rank > 0) {
        const std::int64_t ka = sa.rank == 2 ? sa.dim(1) : sa.dim(0);
        const std::int64_t kb = sb.dim(0);
        if (ka == kb) options.push_back({b, false, false, false});
      }
    }
    if (options.empty()) return;
    const Option o = one_of(options);
    const int b = o.b;
    if (!o.flags)
      return add({a, b}, std::string("matmul(") + v(a) + ", " + v(b) + ")",
                 [a, b](const Nodes& n) { return matmul(n[a], n[b]); });
    const bool ta = o.ta, tb = o.tb;
    add({a, b}, std::string("matmul(") + v(a) + (ta ? "^T" : "") + ", " + v(b) + (tb ? "^T" : "") + ")",
        [a, b, ta, tb](const Nodes& n) { return matmul(n[a], n[b], ta, tb); });
  }

  void reshaping() {
    const int i = pick();
    const Shape s = shape_of(i);
    const std::int64_t size = s.size();
    switch (uniform(0, 6)) {
      case 0: {
        std::vector<Shape> targets = {Shape::vector(size)};
        for (std::int64_t r = 1; r <= size; ++r)
          if (size % r == 0) targets.push_back(Shape::matrix(r, size / r));
        if (size == 1) targets.push_back(Shape::scalar());
        const Shape t = one_of(targets);
        return add({i}, std::string("reshape(") + v(i) + ", " + t.str() + ")",
                   [i, t](const Nodes& n) { return reshape(n[i], t); });
      }
      case 1:
        return add({i}, std::string("transpose(") + v(i) + ")",
                   [i](const Nodes& n) { return transpose(n[i]); });
      case 2: {
        if (s.rank == 0) return;
        const int axis = uniform(0, s.rank - 1);
        const int extent = static_cast<int>(s.dim(axis));
        const int begin = uniform(0, extent - 1), end = uniform(begin + 1, extent);
        return add({i},
                   std::string("slice(") + v(i) + ", axis " + std::to_string(axis) + ", [" +
                       std::to_string(begin) + ", " + std::to_string(end) + "))",
                   [i, axis, begin, end](const Nodes& n) { return slice(n[i], axis, begin, end); });
      }
      case 3: {
        if (s.rank == 0) return;
        const int axis = uniform(0, s.rank - 1);
        const int before = uniform(0, 2), after = uniform(before == 0 ? 1 : 0, 2);
        return add({i},
                   std::string("pad(") + v(i) + ", axis " + std::to_string(axis) + ", " +
                       std::to_string(before) + ", " + std::to_string(after) + ")",
                   [i, axis, before, after](const Nodes& n) { return pad(n[i], axis, before, after); });
      }
      case 4: {
        if (s.rank == 0) return;
        const int axis = uniform(0, s.rank - 1);
        std::vector<int> partners;
        for (int b = 0; b < count(); ++b) {
          const Shape sb = shape_of(b);
          if (sb.rank == s.rank && (s.rank == 1 || sb.dim(1 - axis) == s.dim(1 - axis)))
            partners.push_back(b);
        }
        const int b = one_of(partners);
        return add({i, b},
                   std::string("concatenate(") + v(i) + ", " + v(b) + ", axis " + std::to_string(axis) + ")",
                   [i, b, axis](const Nodes& n) {
                     const Var parts[] = {n[i], n[b]};
                     return concatenate(parts, axis);
                   });
      }
      case 5: {
        std::vector<Shape> targets;
        const std::int64_t rows = uniform(2, 3), cols = uniform(2, 3);
        if (s.rank == 0) targets = {Shape::vector(cols), Shape::matrix(rows, cols)};
        if (s.rank == 1 && size > 1) targets = {Shape::matrix(rows, size)};
        if (s.rank == 1 && size == 1) targets = {Shape::vector(cols), Shape::matrix(rows, cols)};
        if (s.rank == 2 && s.dim(0) == 1) targets.push_back(Shape::matrix(rows, s.dim(1)));
        if (s.rank == 2 && s.dim(1) == 1) targets.push_back(Shape::matrix(s.dim(0), cols));
        if (targets.empty()) return;
        const Shape t = one_of(targets);
        return add({i}, std::string("broadcast_to(") + v(i) + ", " + t.str() + ")",
                   [i, t](const Nodes& n) { return broadcast_to(n[i], t); });
      }
      default: {
        std::vector<Shape> targets = {Shape::scalar()};
        if (s.rank > 0) targets.push_back(Shape::vector(1));
        if (s.rank == 2)
          for (const Shape t : {Shape::vector(s.dim(1)), Shape::matrix(s.dim(0), 1),
                                Shape::matrix(1, s.dim(1)), Shape::matrix(1, 1)})
            targets.push_back(t);
        const Shape t = one_of(targets);
        return add({i}, std::string("sum_to(") + v(i) + ", " + t.str() + ")",
                   [i, t](const Nodes& n) { return sum_to(n[i], t); });
      }
    }
  }

  std::mt19937_64 rng_;
  Tape tape_;
  Nodes values_;
  std::vector<bool> consumed_ = {true};  // v0, the input, is no output
  Graph graph_;
};

Graph Graph::generate(std::uint64_t seed) { return Generator(seed).build(); }

constexpr int kGraphs = 1000;

TEST(RandomGraphs, AgreeWithFiniteDifferencesAndAcrossModes) {
  int ops = 0;
  for (int k = 0; k < kGraphs; ++k) {
    const Graph g = Graph::generate(static_cast<std::uint64_t>(k));
    ops += static_cast<int>(g.steps.size());
    pk::ad::test::expect_ad(
        g.description(), [&](Var w) { return g(w); }, g.point);
    if (HasFailure()) break;  // one graph's report is enough to start from
  }
  // The generator must not quietly degenerate into trivial graphs.
  EXPECT_GE(ops, 5 * kGraphs);
}

// Every kind of step the generator knows appears somewhere in the graphs, so a change that
// silently stopped generating one (a guard that never passes) is noticed.
TEST(RandomGraphs, CoverEveryOp) {
  std::string all;
  for (int k = 0; k < kGraphs; ++k) all += Graph::generate(static_cast<std::uint64_t>(k)).description();
  for (const char* op : {"tanh(",   "sigmoid(",     "softplus(",     "gelu(",      "erf(",
                         "neg(",    "square(",      "exp(",          "log",        "sqrt",
                         "pow(",    " + ",          " - ",           " * ",        " / ",
                         "relu(",   "abs(",         "sign(",         "step(",      "tanh_backward(",
                         "sum(",    "mean(",        "logsumexp(",    "softmax(",   "dot(",
                         "matmul(", "^T",           "reshape(",      "transpose(", "slice(",
                         "pad(",    "concatenate(", "broadcast_to(", "sum_to("})
    EXPECT_NE(all.find(op), std::string::npos) << "no generated graph uses " << op;
}

}  // namespace
