// The io readers cannot be made to allocate what a file merely claims, to hang, or to write a
// file's bytes to the terminal: one test per defect that earlier versions had.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "io/csv.hpp"
#include "io/error.hpp"
#include "io/file_bytes.hpp"
#include "io/npy.hpp"
#include "tests/support/scratch_dir.hpp"

namespace pk::io {
namespace {

using pk::test::ScratchDir;

void write_bytes(const std::filesystem::path& p, std::string_view bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

TEST(FileBytes, RefusesWhatIsNotARegularFileAndWhatIsTooLarge) {
  const ScratchDir dir;
  EXPECT_NE(message_of([&] { read_file_bytes(dir.path()); }).find("is a directory, not a file"),
            std::string::npos);
  EXPECT_NE(message_of([&] { read_file_bytes("/dev/zero"); }).find("/dev/zero: is not a regular file"),
            std::string::npos);
  write_bytes(dir.path() / "big", std::string(1000, 'x'));
  EXPECT_NE(message_of([&] {
              read_file_bytes(dir.path() / "big", 999);
            }).find("is 1000 bytes, more than the 999 bytes"),
            std::string::npos);
  EXPECT_EQ(read_file_bytes(dir.path() / "big", 1000).size(), 1000u);
}

TEST(FileBytes, PseudoFilesAreReadToTheirEndWithinTheirBound) {
  const ScratchDir dir;
  write_bytes(dir.path() / "text", std::string(10'000, 'x'));  // longer than one read
  EXPECT_EQ(read_pseudo_file(dir.path() / "text").size(), 10'000u);
  EXPECT_NE(
      message_of([&] { read_pseudo_file(dir.path() / "text", 9'999); }).find("longer than the 9999 bytes"),
      std::string::npos);
  EXPECT_NE(message_of([&] { read_pseudo_file(dir.path()); }).find("is a directory"), std::string::npos);
  EXPECT_NE(message_of([&] { read_pseudo_file("/dev/zero"); }).find("is not a regular file"),
            std::string::npos);
  if (!std::filesystem::exists("/proc/meminfo")) GTEST_SKIP() << "no /proc/meminfo on this system";
  // /proc/meminfo reports a size of 0, which read_file_bytes would take at its word.
  EXPECT_NE(read_pseudo_file("/proc/meminfo").find("MemTotal:"), std::string::npos);
}

TEST(FileBytes, QuotedPiecesOfAFileAreShortAndCannotEscapeToTheTerminal) {
  EXPECT_EQ(quote_for_message("abc"), "'abc'");
  EXPECT_EQ(quote_for_message("\x1b[2J\x07"), "'\\x1b[2J\\x07'");
  const std::string q = quote_for_message(std::string(10'000, 'a'));
  EXPECT_LT(q.size(), 120u);
  EXPECT_NE(q.find("(10000 characters)"), std::string::npos);
}

TEST(Csv, AHugeHeaderIsCheckedInLinearTime) {
  // 1.2 million distinct names (about 12 MB on one line): the duplicate check once compared every
  // pair and took minutes; a hash set makes it linear.
  const std::int64_t n = 1'200'000;
  std::string text;
  text.reserve(static_cast<std::size_t>(n) * 10);
  for (std::int64_t c = 0; c < n; ++c) text += (c ? ",c" : "c") + std::to_string(c);
  const std::string header = text;
  text += "\n";
  for (std::int64_t c = 0; c < n; ++c) text += c ? ",1" : "1";
  text += "\n";
  const CsvTable t = parse_csv_table(text, "wide.csv", {.targets = {std::int64_t{0}}});
  EXPECT_EQ(t.inputs.shape().dim(1), n - 1);
  const std::string duplicated =
      header + ",c17\n" + std::string(static_cast<std::size_t>(n) * 2 + 1, '1') + "\n";
  const std::string m =
      message_of([&] { parse_csv_table(duplicated, "dup.csv", {.targets = {std::int64_t{0}}}); });
  EXPECT_NE(m.find("column name 'c17' appears twice"), std::string::npos) << m.substr(0, 200);
}

TEST(Csv, MessagesQuoteAtMostEightyCharactersWithControlsEscaped) {
  const std::string cell = "\x1b]0;owned\x07" + std::string(5000, 'z');
  const std::string m = message_of([&] { parse_csv_points("x\n" + cell + "\n", "evil.csv"); });
  EXPECT_NE(m.find("evil.csv:2:1: not a number: '\\x1b]0;owned\\x07zzz"), std::string::npos) << m;
  EXPECT_EQ(m.find('\x1b'), std::string::npos);
  EXPECT_LT(m.size(), 200u);
}

TEST(Csv, BareCarriageReturnsAreRefusedByName) {
  const std::string m = message_of([&] { parse_csv_points("x,y\r1,2\r", "mac.csv"); });
  EXPECT_NE(m.find("mac.csv:1:4: a bare carriage return (CR) ends a line here"), std::string::npos) << m;
  EXPECT_EQ(parse_csv_points("x,y\r\n1,2\r\n", "dos.csv").shape().dim(0), 1);  // CRLF is read
}

TEST(Npy, AHeaderLengthBeyondTheFileIsRefusedWithoutAllocatingIt) {
  const ScratchDir dir;
  const auto p = dir.path() / "weights.npy";
  write_bytes(p, std::string("\x93NUMPY\x02\x00\xf0\xff\xff\xff", 12));  // claims a 4 GiB header
  EXPECT_NE(message_of([&] { read_npy(p); }).find("the header claims 4294967280 bytes"), std::string::npos);
  EXPECT_NE(message_of([&] { NpyRowReader r(p); }).find("the header claims 4294967280 bytes"),
            std::string::npos);
  write_bytes(p, std::string("\x93NUMPY\x01\x00\xff\x7f{'descr'", 18));  // 32 KiB claimed, 8 bytes there
  EXPECT_NE(message_of([&] { NpyRowReader r(p); }).find("truncated"), std::string::npos);
}

TEST(Npy, AShapeWhoseSizeOverflowsIsRefused) {
  const ScratchDir dir;
  const auto p = dir.path() / "a.npy";
  std::string dict =
      "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904), }";
  dict.append(127 - 10 - dict.size(), ' ');
  dict += '\n';
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(dict.size());
  bytes += '\0';
  write_bytes(p, bytes + dict);
  EXPECT_NE(message_of([&] { read_npy(p); }).find("is too large"), std::string::npos);
  EXPECT_NE(message_of([&] { NpyRowReader r(p); }).find("is too large"), std::string::npos);
}

TEST(Npy, NonFiniteNumbersAreNamedByFileRowAndColumn) {
  const double values[] = {1.0, 2.0, 3.0, std::numeric_limits<double>::quiet_NaN(), 5.0, 6.0};
  EXPECT_NE(
      message_of([&] { require_finite("w.npy", values, 10, 3); }).find("w.npy: row 11, column 0 is NaN"),
      std::string::npos);
  EXPECT_NO_THROW(require_finite("w.npy", std::span(values, 3)));
}

}  // namespace
}  // namespace pk::io
