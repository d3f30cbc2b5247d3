#include "io/csv.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_set>
#include <utility>

#include "io/error.hpp"
#include "io/file_bytes.hpp"

namespace pk::io {

namespace {

struct Cell {
  std::string text;         // unquoted, trimmed
  std::int64_t column = 0;  // 1-based character column where the cell starts
  bool quoted = false;
};

struct Row {
  std::vector<Cell> cells;
  std::int64_t line = 0;
  std::int64_t end_column = 0;  // one past the last character, for "too few cells"
};

bool is_blank(std::string_view s) { return s.find_first_not_of(" \t") == std::string_view::npos; }

// Splits one line into cells; quotes follow RFC 4180 within a line.
Row split_line(std::string_view line, std::int64_t line_number, char delimiter, const std::string& file) {
  Row row;
  row.line = line_number;
  row.end_column = static_cast<std::int64_t>(line.size()) + 1;
  std::size_t i = 0;
  for (;;) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t') && line[i] != delimiter) ++i;
    Cell cell;
    cell.column = static_cast<std::int64_t>(i) + 1;
    if (i < line.size() && line[i] == '"') {
      cell.quoted = true;
      std::size_t j = i + 1;
      for (;;) {
        if (j >= line.size()) throw CsvError(file, line_number, cell.column, "unterminated quoted cell");
        if (line[j] == '"') {
          if (j + 1 < line.size() && line[j + 1] == '"') {
            cell.text += '"';
            j += 2;
            continue;
          }
          ++j;
          break;
        }
        cell.text += line[j++];
      }
      while (j < line.size() && (line[j] == ' ' || line[j] == '\t') && line[j] != delimiter) ++j;
      if (j < line.size() && line[j] != delimiter)
        throw CsvError(file, line_number, static_cast<std::int64_t>(j) + 1,
                       "unexpected text after a quoted cell");
      i = j;
    } else {
      const std::size_t end = line.find(delimiter, i);
      std::string_view raw = line.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
      while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t')) raw.remove_suffix(1);
      cell.text = std::string(raw);
      i = end == std::string_view::npos ? line.size() : end;
    }
    row.cells.push_back(std::move(cell));
    if (i >= line.size()) break;
    ++i;  // past the delimiter
  }
  return row;
}

// The number in a cell, or why it is not one.
enum class Problem { none, empty, not_a_number, out_of_range, not_finite };

struct Number {
  double value = 0.0;
  Problem problem = Problem::none;
};

const char* describe(Problem p) {
  switch (p) {
    case Problem::none:
      return "";
    case Problem::empty:
      return "empty cell";
    case Problem::not_a_number:
      return "not a number";
    case Problem::out_of_range:
      return "number out of the range of a double";
    case Problem::not_finite:
      return "not a finite number (NaN and infinity are refused)";
  }
  return "";
}

Number parse_number(std::string_view s) {
  if (s.empty()) return {0.0, Problem::empty};
  std::string_view body = s;
  if (body.front() == '+') {  // from_chars takes '-' but not '+'
    body.remove_prefix(1);
    if (body.empty() || body.front() == '-' || body.front() == '+') return {0.0, Problem::not_a_number};
  }
  double v = 0.0;
  const auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), v);
  if (ec == std::errc::result_out_of_range && end == body.data() + body.size())
    return {0.0, Problem::out_of_range};
  if (ec != std::errc() || end != body.data() + body.size()) return {0.0, Problem::not_a_number};
  if (!std::isfinite(v)) return {0.0, Problem::not_finite};
  return {v, Problem::none};
}

// NaN and infinity spelled out count as numbers here, so that a first row holding them is
// reported as non-finite data rather than taken for a header.
bool looks_numeric(std::string_view s) {
  const Problem p = parse_number(s).problem;
  return p == Problem::none || p == Problem::not_finite || p == Problem::out_of_range;
}

std::string in_quotes(std::string_view s) { return quote_for_message(s); }

}  // namespace

std::string ColumnRef::str() const {
  if (is_name()) return in_quotes(name());
  std::string out = "#";
  out += std::to_string(index());
  return out;
}

namespace {
// The whole strict parse; with `points_only` there are no targets and every column is an input.
CsvTable parse_table(std::string_view text, const std::string& file, const CsvOptions& options,
                     bool points_only) {
  if (options.targets.empty() && !points_only)
    throw CsvError(file, 0, 0, "no target columns named (CsvOptions::targets)");
  if (options.delimiter == '"' || options.delimiter == '\n' || options.delimiter == '\r')
    throw CsvError(file, 0, 0, "invalid delimiter");
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);

  // Lines, with the trailing blank ones dropped (a final newline is not an empty row).
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (const std::size_t cr = line.find('\r'); cr != std::string_view::npos)
      throw CsvError(file, static_cast<std::int64_t>(lines.size()) + 1, static_cast<std::int64_t>(cr) + 1,
                     "a bare carriage return (CR) ends a line here: old Mac line ends are not read; "
                     "convert the file to LF or CRLF line ends");
    lines.push_back(line);
    start = end + 1;
  }
  while (!lines.empty() && is_blank(lines.back())) lines.pop_back();
  if (lines.empty()) throw CsvError(file, 1, 1, "empty file: no header and no data rows");

  // Rows are split one at a time as they are read, so memory stays a small multiple of the file's
  // size whatever its shape.
  auto row_at = [&](std::size_t i) {
    const auto line_number = static_cast<std::int64_t>(i) + 1;
    if (is_blank(lines[i])) throw CsvError(file, line_number, 1, "blank line inside the table");
    return split_line(lines[i], line_number, options.delimiter, file);
  };

  const Row first = row_at(0);
  const auto columns = static_cast<std::int64_t>(first.cells.size());
  bool header = options.header == CsvHeader::present;
  if (options.header == CsvHeader::detect) {
    std::int64_t numeric = 0;
    for (const Cell& c : first.cells) numeric += (!c.quoted && looks_numeric(c.text)) ? 1 : 0;
    if (numeric == 0) {
      header = true;
    } else if (numeric != columns) {
      for (const Cell& c : first.cells)
        if (c.quoted || !looks_numeric(c.text))
          throw CsvError(file, 1, c.column,
                         "the first row mixes names and numbers, so it is neither a header nor "
                         "data (cell " +
                             in_quotes(c.text) + "); set CsvOptions::header to say which");
    }
  }

  std::vector<std::string> names;
  if (header) {
    std::unordered_set<std::string_view> seen;  // a hash set keeps a huge header linear
    seen.reserve(first.cells.size());
    for (const Cell& c : first.cells) {
      if (c.text.empty()) throw CsvError(file, 1, c.column, "empty column name in the header");
      if (!seen.insert(c.text).second)
        throw CsvError(file, 1, c.column, "column name " + in_quotes(c.text) + " appears twice");
      names.push_back(c.text);
    }
  } else {
    for (std::int64_t c = 0; c < columns; ++c) names.push_back(std::string("c").append(std::to_string(c)));
  }
  const std::size_t data_start = header ? 1 : 0;
  if (lines.size() <= data_start) throw CsvError(file, 2, 1, "no data rows after the header");

  // Resolve the target columns before reading any number, so a bad name fails fast.
  std::vector<std::int64_t> target_columns;
  for (const ColumnRef& ref : options.targets) {
    std::int64_t col = -1;
    if (ref.is_name()) {
      if (!header)
        throw CsvError(
            file, 1, 1,
            "target column " + ref.str() + " is named, but the file has no header row (name it by index)");
      for (std::int64_t c = 0; c < columns; ++c)
        if (names[static_cast<std::size_t>(c)] == ref.name()) col = c;
      if (col < 0) throw CsvError(file, 1, 1, "no column named " + ref.str() + " in the header");
    } else {
      col = ref.index() < 0 ? columns + ref.index() : ref.index();
      if (col < 0 || col >= columns)
        throw CsvError(file, 1, 1,
                       "target column " + ref.str() + " is out of range: the file has " +
                           std::to_string(columns) + " columns");
    }
    for (const std::int64_t t : target_columns)
      if (t == col) throw CsvError(file, 1, 1, "target column " + ref.str() + " is named twice");
    target_columns.push_back(col);
  }
  std::vector<std::int64_t> input_columns;
  for (std::int64_t c = 0; c < columns; ++c)
    if (std::find(target_columns.begin(), target_columns.end(), c) == target_columns.end())
      input_columns.push_back(c);
  if (input_columns.empty())
    throw CsvError(file, 1, 1, "every column is a target: no input columns are left");

  const auto m = static_cast<std::int64_t>(lines.size() - data_start);
  const auto f = static_cast<std::int64_t>(input_columns.size());
  const auto t = static_cast<std::int64_t>(target_columns.size());
  ad::Tensor inputs(ad::Shape::matrix(m, f)), targets(ad::Shape::matrix(m, t));
  std::vector<double> values(static_cast<std::size_t>(columns));
  for (std::int64_t r = 0; r < m; ++r) {
    const Row row = r == 0 && data_start == 0 ? first : row_at(data_start + static_cast<std::size_t>(r));
    const auto n = static_cast<std::int64_t>(row.cells.size());
    if (n != columns) {
      const std::int64_t at =
          n > columns ? row.cells[static_cast<std::size_t>(columns)].column : row.end_column;
      throw CsvError(
          file, row.line, at,
          "row has " + std::to_string(n) + " cells, expected " + std::to_string(columns) + " (as in line 1)");
    }
    for (std::int64_t c = 0; c < columns; ++c) {
      const Cell& cell = row.cells[static_cast<std::size_t>(c)];
      const Number num = parse_number(cell.text);
      if (num.problem != Problem::none)
        throw CsvError(file, row.line, cell.column,
                       std::string(describe(num.problem)) +
                           (cell.text.empty() ? "" : ": " + in_quotes(cell.text)) + " in column " +
                           in_quotes(names[static_cast<std::size_t>(c)]));
      values[static_cast<std::size_t>(c)] = num.value;
    }
    for (std::int64_t j = 0; j < f; ++j)
      inputs(r, j) = values[static_cast<std::size_t>(input_columns[static_cast<std::size_t>(j)])];
    for (std::int64_t j = 0; j < t; ++j)
      targets(r, j) = values[static_cast<std::size_t>(target_columns[static_cast<std::size_t>(j)])];
  }
  std::vector<std::string> input_names, target_names;
  for (const std::int64_t c : input_columns) input_names.push_back(names[static_cast<std::size_t>(c)]);
  for (const std::int64_t c : target_columns) target_names.push_back(names[static_cast<std::size_t>(c)]);
  return {std::move(inputs), std::move(targets), std::move(input_names), std::move(target_names)};
}

}  // namespace

CsvTable parse_csv_table(std::string_view text, const std::string& file, const CsvOptions& options) {
  return parse_table(text, file, options, false);
}

CsvTable read_csv_table(const std::filesystem::path& path, const CsvOptions& options) {
  return parse_csv_table(read_file_bytes(path), path.string(), options);
}

ad::Tensor parse_csv_points(std::string_view text, const std::string& file, CsvHeader header) {
  CsvOptions options;
  options.header = header;
  return std::move(parse_table(text, file, options, true).inputs);
}

ad::Tensor read_csv_points(const std::filesystem::path& path, CsvHeader header) {
  return parse_csv_points(read_file_bytes(path), path.string(), header);
}

void write_csv_table(const std::filesystem::path& path, const CsvTable& data) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw IoError(path.string() + ": cannot open for writing: " + std::strerror(errno));
  auto name = [](const std::string& n) {
    if (n.find_first_of(",\"\n\r") == std::string::npos) return n;
    std::string q = "\"";
    for (const char ch : n) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return q + "\"";
  };
  std::string line;
  for (const std::string& n : data.input_names) {
    if (!line.empty()) line += ',';
    line += name(n);
  }
  for (const std::string& n : data.target_names) {
    line += ',';
    line += name(n);
  }
  out << line << '\n';
  char buf[64];
  auto number = [&](double v) {
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, end);
  };
  for (std::int64_t r = 0; r < data.inputs.shape().dim(0); ++r) {
    line.clear();
    for (std::int64_t c = 0; c < data.inputs.shape().dim(1); ++c) {
      if (c) line += ',';
      line += number(data.inputs(r, c));
    }
    for (std::int64_t c = 0; c < data.targets.shape().dim(1); ++c) {
      line += ',';
      line += number(data.targets(r, c));
    }
    out << line << '\n';
  }
  if (!out) throw IoError(path.string() + ": write failed");
}

}  // namespace pk::io
