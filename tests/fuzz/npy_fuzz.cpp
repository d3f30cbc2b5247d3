// libFuzzer target: the .npy readers. The input is a file's bytes; it is written to the process's
// scratch directory and read by all three readers (read_npy, read_npy_prefix, NpyRowReader), which
// parse the preamble each in their own way. An NpyError or IoError is a refusal; anything else
// escaping, a crash, a sanitizer report or an allocation beyond -malloc_limit_mb is a finding.
// Where the readers accept the file they must agree: the prefix reader sees the strict reader's
// array when the data are exact, and the row reader the prefix reader's rows.
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "io/error.hpp"
#include "io/npy.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path file = pk::fuzz::scratch_dir() / "fuzz.npy";
  pk::fuzz::write_bytes(file, std::string_view(reinterpret_cast<const char*>(data), size));

  std::optional<pk::io::NpyArray> strict, prefix;
  try {
    strict = pk::io::read_npy(file);
    PK_FUZZ_CHECK(strict->size() == static_cast<std::int64_t>(strict->data.size()));
    try {
      pk::io::require_finite("fuzz.npy", strict->data);
      if (strict->shape.size() <= 2) (void)strict->to_tensor();
    } catch (const pk::io::NpyError&) {}
  } catch (const pk::io::Error&) {}
  try {
    prefix = pk::io::read_npy_prefix(file);
    PK_FUZZ_CHECK(prefix->size() == static_cast<std::int64_t>(prefix->data.size()));
    if (strict && !strict->shape.empty())
      PK_FUZZ_CHECK(strict->shape == prefix->shape && strict->data.size() == prefix->data.size());
  } catch (const pk::io::Error&) {}
  try {
    const pk::io::NpyRowReader rows(file);
    PK_FUZZ_CHECK(rows.rows() >= 0 && rows.row_size() >= 0);
    if (prefix) PK_FUZZ_CHECK(prefix->shape[0] == rows.rows());
    // Sized only for a file that holds a row: the header alone may claim rows of any size.
    std::vector<double> row(rows.rows() > 0 ? static_cast<std::size_t>(rows.row_size()) : 0);
    // The first rows and the last: a file may claim billions of empty rows.
    for (std::int64_t k = 0; k < rows.rows(); k = k < 3 ? k + 1 : std::max(k + 1, rows.rows() - 1)) {
      rows.read_row(k, row);
      if (prefix && !row.empty())
        PK_FUZZ_CHECK(std::memcmp(row.data(), prefix->data.data() + k * rows.row_size(),
                                  row.size() * sizeof(double)) == 0);
    }
    try {
      rows.read_row(rows.rows(), row);
      PK_FUZZ_CHECK(false);  // one past the last row must be refused
    } catch (const pk::io::NpyError&) {}
  } catch (const pk::io::Error&) {}
  return 0;
}
