// The strict CSV reader: what it accepts, each refusal with file:line:column, and the shipped
// Iris data.
#include "nn/csv_dataset.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <vector>

#include "nn/error.hpp"
#include "test_support.hpp"

namespace pk::nn {
namespace {
using namespace ::pk::io;  // the readers under test live in io

using testing::ScratchDir;
using testing::write_file;

TEST(Csv, ReadsAHeaderAndTargetsByName) {
  const Dataset d = parse_csv("a,b,y\n1,2,3\n4,5,6\n", "t.csv", {.targets = {"y"}});
  EXPECT_EQ(d.size(), 2);
  EXPECT_EQ(d.input_names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(d.target_names(), (std::vector<std::string>{"y"}));
  EXPECT_EQ(d.inputs()(1, 1), 5.0);
  EXPECT_EQ(d.targets()(1, 0), 6.0);
}

TEST(Csv, TargetsByIndexInTheOrderGivenInputsInFileOrder) {
  const Dataset d = parse_csv("1,2,3,4\n5,6,7,8\n", "t.csv", {.targets = {-1, 0}});
  EXPECT_EQ(d.input_names(), (std::vector<std::string>{"c1", "c2"}));
  EXPECT_EQ(d.target_names(), (std::vector<std::string>{"c3", "c0"}));
  EXPECT_EQ(d.targets()(1, 0), 8.0);
  EXPECT_EQ(d.targets()(1, 1), 5.0);
  EXPECT_EQ(d.inputs()(0, 1), 3.0);
}

TEST(Csv, AcceptsTheUsualVariations) {
  // BOM, CRLF, spaces, quoted names and numbers, exponents, signs, trailing blank lines.
  const Dataset d = parse_csv("\xEF\xBB\xBF\"x one\", y \r\n +1.5e2 ,\"-2\"\r\n.25,3\r\n\r\n\n", "t.csv",
                              {.targets = {"y"}});
  EXPECT_EQ(d.input_names(), (std::vector<std::string>{"x one"}));
  EXPECT_EQ(d.inputs()(0, 0), 150.0);
  EXPECT_EQ(d.targets()(0, 0), -2.0);
  EXPECT_EQ(d.inputs()(1, 0), 0.25);
  const Dataset semi =
      parse_csv("1;2\n3;4\n", "t.csv", {.targets = {1}, .header = CsvHeader::absent, .delimiter = ';'});
  EXPECT_EQ(semi.targets()(1, 0), 4.0);
}

TEST(Csv, ExplicitHeaderModes) {
  // A header of numbers, declared as such.
  const Dataset d = parse_csv("1,2\n3,4\n", "t.csv", {.targets = {"2"}, .header = CsvHeader::present});
  EXPECT_EQ(d.size(), 1);
  EXPECT_EQ(d.target_names()[0], "2");
  PK_EXPECT_THROW_WITH(parse_csv("a,b\n3,4\n", "t.csv", {.targets = {1}, .header = CsvHeader::absent}),
                       CsvError, "t.csv:1:1: not a number: 'a'");
}

TEST(Csv, WriteThenReadGivesTheSameDoubles) {
  ScratchDir dir;
  const Dataset d(ad::Tensor::matrix(2, 2, {0.1, 1.0 / 3.0, -1e-310, 2.5e300}),
                  ad::Tensor::matrix(2, 1, {1, 0}), {"p", "q,r"}, {"t"});
  write_csv(dir / "d.csv", d);
  const Dataset back = read_csv(dir / "d.csv", {.targets = {"t"}});
  EXPECT_EQ(back.input_names(), d.input_names());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(back.inputs()[i], d.inputs()[i]);
}

struct BadCsv {
  const char* name;
  const char* text;
  CsvOptions options;
  std::int64_t line;
  std::int64_t column;
  const char* message;
};

TEST(Csv, RefusesEachKindOfBadFileWithFileLineAndColumn) {
  ScratchDir dir;
  const CsvOptions y{.targets = {"y"}};
  const std::vector<BadCsv> cases{
      {"empty.csv", "", y, 1, 1, "empty file"},
      {"blank.csv", "\n  \n", y, 1, 1, "empty file"},
      {"header_only.csv", "x,y\n", y, 2, 1, "no data rows after the header"},
      {"too_few.csv", "x,y\n1,2\n3\n", y, 3, 2, "row has 1 cells, expected 2"},
      {"too_many.csv", "x,y\n1,2\n3,4,5\n", y, 3, 5, "row has 3 cells, expected 2"},
      {"word.csv", "x,y\n1,2\n3,abc\n", y, 3, 3, "not a number: 'abc' in column 'y'"},
      {"nan.csv", "x,y\n1,nan\n", y, 2, 3, "not a finite number"},
      {"inf.csv", "x,y\n-inf,1\n", y, 2, 1, "not a finite number"},
      {"overflow.csv", "x,y\n1e999,1\n", y, 2, 1, "out of the range of a double"},
      {"empty_cell.csv", "x,y\n1,\n", y, 2, 3, "empty cell"},
      {"trailing_text.csv", "x,y\n1,2x\n", y, 2, 3, "not a number: '2x'"},
      {"blank_inside.csv", "x,y\n1,2\n\n3,4\n", y, 3, 1, "blank line inside the table"},
      {"unterminated.csv", "x,y\n\"1,2\n", y, 2, 1, "unterminated quoted cell"},
      {"mixed_first.csv", "x,1\n1,2\n", {.targets = {1}}, 1, 1, "mixes names and numbers"},
      {"duplicate.csv", "x,x\n1,2\n", {.targets = {1}}, 1, 3, "column name 'x' appears twice"},
      {"empty_name.csv", "x,,y\n1,2,3\n", y, 1, 3, "empty column name"},
      {"unknown.csv", "x,y\n1,2\n", {.targets = {"z"}}, 1, 1, "no column named 'z'"},
      {"name_no_header.csv", "1,2\n3,4\n", y, 1, 1, "no header row"},
      {"index_range.csv", "1,2\n3,4\n", {.targets = {2}}, 1, 1, "out of range: the file has 2 columns"},
      {"twice.csv", "x,y\n1,2\n", {.targets = {"y", -1}}, 1, 1, "named twice"},
      {"all_targets.csv", "x,y\n1,2\n", {.targets = {"x", "y"}}, 1, 1, "no input columns"},
      {"no_targets.csv", "x,y\n1,2\n", {}, 0, 0, "no target columns named"},
  };
  for (const BadCsv& c : cases) {
    SCOPED_TRACE(c.name);
    const std::filesystem::path p = dir / c.name;
    write_file(p, c.text);
    try {
      read_csv(p, c.options);
      ADD_FAILURE() << "accepted " << c.name;
    } catch (const CsvError& e) {
      EXPECT_EQ(e.file(), p.string());
      EXPECT_EQ(e.line(), c.line) << e.what();
      EXPECT_EQ(e.column(), c.column) << e.what();
      const std::string where =
          p.string() + ":" + std::to_string(c.line) + ":" + std::to_string(c.column) + ": ";
      EXPECT_EQ(std::string(e.what()).rfind(where, 0), 0u) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
    }
  }
  PK_EXPECT_THROW_WITH(read_csv(dir / "missing.csv", y), IoError, "cannot open for reading");
}

TEST(Csv, ReadsTheShippedIrisData) {
  // From the source tree's absolute path, so the test runs from any directory (__FILE__ is
  // relative under a compiler cache's base directory).
  const std::filesystem::path iris =
      std::filesystem::path(PATHKERNEL_TESTS_DIR).parent_path() / "data" / "iris.csv";
  const Dataset d = read_csv(iris, {.targets = {"species"}});
  EXPECT_EQ(d.size(), 150);
  EXPECT_EQ(d.input_dim(), 4);
  EXPECT_EQ(d.input_names()[2], "petal_length");
  std::vector<int> counts(3, 0);
  for (std::int64_t m = 0; m < d.size(); ++m) ++counts[static_cast<std::size_t>(d.targets()(m, 0))];
  EXPECT_EQ(counts, (std::vector<int>{50, 50, 50}));
  // Fisher's first flower and the published column means.
  EXPECT_EQ(d.inputs()(0, 0), 5.1);
  EXPECT_EQ(d.inputs()(0, 3), 0.2);
  double sum = 0.0;
  for (std::int64_t m = 0; m < d.size(); ++m) sum += d.inputs()(m, 2);
  EXPECT_NEAR(sum / 150.0, 3.758, 1e-9);
}

}  // namespace
}  // namespace pk::nn
