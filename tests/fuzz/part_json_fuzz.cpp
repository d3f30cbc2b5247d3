// libFuzzer target: a partial report's part.json (kernel::read_part), what `pathkernel merge`
// reads first and sizes everything by. The input is the document's text, written into a scratch
// directory of its own. A std::runtime_error naming part.json (or an io::Error) is a refusal;
// anything else escaping, a crash or a sanitizer report is a finding. What is accepted must be
// facts one decomposition can have: a range of the run that starts at a block boundary, positive
// sizes whose products fit, a plotted query point among the query points.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

#include "io/error.hpp"
#include "kernel/report_merge.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path dir = [] {
    const std::filesystem::path d = pk::fuzz::scratch_dir() / "part";
    std::filesystem::create_directories(d);
    return d;
  }();
  pk::fuzz::write_bytes(dir / "part.json", std::string_view(reinterpret_cast<const char*>(data), size));
  pk::kernel::PartFacts f;
  try {
    f = pk::kernel::read_part(dir);
  } catch (const pk::io::Error& e) {
    pk::fuzz::report_refusal(e);
    return 0;
  } catch (const std::runtime_error& e) {
    PK_FUZZ_CHECK(std::string_view(e.what()).find("part.json") != std::string_view::npos);
    return 0;
  }
  PK_FUZZ_CHECK(0 <= f.first && f.first <= f.end && f.end <= f.steps);
  PK_FUZZ_CHECK(f.first % pk::kernel::kStepBlock == 0);
  PK_FUZZ_CHECK(f.layout.queries >= 0 && f.layout.outputs >= 1 && f.layout.training_points >= 1);
  PK_FUZZ_CHECK(f.layout.queries * f.layout.outputs <= (std::int64_t{1} << 31));
  PK_FUZZ_CHECK(0 <= f.plot_query && f.plot_query < std::max<std::int64_t>(f.layout.queries, 1));
  PK_FUZZ_CHECK(f.layout.options.pair_query < f.layout.queries);
  for (const std::int64_t n : f.block_sums) PK_FUZZ_CHECK(n >= 0);
  return 0;
}
