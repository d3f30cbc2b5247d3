#pragma once
// The exceptions nn throws. Every message says what was wrong and where: the file, line and
// column of a data file, the step of a run, the name of a parameter block or option.

#include <cstdint>
#include <stdexcept>
#include <string>

namespace pk::nn {

/// Base of every nn error.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A request that has no meaning: an unknown activation or loss name, a malformed model spec,
/// inputs or targets whose shapes do not fit the model, a schedule or optimiser parameter out of
/// range, a weight vector whose length does not match the layout.
class SpecError : public Error {
 public:
  using Error::Error;
};

/// A file that cannot be opened, read or written (the operating system's reason is included).
class IoError : public Error {
 public:
  using Error::Error;
};

/// A CSV file that is not a clean numeric table. The message reads `file:line:column: reason`;
/// line and column are 1-based (column counts characters, so an editor jumps to the cell), and
/// 0 where the problem is not at one place (an empty file, an unknown target name).
class CsvError : public Error {
 public:
  CsvError(const std::string& file, std::int64_t line, std::int64_t column,
           const std::string& reason)
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
/// dtype other than little-endian float64, Fortran order, or data shorter (or longer) than the
/// header's shape. The message reads `file: reason`.
class NpyError : public Error {
 public:
  NpyError(const std::string& file, const std::string& reason)
      : Error(file + ": " + reason), file_(file) {}
  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

}  // namespace pk::nn
