// Documents that run.json's parser once let through: found by fuzzing it
// (tests/fuzz/run_json_fuzz.cpp).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "io/error.hpp"
#include "nn/run_json.hpp"
#include "test_support.hpp"

namespace pk::nn {
namespace {

using Json = nlohmann::ordered_json;

// A valid manifest of a 1-1 MLP.
Json valid_manifest() {
  const RunManifest m = testing::smallest_manifest();
  const std::string text = run_json_text(m);
  EXPECT_EQ(parse_run_json(text, "run.json"), m);
  return Json::parse(text);
}

// nlohmann reports a number beyond a double as out_of_range, not as a parse error; it escaped the
// parser as a foreign exception.
TEST(RunJsonLimits, RefusesANumberBeyondADoubleAsInvalidJson) {
  Json j = valid_manifest();
  j["optimizer"]["eps"] = "EPS";
  std::string text = j.dump(2);
  text.replace(text.find("\"EPS\""), 5, "1e555");
  PK_EXPECT_THROW_WITH(parse_run_json(text, "run.json"), io::JsonError,
                       "run.json: not valid JSON: number overflow parsing '1e555'");
}

// Widths are bounded one by one, but the parameter count of many wide layers summed past int64.
TEST(RunJsonLimits, RefusesLayersWhoseParameterCountOverflows) {
  Json j = valid_manifest();
  const std::int64_t wide = std::int64_t{1} << 31;
  j["model"]["layers"] = Json::array({{{"type", "linear"}, {"in", 1}, {"out", wide}},
                                      {{"type", "tanh"}},
                                      {{"type", "linear"}, {"in", wide}, {"out", wide}},
                                      {{"type", "tanh"}},
                                      {{"type", "linear"}, {"in", wide}, {"out", wide}},
                                      {{"type", "tanh"}},
                                      {{"type", "linear"}, {"in", wide}, {"out", 1}}});
  PK_EXPECT_THROW_WITH(
      parse_run_json(j.dump(), "run.json"), io::JsonError,
      "\"model.layers\" do not fit model.input_shape: layer 2 'linear(2147483648)': too many weights");
}

}  // namespace
}  // namespace pk::nn
