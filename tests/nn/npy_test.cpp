// .npy reading and writing: NumPy's exact header format, round trips of every rank, streaming
// with a readable prefix at every moment, and each kind of bad file refused with its message.
#include "io/npy.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <stdexcept>
#include <vector>

#include "nn/error.hpp"
#include "nn/init.hpp"
#include "nn/layout.hpp"
#include "test_support.hpp"

namespace pk::nn {
namespace {
using namespace ::pk::io;  // the readers under test live in io

using testing::read_file;
using testing::ScratchDir;
using testing::write_file;

// The header NumPy 1.x writes for a float64 array of the given shape text, padded to 128 bytes.
std::string numpy_header(const std::string& shape, char major = 1) {
  std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': " + shape + ", }";
  std::string out = std::string("\x93NUMPY", 6);
  out += major;
  out += '\0';
  const std::size_t prefix = major == 1 ? 10 : 12;
  const std::size_t total = (prefix + dict.size() + 1 + 63) / 64 * 64;
  dict.append(total - prefix - dict.size() - 1, ' ');
  dict += '\n';
  const std::size_t len = dict.size();
  out += static_cast<char>(len & 0xff);
  out += static_cast<char>(len >> 8);
  if (major != 1) out += std::string(2, '\0');
  return out + dict;
}

std::string doubles(std::initializer_list<double> values) {
  std::string bytes;
  for (const double v : values) bytes.append(reinterpret_cast<const char*>(&v), sizeof v);
  return bytes;
}

TEST(Npy, WritesExactlyTheHeaderNumPyWrites) {
  ScratchDir dir;
  write_npy(dir / "m.npy", ad::Tensor::matrix(2, 3, {1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(read_file(dir / "m.npy"), numpy_header("(2, 3)") + doubles({1, 2, 3, 4, 5, 6}));
  write_npy(dir / "v.npy", ad::Tensor::vector({0.5, -2}));
  EXPECT_EQ(read_file(dir / "v.npy"), numpy_header("(2,)") + doubles({0.5, -2}));
  write_npy(dir / "s.npy", ad::Tensor::scalar(3.25));
  EXPECT_EQ(read_file(dir / "s.npy"), numpy_header("()") + doubles({3.25}));
}

TEST(Npy, RoundTripsEveryRank) {
  ScratchDir dir;
  const std::vector<std::vector<std::int64_t>> shapes{{}, {0}, {5}, {3, 4}, {2, 3, 2}, {1, 0, 3}};
  for (const auto& shape : shapes) {
    std::int64_t n = 1;
    for (const auto d : shape) n *= d;
    std::vector<double> data(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i)
      data[static_cast<std::size_t>(i)] = 0.1 * static_cast<double>(i) - 1.0 / 3.0;
    write_npy(dir / "a.npy", shape, data);
    const NpyArray a = read_npy(dir / "a.npy");
    EXPECT_EQ(a.shape, shape);
    EXPECT_EQ(a.data, data);
  }
  const ad::Tensor m = ad::Tensor::matrix(2, 2, {1e-300, -0.0, 1e300, 7});
  write_npy(dir / "t.npy", m);
  const ad::Tensor back = read_npy_tensor(dir / "t.npy");
  EXPECT_EQ(back.shape(), m.shape());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(std::memcmp(back.data() + i, m.data() + i, 8), 0);
}

TEST(Npy, ReadsHeadersWrittenOtherWays) {
  ScratchDir dir;
  // Keys in another order, double quotes, no trailing comma, version 2.0, a Python 2 long.
  std::string dict = "{\"shape\": (2L,), \"fortran_order\": False, \"descr\": \"<f8\"}";
  dict += std::string(64 - (12 + dict.size() + 1) % 64, ' ') + "\n";
  std::string bytes = std::string("\x93NUMPY\x02\x00", 8);
  const std::uint32_t len = static_cast<std::uint32_t>(dict.size());
  bytes.append(reinterpret_cast<const char*>(&len), 4);
  write_file(dir / "v2.npy", bytes + dict + doubles({1.5, 2.5}));
  const NpyArray a = read_npy(dir / "v2.npy");
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{2}));
  EXPECT_EQ(a.data, (std::vector<double>{1.5, 2.5}));
}

struct BadNpy {
  const char* name;
  std::string bytes;
  const char* message;
};

TEST(Npy, RefusesEachKindOfBadFileWithItsMessage) {
  ScratchDir dir;
  const std::string good = numpy_header("(2, 2)") + doubles({1, 2, 3, 4});
  std::string big_endian = good;
  big_endian.replace(big_endian.find("<f8"), 3, ">f8");
  std::string float32 = numpy_header("(2,)");
  float32.replace(float32.find("<f8"), 3, "<f4");
  std::string fortran = good;
  fortran.replace(fortran.find("False"), 5, "True ");
  std::string version = good;
  version[6] = '\x04';
  std::string huge_len = good.substr(0, 8) + std::string("\xff\x7f", 2) + good.substr(10);
  std::string no_shape = numpy_header("(2,)");
  no_shape.replace(no_shape.find("'shape': (2,), "), 15, std::string(15, ' '));
  const std::vector<BadNpy> cases{
      {"empty.npy", "", "not a .npy file"},
      {"csv.npy", "1,2,3\n", "not a .npy file"},
      {"preamble.npy", std::string("\x93NUMPY\x01", 7), "truncated: the file ends inside the preamble"},
      {"short_header.npy", good.substr(0, 60), "truncated: the header claims 118 bytes"},
      {"short_data.npy", good.substr(0, good.size() - 5), "truncated: shape (2, 2) needs 32 bytes"},
      {"long_data.npy", good + "xyz", "3 bytes after the data of shape (2, 2)"},
      {"big_endian.npy", big_endian, "dtype '>f8' (big-endian float64) is not supported"},
      {"float32.npy", float32 + doubles({1}), "dtype '<f4' is not supported"},
      {"fortran.npy", fortran, "Fortran-order data is not supported"},
      {"version.npy", version, "unsupported format version 4.0"},
      {"huge_len.npy", huge_len, "truncated: the header claims 32767 bytes"},
      {"no_shape.npy", no_shape, "the header has no 'shape'"},
      {"negative.npy", numpy_header("(-2,)") + doubles({1, 2}), "negative extent in the shape"},
      {"garbage_dict.npy", numpy_header("(2,)").replace(10, 1, "["), "malformed header: expected '{'"},
  };
  for (const BadNpy& c : cases) {
    SCOPED_TRACE(c.name);
    write_file(dir / c.name, c.bytes);
    PK_EXPECT_THROW_WITH(read_npy(dir / c.name), NpyError, c.message);
    PK_EXPECT_THROW_WITH(read_npy(dir / c.name), NpyError, (dir / c.name).string());
  }
  PK_EXPECT_THROW_WITH(read_npy(dir / "missing.npy"), IoError, "cannot open for reading");
  // A rank-3 array is a valid file but not a Tensor.
  write_npy(dir / "cube.npy", std::vector<std::int64_t>{1, 1, 2}, std::vector<double>{1, 2});
  PK_EXPECT_THROW_WITH(read_npy_tensor(dir / "cube.npy"), NpyError, "has rank 3");
}

TEST(Npy, InitialParametersMustMatchTheLayout) {
  ScratchDir dir;
  Layout layout;
  layout.add_linear("layer0", 2, 3);  // D = 9
  write_npy(dir / "w.npy", ad::Tensor::vector({1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(load_parameters(dir / "w.npy", layout)[8], 9.0);
  write_npy(dir / "short.npy", ad::Tensor::vector({1, 2, 3}));
  PK_EXPECT_THROW_WITH(load_parameters(dir / "short.npy", layout), NpyError,
                       "initial parameters have 3 elements, the model's layout needs 9");
  write_npy(dir / "matrix.npy", ad::Tensor::matrix(3, 3, {1, 2, 3, 4, 5, 6, 7, 8, 9}));
  PK_EXPECT_THROW_WITH(load_parameters(dir / "matrix.npy", layout), NpyError,
                       "must be a flat vector of 9 elements, got shape (3, 3)");
}

TEST(NpyRowWriter, EveryFlushLeavesAValidFile) {
  ScratchDir dir;
  NpyRowWriter w(dir / "rows.npy", {3});
  EXPECT_EQ(read_npy(dir / "rows.npy").shape, (std::vector<std::int64_t>{0, 3}));
  for (int r = 0; r < 5; ++r) {
    w.append(std::vector<double>{1.0 * r, 2.0 * r, 3.0 * r});
    w.flush();
    const NpyArray a = read_npy(dir / "rows.npy");  // strict: header and data agree
    ASSERT_EQ(a.shape, (std::vector<std::int64_t>{r + 1, 3}));
    EXPECT_EQ(a.data.back(), 3.0 * r);
  }
  EXPECT_THROW(w.append(std::vector<double>{1.0}), std::invalid_argument);
  w.close();
  EXPECT_THROW(w.append(std::vector<double>{1, 2, 3}), IoError);
  // The header keeps its length whatever the count, so the data never moves.
  EXPECT_EQ(read_file(dir / "rows.npy").size() % 8, 0u);
}

TEST(NpyRowWriter, AStaleHeaderOrAPartialRowStillReadsAsAPrefix) {
  ScratchDir dir;
  {
    NpyRowWriter w(dir / "rows.npy", {2});
    w.append(std::vector<double>{1, 2});
    w.flush();
    w.append(std::vector<double>{3, 4});
    w.append(std::vector<double>{5, 6});
    w.close();
  }
  std::string bytes = read_file(dir / "rows.npy");
  // Put back the header of the first flush (count 1) and cut the last row in half, as a process
  // killed in the middle of a write would leave it.
  const std::size_t header = bytes.size() - 6 * 8;
  std::string stale = bytes;
  const std::size_t at = stale.find("(3, 2)");
  ASSERT_NE(at, std::string::npos);
  stale.replace(at, 6, "(1, 2)");
  stale.resize(header + 5 * 8 + 3);
  write_file(dir / "stale.npy", stale);
  PK_EXPECT_THROW_WITH(read_npy(dir / "stale.npy"), NpyError, "bytes after the data");
  const NpyArray a = read_npy_prefix(dir / "stale.npy");
  EXPECT_EQ(a.shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(a.data, (std::vector<double>{1, 2, 3, 4}));
  // A prefix read of a complete file is the file.
  EXPECT_EQ(read_npy_prefix(dir / "rows.npy").data, (std::vector<double>{1, 2, 3, 4, 5, 6}));
}

TEST(NpyRowWriter, ScalarRowsMakeAVector) {
  ScratchDir dir;
  NpyRowWriter w(dir / "v.npy", {});
  for (int i = 0; i < 3; ++i) w.append(std::vector<double>{0.5 * i});
  w.close();
  const ad::Tensor t = read_npy_tensor(dir / "v.npy");
  EXPECT_EQ(t.shape(), ad::Shape::vector(3));
  EXPECT_EQ(t[2], 1.0);
}

}  // namespace
}  // namespace pk::nn
