#pragma once
// Shared helpers of the kernel tests: seeded data, small models whose answers are known, runs
// decomposed in one call, a Jacobi eigenvalue routine, a least-squares log-log slope, the
// per-report checks every test applies, scratch directories, and a tiny JSON reader.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "autodiff/autodiff.hpp"
#include "kernel/decomposition.hpp"
#include "nn/nn.hpp"
#include "tests/support/scratch_dir.hpp"

namespace pk::kernel::testing {

using pk::ad::Shape;
using pk::ad::Tensor;
using pk::ad::TensorView;
using pk::ad::Var;

/// A deterministic, smooth-looking fill: scale * sin(phase + 1.3 i).
inline Tensor seeded(Shape s, double scale, double phase) {
  Tensor t(s);
  for (std::int64_t i = 0; i < t.size(); ++i) t[i] = scale * std::sin(phase + 1.3 * static_cast<double>(i));
  return t;
}

/// Inputs drawn N(0, 1) and targets sin of a fixed projection (C columns), seeded.
inline pk::nn::Dataset regression_data(std::int64_t m, std::int64_t features, std::int64_t outputs,
                                       std::uint64_t seed) {
  pk::nn::Rng rng(seed);
  Tensor x(Shape::matrix(m, features)), y(Shape::matrix(m, outputs));
  for (std::int64_t i = 0; i < x.size(); ++i) x[i] = rng.normal();
  for (std::int64_t r = 0; r < m; ++r)
    for (std::int64_t c = 0; c < outputs; ++c) {
      double s = 0.0;
      for (std::int64_t f = 0; f < features; ++f)
        s += x(r, f) * std::cos(1.0 + static_cast<double>(c + 2 * f));
      y(r, c) = std::sin(s) + 0.1 * static_cast<double>(c);
    }
  return pk::nn::Dataset(std::move(x), std::move(y));
}

/// P x F query points, seeded.
inline Tensor query_points(std::int64_t p, std::int64_t features, std::uint64_t seed) {
  pk::nn::Rng rng(seed);
  Tensor q(Shape::matrix(p, features));
  for (std::int64_t i = 0; i < q.size(); ++i) q[i] = rng.normal();
  return q;
}

/// A model linear in w (user-defined): features phi(x) = [x, tanh(x)], f = phi W^T + b.
inline pk::nn::Model linear_in_w_model(std::int64_t features, std::int64_t outputs) {
  pk::nn::Layout layout;
  layout.add_linear("readout", 2 * features, outputs);
  const pk::nn::ParameterBlock weight = layout.block("readout.weight"), bias = layout.block("readout.bias");
  return pk::nn::Model("linear features", features, outputs, layout, [weight, bias](Var x, Var w) {
    const Var parts[] = {x, pk::ad::tanh(x)};
    return pk::nn::linear(pk::ad::concatenate(parts, 1), w, weight, bias);
  });
}

/// A model quadratic in w (user-defined): the elementwise product of two affine maps plus a third
/// affine map, f = (x A^T + a) * (x B^T + b) + x E^T + e.
inline pk::nn::Model quadratic_in_w_model(std::int64_t features, std::int64_t outputs) {
  pk::nn::Layout layout;
  layout.add_linear("left", features, outputs);
  layout.add_linear("right", features, outputs);
  layout.add_linear("skip", features, outputs);
  return pk::nn::Model("product of affine maps", features, outputs, layout, [layout](Var x, Var w) {
    auto affine = [&](const char* name) {
      const std::string n = name;
      return pk::nn::linear(x, w, layout.block(n + ".weight"), layout.block(n + ".bias"));
    };
    return affine("left") * affine("right") + affine("skip");
  });
}

/// A user-defined model with no MLP marker, written by hand: a tanh network with 2 outputs.
inline pk::nn::Model custom_tanh_model(std::int64_t features) {
  pk::nn::Layout layout;
  layout.add_linear("hidden", features, 5);
  layout.add_linear("out", 5, 2);
  return pk::nn::Model("custom tanh", features, 2, layout, [layout](Var x, Var w) {
    const Var h =
        pk::ad::tanh(pk::nn::linear(x, w, layout.block("hidden.weight"), layout.block("hidden.bias")));
    return pk::nn::linear(h, w, layout.block("out.weight"), layout.block("out.bias"));
  });
}

/// A trained run and its recorded trajectory.
struct TrainedRun {
  pk::nn::TrainingResult result;
  pk::nn::Trajectory trajectory;
};

inline TrainedRun train(const pk::nn::Model& model, pk::nn::LossKind loss, const pk::nn::Dataset& data,
                        const pk::nn::TrainingConfig& config, const Tensor& w0) {
  pk::nn::Trainer trainer(model, pk::nn::Loss(loss), data, config);
  pk::nn::TrajectoryRecorder recorder;
  trainer.add_observer(recorder);
  pk::nn::TrainingResult result = trainer.run(w0);
  return {std::move(result), recorder.take()};
}

inline Tensor init(const pk::nn::Model& model, std::uint64_t seed) {
  return pk::nn::initialise(model.layout(), pk::nn::InitScheme::pytorch_default, seed);
}

/// Options with everything off but df and F1 (each test switches on what it checks).
inline DecompositionOptions first_order_only() {
  DecompositionOptions o;
  o.second_order = SecondOrderMode::none;
  o.exact_kernel = false;
  o.attribution = false;
  return o;
}

/// The checks every report must pass (docs/mathematics.md): the run identity to 1e-10
/// relative, the exact kernel's identity to 1e-10 and the attribution identity to 1e-12 when
/// they were computed, and array sizes that match the report's dimensions. `smooth_path` false
/// (a ReLU network, whose Jacobian jumps along a step) skips the exact kernel's 1e-10: Gauss-
/// Legendre quadrature converges slowly across kinks, and the report must only state its error.
inline void expect_report_consistent(const DecompositionReport& r, const std::string& what = "",
                                     bool smooth_path = true) {
  const auto n = static_cast<std::size_t>(r.steps * r.queries * r.outputs);
  ASSERT_EQ(r.df.size(), n) << what;
  ASSERT_EQ(r.first_order.size(), n) << what;
  ASSERT_EQ(r.second_order.size(), n) << what;
  ASSERT_EQ(r.exact_change.size(), n) << what;
  ASSERT_EQ(r.exact_error.size(), n) << what;
  ASSERT_EQ(r.complex.size(), n) << what;
  ASSERT_EQ(r.learning_rate.size(), static_cast<std::size_t>(r.steps)) << what;
  ASSERT_EQ(r.sharpness.size(), static_cast<std::size_t>(r.steps)) << what;
  EXPECT_LE(r.run_identity_error(), 1e-10) << what;
  if (r.options.exact_kernel && r.steps > 0) {
    if (smooth_path) {
      EXPECT_LE(r.exact_identity_error(), 1e-10) << what;
    }
    // The stated per-entry error is the truth about the quadrature.
    for (std::size_t i = 0; i < n; ++i)
      ASSERT_EQ(r.exact_error[i], std::abs(r.exact_change[i] - r.df[i])) << what;
  }
  if (!r.attribution.empty()) {
    EXPECT_LE(r.attribution_identity_error(), 1e-12) << what;
  }
  // The complex flags are exactly the T_c of docs/mathematics.md.
  for (std::size_t i = 0; i < n; ++i) {
    const bool flagged =
        std::abs(r.df[i] - r.first_order[i]) > r.options.tau * std::max(std::abs(r.df[i]), r.options.eps);
    ASSERT_EQ(r.complex[i] != 0, flagged) << what << " entry " << i;
  }
}

/// Eigenvalues of a symmetric n x n matrix (row-major) by cyclic Jacobi rotations, ascending.
inline std::vector<double> symmetric_eigenvalues(std::vector<double> a, std::int64_t n) {
  auto at = [&](std::int64_t i, std::int64_t j) -> double& { return a[static_cast<std::size_t>(i * n + j)]; };
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0, total = 0.0;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        total += at(i, j) * at(i, j);
        if (i != j) off += at(i, j) * at(i, j);
      }
    if (off <= 1e-30 * total || off == 0.0) break;
    for (std::int64_t p = 0; p < n; ++p)
      for (std::int64_t q = p + 1; q < n; ++q) {
        const double apq = at(p, q);
        if (apq == 0.0) continue;
        const double theta = (at(q, q) - at(p, p)) / (2.0 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (std::int64_t k = 0; k < n; ++k) {  // columns p and q
          const double akp = at(k, p), akq = at(k, q);
          at(k, p) = c * akp - s * akq;
          at(k, q) = s * akp + c * akq;
        }
        for (std::int64_t k = 0; k < n; ++k) {  // rows p and q
          const double apk = at(p, k), aqk = at(q, k);
          at(p, k) = c * apk - s * aqk;
          at(q, k) = s * apk + c * aqk;
        }
      }
  }
  std::vector<double> eig(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) eig[static_cast<std::size_t>(i)] = at(i, i);
  std::sort(eig.begin(), eig.end());
  return eig;
}

/// The least-squares slope of log y against log x.
inline double log_log_fit(const std::vector<double>& x, const std::vector<double>& y) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  const double n = static_cast<double>(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double lx = std::log(x[i]), ly = std::log(y[i]);
    sx += lx;
    sy += ly;
    sxx += lx * lx;
    sxy += lx * ly;
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

/// True when the two doubles have the same bits (NaN equal to the same NaN).
inline bool same_bits(double a, double b) {
  return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
}

inline ::testing::AssertionResult bitwise_equal(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size())
    return ::testing::AssertionFailure() << "sizes " << a.size() << " and " << b.size();
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!same_bits(a[i], b[i]))
      return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs " << b[i];
  return ::testing::AssertionSuccess();
}

/// The shared scratch directory, named for this suite.
class ScratchDir : public pk::test::ScratchDir {
 public:
  ScratchDir() : pk::test::ScratchDir("pathkernel_kernel") {}
};

/// A parsed JSON value: enough of RFC 8259 to read the reports back (objects, arrays, strings
/// with the common escapes, numbers, true, false, null). Throws std::runtime_error on anything
/// malformed, naming the offset.
struct Json {
  enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
  bool boolean = false;
  double number = 0.0;
  std::string string;
  std::vector<Json> array;
  std::vector<std::pair<std::string, Json>> object;

  bool has(std::string_view key) const {
    for (const auto& [k, v] : object)
      if (k == key) return true;
    return false;
  }
  const Json& operator[](std::string_view key) const {
    if (kind != Kind::object) throw std::runtime_error("json: not an object");
    for (const auto& [k, v] : object)
      if (k == key) return v;
    throw std::runtime_error("json: no member " + std::string(key));
  }

  static Json parse(std::string_view text) {
    std::size_t at = 0;
    Json v = parse_value(text, at);
    skip(text, at);
    if (at != text.size()) fail(at, "trailing characters");
    return v;
  }

 private:
  [[noreturn]] static void fail(std::size_t at, const std::string& why) {
    throw std::runtime_error("json at offset " + std::to_string(at) + ": " + why);
  }
  static void skip(std::string_view t, std::size_t& at) {
    while (at < t.size() && (t[at] == ' ' || t[at] == '\n' || t[at] == '\r' || t[at] == '\t')) ++at;
  }
  static void expect(std::string_view t, std::size_t& at, std::string_view word) {
    if (t.substr(at, word.size()) != word) fail(at, "expected " + std::string(word));
    at += word.size();
  }
  static std::string parse_string(std::string_view t, std::size_t& at) {
    expect(t, at, "\"");
    std::string s;
    while (true) {
      if (at >= t.size()) fail(at, "unterminated string");
      const char c = t[at++];
      if (c == '"') return s;
      if (static_cast<unsigned char>(c) < 0x20) fail(at, "control character in string");
      if (c != '\\') {
        s += c;
        continue;
      }
      if (at >= t.size()) fail(at, "unterminated escape");
      const char e = t[at++];
      switch (e) {
        case '"':
          s += '"';
          break;
        case '\\':
          s += '\\';
          break;
        case '/':
          s += '/';
          break;
        case 'b':
          s += '\b';
          break;
        case 'f':
          s += '\f';
          break;
        case 'n':
          s += '\n';
          break;
        case 'r':
          s += '\r';
          break;
        case 't':
          s += '\t';
          break;
        case 'u': {
          if (at + 4 > t.size()) fail(at, "short \\u escape");
          const unsigned code = static_cast<unsigned>(std::stoul(std::string(t.substr(at, 4)), nullptr, 16));
          at += 4;
          if (code < 0x80)
            s += static_cast<char>(code);
          else
            s += '?';  // enough for these tests
          break;
        }
        default:
          fail(at, "bad escape");
      }
    }
  }
  static Json parse_value(std::string_view t, std::size_t& at) {
    skip(t, at);
    if (at >= t.size()) fail(at, "unexpected end");
    Json v;
    const char c = t[at];
    if (c == '{') {
      v.kind = Kind::object;
      ++at;
      skip(t, at);
      if (at < t.size() && t[at] == '}') {
        ++at;
        return v;
      }
      while (true) {
        skip(t, at);
        const std::size_t key_at = at;
        std::string key = parse_string(t, at);
        for (const auto& member : v.object)
          if (member.first == key) fail(key_at, "duplicate key \"" + key + "\"");  // readers keep one of them
        skip(t, at);
        expect(t, at, ":");
        v.object.emplace_back(std::move(key), parse_value(t, at));
        skip(t, at);
        if (at < t.size() && t[at] == ',') {
          ++at;
          continue;
        }
        expect(t, at, "}");
        return v;
      }
    }
    if (c == '[') {
      v.kind = Kind::array;
      ++at;
      skip(t, at);
      if (at < t.size() && t[at] == ']') {
        ++at;
        return v;
      }
      while (true) {
        v.array.push_back(parse_value(t, at));
        skip(t, at);
        if (at < t.size() && t[at] == ',') {
          ++at;
          continue;
        }
        expect(t, at, "]");
        return v;
      }
    }
    if (c == '"') {
      v.kind = Kind::string;
      v.string = parse_string(t, at);
      return v;
    }
    if (c == 't') {
      expect(t, at, "true");
      v.kind = Kind::boolean;
      v.boolean = true;
      return v;
    }
    if (c == 'f') {
      expect(t, at, "false");
      v.kind = Kind::boolean;
      return v;
    }
    if (c == 'n') {
      expect(t, at, "null");
      return v;
    }
    // A number: -? int frac? exp? as RFC 8259 spells it.
    const std::size_t start = at;
    if (t[at] == '-') ++at;
    auto digits = [&]() {
      const std::size_t s = at;
      while (at < t.size() && t[at] >= '0' && t[at] <= '9') ++at;
      if (at == s) fail(at, "expected a digit");
    };
    digits();
    if (at < t.size() && t[at] == '.') {
      ++at;
      digits();
    }
    if (at < t.size() && (t[at] == 'e' || t[at] == 'E')) {
      ++at;
      if (at < t.size() && (t[at] == '+' || t[at] == '-')) ++at;
      digits();
    }
    v.kind = Kind::number;
    v.number = std::strtod(std::string(t.substr(start, at - start)).c_str(), nullptr);
    return v;
  }
};

/// Splits CSV text (no quoting; the report files never quote) into rows of cells.
inline std::vector<std::vector<std::string>> split_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = text.find('\n', at);
    const std::string line = text.substr(at, end == std::string::npos ? std::string::npos : end - at);
    std::vector<std::string> cells;
    std::size_t c = 0;
    while (true) {
      const std::size_t comma = line.find(',', c);
      cells.push_back(line.substr(c, comma == std::string::npos ? std::string::npos : comma - c));
      if (comma == std::string::npos) break;
      c = comma + 1;
    }
    rows.push_back(std::move(cells));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return rows;
}

/// A CSV cell as a number; NaN for an empty cell.
inline double cell_value(const std::string& cell) {
  if (cell.empty()) return std::nan("");
  char* end = nullptr;
  const double v = std::strtod(cell.c_str(), &end);
  if (end != cell.c_str() + cell.size()) throw std::runtime_error("not a number: '" + cell + "'");
  return v;
}

}  // namespace pk::kernel::testing
