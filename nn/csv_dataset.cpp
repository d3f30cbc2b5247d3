#include "nn/csv_dataset.hpp"

#include <utility>

namespace pk::nn {

namespace {
Dataset to_dataset(io::CsvTable t) {
  return Dataset(std::move(t.inputs), std::move(t.targets), std::move(t.input_names),
                 std::move(t.target_names));
}
}  // namespace

Dataset read_csv(const std::filesystem::path& path, const CsvOptions& options) {
  return to_dataset(io::read_csv_table(path, options));
}

Dataset parse_csv(std::string_view text, const std::string& file, const CsvOptions& options) {
  return to_dataset(io::parse_csv_table(text, file, options));
}

void write_csv(const std::filesystem::path& path, const Dataset& data) {
  io::write_csv_table(path, {data.inputs(), data.targets(), data.input_names(), data.target_names()});
}

}  // namespace pk::nn
