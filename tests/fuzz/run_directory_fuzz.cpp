// libFuzzer target: a whole run directory. The input is a container of the directory's files
// (fuzz_support.hpp: numbered, length-prefixed records); they are written into the process's
// scratch directory, which TrajectoryReader then opens, checks and replays, and every step is
// read. An error of io or nn is the reader refusing the directory; anything else escaping, a
// crash, a sanitizer report or an allocation beyond -malloc_limit_mb is a finding.
#include <cmath>
#include <cstdint>
#include <string_view>
#include <system_error>

#include "io/error.hpp"
#include "nn/error.hpp"
#include "nn/trajectory.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path dir = pk::fuzz::scratch_dir() / "run";
  static const bool created = std::filesystem::create_directories(dir);
  (void)created;
  const auto files = pk::fuzz::split_container(std::string_view(reinterpret_cast<const char*>(data), size));
  for (std::size_t i = 0; i < pk::fuzz::kRunFileCount; ++i) {
    const std::filesystem::path path = dir / pk::fuzz::kRunFiles[i];
    if (const auto it = files.find(i); it != files.end()) {
      pk::fuzz::write_bytes(path, it->second);
    } else {
      std::error_code ec;
      std::filesystem::remove(path, ec);
    }
  }
  try {
    const pk::nn::TrajectoryReader reader(dir);
    const pk::nn::Trajectory& facts = reader.facts();
    PK_FUZZ_CHECK(reader.steps() >= 0);
    pk::nn::StepRecord step;
    for (std::int64_t k = 0; k < reader.steps(); ++k) {
      reader.read_step(k, step);
      PK_FUZZ_CHECK(static_cast<std::int64_t>(step.weights_after.size()) == facts.parameter_count);
      PK_FUZZ_CHECK(!step.batch.empty() &&
                    static_cast<std::int64_t>(step.batch.size()) <= facts.batch_capacity);
      PK_FUZZ_CHECK(step.output_derivatives.size() ==
                    step.batch.size() * static_cast<std::size_t>(facts.output_count));
      PK_FUZZ_CHECK(std::isfinite(step.learning_rate) && std::isfinite(step.loss));
      for (const std::int64_t m : step.batch) PK_FUZZ_CHECK(m >= 0 && m < facts.sample_count);
    }
  } catch (const pk::io::Error& e) {
    pk::fuzz::report_refusal(e);
  } catch (const pk::nn::Error& e) {
    pk::fuzz::report_refusal(e);
  }
  return 0;
}
