#pragma once
// The exceptions io throws. Every message says what was wrong and where: the file, and the line
// and column of a text file or the byte offset of a binary one.

#include <cstdint>
#include <stdexcept>
#include <string>

namespace pk::io {

/// Base of every io error.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A file that cannot be opened, read or written (the operating system's reason is included), is
/// not a regular file, or is larger than its reader allows.
class IoError : public Error {
 public:
  using Error::Error;
};

/// A CSV file that is not a clean numeric table. The message reads `file:line:column: reason`;
/// line and column are 1-based (column counts characters, so an editor jumps to the cell), and
/// 0 where the problem is not at one place (an empty file, an unknown target name).
class CsvError : public Error {
 public:
  CsvError(const std::string& file, std::int64_t line, std::int64_t column, const std::string& reason)
      : Error(file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + reason),
        file_(file),
        line_(line),
        column_(column) {}
  const std::string& file() const { return file_; }
  std::int64_t line() const { return line_; }
  std::int64_t column() const { return column_; }

 private:
  std::string file_;
  std::int64_t line_;
  std::int64_t column_;
};

/// A `.npy` file that pathkernel cannot read: not NumPy's format, a header it cannot parse, a
/// dtype other than little-endian float64, Fortran order, a shape whose size overflows, data
/// shorter (or longer) than the header's shape, or a non-finite number where finite ones are
/// required. The message reads `file: reason`.
class NpyError : public Error {
 public:
  NpyError(const std::string& file, const std::string& reason) : Error(file + ": " + reason), file_(file) {}
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

/// A JSON file that is not well-formed, or whose content contradicts what its reader requires.
/// The message reads `file: reason`, with the line and column of a syntax error, or the member
/// ("model.layers[2].out") that is missing or wrong.
class JsonError : public Error {
 public:
  JsonError(const std::string& file, const std::string& reason) : Error(file + ": " + reason), file_(file) {}
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

}  // namespace pk::io
