// Shapes a .npy header may claim: found by fuzzing the readers (tests/fuzz/npy_fuzz.cpp).
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "io/error.hpp"
#include "io/npy.hpp"
#include "tests/support/scratch_dir.hpp"

namespace pk::io {
namespace {

// A version 1.0 file with the given header dictionary and data bytes.
void write_npy_bytes(const std::filesystem::path& path, std::string dict, const std::string& data) {
  dict += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(dict.size() & 0xff);
  bytes += static_cast<char>(dict.size() >> 8);
  std::ofstream(path, std::ios::binary) << bytes << dict << data;
}

template <class Read>
void expect_too_large(Read read) {
  try {
    read();
    ADD_FAILURE() << "expected NpyError";
  } catch (const NpyError& e) {
    EXPECT_NE(std::string(e.what()).find("is too large"), std::string::npos) << e.what();
  }
}

// An empty array whose other extents multiply past int64: the whole product is 0, but the prefix
// and row readers multiply the extents of a row, which overflowed (undefined behaviour).
TEST(NpyShapeLimits, RefusesAnEmptyArrayWhoseRowSizeOverflows) {
  const pk::test::ScratchDir dir("pathkernel_io");
  const auto file = dir / "overflow.npy";
  write_npy_bytes(
      file,
      "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4611686018427387904, 4611686018427387904), }",
      "");
  expect_too_large([&] { (void)read_npy(file); });
  expect_too_large([&] { (void)read_npy_prefix(file); });
  expect_too_large([&] { (void)NpyRowReader(file); });
}

TEST(NpyShapeLimits, StillReadsEmptyArraysOfOrdinaryRows) {
  const pk::test::ScratchDir dir("pathkernel_io");
  const auto file = dir / "empty.npy";
  write_npy_bytes(file, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 3, 2), }", "");
  EXPECT_EQ(read_npy(file).shape, (std::vector<std::int64_t>{0, 3, 2}));
  EXPECT_EQ(read_npy_prefix(file).shape, (std::vector<std::int64_t>{0, 3, 2}));
  EXPECT_EQ(NpyRowReader(file).row_size(), 6);
}

}  // namespace
}  // namespace pk::io
