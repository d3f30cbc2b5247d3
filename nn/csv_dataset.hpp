#pragma once
// Datasets from CSV files: the strict table reader of io/csv.hpp, made a Dataset.

#include <filesystem>
#include <string>
#include <string_view>

#include "io/csv.hpp"
#include "nn/dataset.hpp"

namespace pk::nn {

using io::ColumnRef;
using io::CsvHeader;
using io::CsvOptions;

/// Reads a CSV file into a Dataset; throws io::CsvError (or io::IoError when it cannot be read).
Dataset read_csv(const std::filesystem::path& path, const CsvOptions& options);

/// Parses CSV text into a Dataset; `file` names it in error messages.
Dataset parse_csv(std::string_view text, const std::string& file, const CsvOptions& options);

/// Writes a dataset as CSV with a header row, inputs then targets, every number in the shortest
/// form that reads back as the same double.
void write_csv(const std::filesystem::path& path, const Dataset& data);

}  // namespace pk::nn
