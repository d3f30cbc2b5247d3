#pragma once
// Shared helpers of the nn tests: scratch directories, file writing, and the expectation that a
// call throws a given exception whose message contains given text.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "autodiff/tensor.hpp"
#include "nn/run_json.hpp"
#include "tests/support/scratch_dir.hpp"

namespace pk::nn::testing {

/// The shared scratch directory, named for this suite.
class ScratchDir : public pk::test::ScratchDir {
 public:
  ScratchDir() : pk::test::ScratchDir("pathkernel_nn") {}
};

/// Writes bytes to a file.
inline void write_file(const std::filesystem::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// The bytes of a file.
inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// |a - b| / max(|b|, tiny) in the 2-norm over all elements.
inline double relative_error(ad::TensorView a, ad::TensorView b) {
  double num = 0.0, den = 0.0;
  for (std::int64_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-300);
}

/// The manifest of the smallest valid run: a 1-1 MLP on one sample, no steps yet.
inline RunManifest smallest_manifest() {
  RunManifest m;
  m.facts.model = "mlp 1-1 tanh";
  m.facts.mlp = MlpSpec{{1, 1}, Activation::tanh};
  m.facts.input_dim = 1;
  m.facts.parameter_count = 2;
  m.facts.sample_count = 1;
  m.facts.output_count = 1;
  m.facts.target_dim = 1;
  m.facts.batch_capacity = 1;
  m.facts.schedule = Schedule::constant(0.1).spec();
  m.facts.data = {"", {"x"}, {"y"}, std::nullopt};
  return m;
}

}  // namespace pk::nn::testing

/// Expects `statement` to throw `type` with a message containing `text`.
#define PK_EXPECT_THROW_WITH(statement, type, text)                            \
  do {                                                                         \
    try {                                                                      \
      statement;                                                               \
      ADD_FAILURE() << "expected " #type " containing \"" << (text) << "\"";   \
    } catch (const type& e__) {                                                \
      EXPECT_NE(std::string(e__.what()).find(text), std::string::npos)         \
          << "message: " << e__.what() << "\nexpected to contain: " << (text); \
    }                                                                          \
  } while (0)
