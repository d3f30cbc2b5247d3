// libFuzzer target: the strict CSV reader, both the table parser (with targets) and the points
// parser. The first byte chooses the options, the rest is the file's text. A CsvError is the
// reader refusing the text; anything else escaping, a crash or a sanitizer report is a finding.
// What is accepted must agree with itself: one row per data line, the names and columns counted
// alike, every number finite.
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "io/csv.hpp"
#include "io/error.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

using pk::io::ColumnRef;
using pk::io::CsvHeader;

void check_finite(pk::ad::TensorView t) {
  for (std::int64_t i = 0; i < t.size(); ++i) PK_FUZZ_CHECK(std::isfinite(t[i]));
}

const std::vector<ColumnRef>& targets(unsigned choice) {
  static const std::vector<std::vector<ColumnRef>> sets = {{-1},   {0},        {"y"},      {"label"},
                                                           {1, 0}, {"x1", -1}, {"a", "b"}, {2, -2, 7}};
  return sets[choice % sets.size()];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const unsigned options = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  static constexpr CsvHeader headers[] = {CsvHeader::detect, CsvHeader::present, CsvHeader::absent,
                                          CsvHeader::detect};
  static constexpr char delimiters[] = {',', ';', '\t', ' '};
  pk::io::CsvOptions o;
  o.header = headers[options & 3];
  o.delimiter = delimiters[(options >> 2) & 3];
  o.targets = targets(options >> 4);
  try {
    const pk::io::CsvTable t = pk::io::parse_csv_table(text, "fuzz.csv", o);
    const std::int64_t m = t.inputs.shape().dim(0);
    PK_FUZZ_CHECK(m >= 1 && t.targets.shape().dim(0) == m);
    PK_FUZZ_CHECK(t.inputs.shape().dim(1) == static_cast<std::int64_t>(t.input_names.size()));
    PK_FUZZ_CHECK(t.targets.shape().dim(1) == static_cast<std::int64_t>(t.target_names.size()));
    PK_FUZZ_CHECK(t.target_names.size() == o.targets.size() && !t.input_names.empty());
    check_finite(t.inputs);
    check_finite(t.targets);
  } catch (const pk::io::CsvError&) {}
  try {
    const pk::ad::Tensor points = pk::io::parse_csv_points(text, "fuzz.csv", o.header);
    PK_FUZZ_CHECK(points.shape().rank == 2 && points.shape().dim(0) >= 1 && points.shape().dim(1) >= 1);
    check_finite(points);
  } catch (const pk::io::CsvError&) {}
  return 0;
}
