#pragma once
// The report files of docs/conventions.md: summary.json, steps.csv, queries.csv,
// windows.csv and attribution.csv. Numbers are written with enough digits to read back exactly; an empty CSV
// cell (a JSON null) marks a value that was not computed.

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "kernel/decomposition.hpp"

namespace pk::kernel {

/// A CSV cell: the shortest decimal that reads back as the same double, or nothing for a value
/// that was not computed (NaN); every table of a report writes its numbers this way.
void write_csv_cell(std::ostream& out, double x);

/// The configuration of the run a report describes, as the caller knows it.
struct RunDescription {
  std::string data;          // where the training data came from
  std::string architecture;  // the model, e.g. "mlp 2-16-16-1 tanh"
  std::string loss;
  std::string optimizer;
  std::string schedule;
  std::int64_t steps = 0;
  std::uint64_t seed = 0;
  std::string status = "completed";  // how training ended
  double seconds_training = 0.0;
  /// Timings make two reports of the same run differ; leave them out to compare reports byte
  /// for byte (across thread counts or machines).
  bool include_timings = true;
  /// Anything else worth recording, as (name, value) strings.
  std::vector<std::pair<std::string, std::string>> extra;
};

void write_steps_csv(std::ostream& out, const DecompositionReport& report);
void write_queries_csv(std::ostream& out, const DecompositionReport& report);
void write_attribution_csv(std::ostream& out, const DecompositionReport& report);
/// The accumulated remainders over windows of options.window steps (0: about 20 windows), one
/// row per window, query point and output.
void write_windows_csv(std::ostream& out, const DecompositionReport& report);
void write_summary_json(std::ostream& out, const DecompositionReport& report, const RunDescription& run);

/// Writes the report files (summary.json, steps.csv, queries.csv, windows.csv, attribution.csv)
/// into `directory` (which must exist). attribution.csv is written only when the report has
/// attributions. Throws std::runtime_error naming a file that fails.
void write_report_files(const std::filesystem::path& directory, const DecompositionReport& report,
                        const RunDescription& run);

/// The library's version, as the build set it.
const char* version();

}  // namespace pk::kernel
