// A partial report's part.json, edited by hand or by a hostile party, is refused by read_part
// with a message naming the fact, before merge sizes anything by it. The starting point is a
// real part.json (the fuzz seed of a gradient-descent range 64:130 of a 130-step run).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "kernel/report_merge.hpp"
#include "tests/support/scratch_dir.hpp"

namespace {

using Json = nlohmann::json;

Json seed() {
  std::ifstream in(std::filesystem::path(PATHKERNEL_TESTS_DIR) /
                   "fuzz/corpus/part_json/sine_gd_range_64_130");
  std::stringstream text;
  text << in.rdbuf();
  return Json::parse(text.str());
}

// read_part of `j` written as part.json: "" when accepted, else the message.
std::string read_message(const Json& j) {
  const pk::test::ScratchDir dir;
  std::ofstream(dir.path() / "part.json") << j.dump();
  try {
    pk::kernel::read_part(dir.path());
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(PartFacts, TheSeedIsAcceptedAsWritten) {
  const Json j = seed();
  EXPECT_EQ(read_message(j), "");
  const pk::test::ScratchDir dir;
  std::ofstream(dir.path() / "part.json") << j.dump();
  const pk::kernel::PartFacts f = pk::kernel::read_part(dir.path());
  EXPECT_EQ(f.first, 64);
  EXPECT_EQ(f.end, 130);
  EXPECT_EQ(f.steps, 130);
  ASSERT_EQ(f.seconds.size(), 5u);  // the timings merge sums
  for (std::size_t n = 0; n < 5; ++n) EXPECT_EQ(f.seconds[n], j["seconds"][n].get<double>());
}

// A part without timings (edited by hand) is still a part: merge adds no time for it.
TEST(PartFacts, APartWithoutTimingsHasNone) {
  Json j = seed();
  j.erase("seconds");
  const pk::test::ScratchDir dir;
  std::ofstream(dir.path() / "part.json") << j.dump();
  EXPECT_TRUE(pk::kernel::read_part(dir.path()).seconds.empty());
}

TEST(PartFacts, FactsNoDecompositionCanHaveAreRefusedByName) {
  const struct {
    std::function<void(Json&)> edit;
    const char* expected;
  } cases[] = {
      {[](Json& j) { j["first"] = 65; }, "do not start at a multiple of 64"},
      {[](Json& j) { j["end"] = 131; }, "are not a range of a run of 130 steps"},
      {[](Json& j) { j["first"] = 128, j["end"] = 64; }, "are not a range"},
      {[](Json& j) { j["steps"] = -1; }, "a run of -1 steps"},
      {[](Json& j) { j["outputs"] = 0; }, "0 outputs"},
      {[](Json& j) { j["queries"] = -3; }, "-3 query points"},
      {[](Json& j) { j["training_points"] = 0; }, "0 training points"},
      {[](Json& j) { j["queries"] = std::int64_t{1} << 40; }, "more query points times outputs"},
      {[](Json& j) { j["training_points"] = std::int64_t{1} << 40; }, "an attribution larger"},
      {[](Json& j) { j["plot_query"] = j["queries"]; }, "plot query"},
      {[](Json& j) { j["options"]["pair_query"] = j["queries"]; }, "pair query"},
      {[](Json& j) { j["options"]["order"] = 4; }, "order 4"},
      {[](Json& j) { j["options"]["window"] = -1; }, "window"},
      {[](Json& j) { j["options"]["window_tau"] = 0.0; }, "window_tau"},
      {[](Json& j) { j["options"]["query_chunk"] = 0; }, "a count out of range"},
      {[](Json& j) { j["options"]["threads"] = -2; }, "a count out of range"},
      {[](Json& j) { j["block_sums"] = Json::array({-1}); }, "impossible sizes"},
      {[](Json& j) {
         j["block_sums"] = Json::array({1, 1, 1, 1, 1, 1});
       },
       "one per attribution sum"},
      {[](Json& j) { j["format"] = "pathkernel partial report 2"; }, "not a partial report of this version"},
      {[](Json& j) { j.erase("first"); }, "part.json"},
      {[](Json& j) { j["attribution_plan"]["method"] = "sideways"; },
       "unknown attribution method 'sideways'"},
      {[](Json& j) { j["optimizer_config"]["kind"] = "lion"; }, "lion"},
      {[](Json& j) { j["options"]["second_order"] = "sometimes"; }, "sometimes"},
      {[](Json& j) { j["end"] = 6.4e38; }, "\"end\" is not an integer"},
      {[](Json& j) { j["queries"] = "many"; }, "\"queries\" is not an integer"},
      {[](Json& j) { j["options"]["tau"] = true; }, "\"options.tau\" is not a number"},
      {[](Json& j) { j["options"]["threads"] = 1e20; }, "\"options.threads\" is not an integer"},
      {[](Json& j) { j["options"]["order"] = std::uint64_t{1} << 63; }, "\"options.order\" is out of range"},
      {[](Json& j) { j["block_sums"] = Json::array({1.5}); }, "\"block_sums[0]\" is not an integer"},
      {[](Json& j) {
         j["run"]["extra"] = Json::array({Json::array({1, 2})});
       },
       "\"run.extra[0][0]\" is not a string"},
      {[](Json& j) {
         j["run"]["extra"] = Json::array({Json::array({"a", "b", "c"})});
       },
       "\"run.extra[0]\" is not a pair of strings"},
  };
  for (const auto& c : cases) {
    Json j = seed();
    c.edit(j);
    const std::string message = read_message(j);
    EXPECT_NE(message.find(c.expected), std::string::npos)
        << "expected '" << c.expected << "', got '" << message << "'";
    EXPECT_NE(message.find("part.json"), std::string::npos) << message;
  }
}

}  // namespace
