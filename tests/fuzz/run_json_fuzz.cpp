// libFuzzer target: run.json's parser. The input is the document's text. An io::JsonError (or
// another error of io or nn) is a refusal; anything else escaping — nlohmann's own exceptions,
// std::bad_alloc, std::length_error — a crash or a sanitizer report is a finding. What is
// accepted must survive a round trip: written again and parsed, it is the same manifest.
#include <cstdint>
#include <string>
#include <string_view>

#include "io/error.hpp"
#include "nn/error.hpp"
#include "nn/run_json.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  pk::nn::RunManifest manifest;
  try {
    manifest = pk::nn::parse_run_json(text, "run.json");
  } catch (const pk::io::Error& e) {
    pk::fuzz::report_refusal(e);
    return 0;
  } catch (const pk::nn::Error& e) {
    pk::fuzz::report_refusal(e);
    return 0;
  }
  const std::string again = pk::nn::run_json_text(manifest);
  PK_FUZZ_CHECK(pk::nn::parse_run_json(again, "run.json") == manifest);
  return 0;
}
