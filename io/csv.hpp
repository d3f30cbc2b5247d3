#pragma once
// A strict reader of numeric CSV tables: inputs and target columns as matrices with their names.
//
// Accepted: comma-separated cells (or another delimiter), an optional header row of column
// names, LF or CRLF line ends, a UTF-8 byte-order mark, spaces or tabs around a cell, cells in
// double quotes ("" for a quote inside), and blank lines at the very end. Numbers are read
// with std::from_chars, so the locale plays no part.
//
// Refused with a CsvError `file:line:column: reason`, before anything is returned:
//   - an empty file, or one with a header but no data rows;
//   - a row with more or fewer cells than the first row (ragged), or a blank line before the end;
//   - an empty cell, a cell that is not a number, or one that is NaN or infinite;
//   - an unterminated quoted cell;
//   - in the header: an empty or repeated column name;
//   - a target column named that does not exist (a name with no header, or an index out of
//     range), named twice, or targets that leave no input columns.
// Line and column are 1-based; column counts characters (bytes) from the start of the line, so
// it points at the offending cell.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "autodiff/tensor.hpp"

namespace pk::io {

/// A column, by its header name or by its 0-based position (negative counts from the end, so
/// -1 is the last column).
class ColumnRef {
 public:
  ColumnRef(std::string name) : ref_(std::move(name)) {}    // NOLINT: implicit, {"species"} reads well
  ColumnRef(const char* name) : ref_(std::string(name)) {}  // NOLINT
  ColumnRef(std::int64_t index) : ref_(index) {}            // NOLINT
  ColumnRef(int index) : ref_(std::int64_t{index}) {}       // NOLINT
  bool is_name() const { return std::holds_alternative<std::string>(ref_); }
  const std::string& name() const { return std::get<std::string>(ref_); }
  std::int64_t index() const { return std::get<std::int64_t>(ref_); }
  /// "'species'" or "#4".
  std::string str() const;

 private:
  std::variant<std::string, std::int64_t> ref_;
};

/// Whether the first row is a header.
enum class CsvHeader {
  detect,   // a header when every cell of the first row is not a number, data when every cell is
  present,  // the first row is always the header
  absent,   // every row is data; columns are named "c0", "c1", ...
};

/// What to read from a CSV file.
struct CsvOptions {
  /// The target columns, in the order the targets take; the remaining columns are the inputs, in
  /// file order. At least one is required.
  std::vector<ColumnRef> targets;
  CsvHeader header = CsvHeader::detect;
  char delimiter = ',';
};

/// A numeric table split into input and target columns, each in file order of the named targets.
struct CsvTable {
  ad::Tensor inputs;   // M x F
  ad::Tensor targets;  // M x T (M x 0 for a table of points)
  std::vector<std::string> input_names, target_names;
};

/// Reads a CSV file into its inputs and targets; throws CsvError (or IoError when it cannot be
/// opened, is not a regular file or is too large).
CsvTable read_csv_table(const std::filesystem::path& path, const CsvOptions& options);

/// Parses CSV text; `file` names it in error messages.
CsvTable parse_csv_table(std::string_view text, const std::string& file, const CsvOptions& options);

/// Reads a CSV file of points, every column an input (query points): M x F, with the same
/// strictness and CsvError messages as read_csv_table.
ad::Tensor read_csv_points(const std::filesystem::path& path, CsvHeader header = CsvHeader::detect);
/// Parses CSV text of points; `file` names it in error messages.
ad::Tensor parse_csv_points(std::string_view text, const std::string& file,
                            CsvHeader header = CsvHeader::detect);

/// Writes a table with a header row, inputs then targets, every number in the shortest form that
/// reads back as the same double.
void write_csv_table(const std::filesystem::path& path, const CsvTable& table);

}  // namespace pk::io
