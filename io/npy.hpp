#pragma once
// NumPy `.npy` files of little-endian float64 in C order: how pathkernel stores vectors and
// matrices on disk (initial weights, trajectories), so NumPy users read them with `np.load`.
//
// Reading accepts format versions 1.0, 2.0 and 3.0 and any rank; writing produces version 1.0.
// Anything else is refused with an `NpyError` naming the file and the reason: a missing magic
// string, a header that is cut short or is not NumPy's dictionary, a dtype other than '<f8',
// Fortran order, a negative extent, or data shorter or longer than the header's shape.
//
// Streaming (`NpyRowWriter`) grows an array along its first axis. Its header is written padded
// to a fixed length, so the row count in it can be rewritten in place at every flush without
// moving the data: at any moment the file is a valid .npy of the rows flushed so far. A writer
// killed between flushes leaves a header whose count is stale (behind the data actually on disk)
// and perhaps a partial last row; `read_npy_prefix` reads such a file as the whole rows present,
// and `np.load` reads the rows the header counts.

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "autodiff/tensor.hpp"

namespace pk::io {

/// An array of any rank as stored in a .npy file: its shape (empty for a scalar) and its
/// elements in C (row-major) order.
struct NpyArray {
  std::vector<std::int64_t> shape;
  std::vector<double> data;

  /// Number of elements (1 for a scalar).
  std::int64_t size() const;
  /// The shape as NumPy prints it: "()", "(3,)", "(2, 3)".
  std::string shape_str() const;
  /// The array as a Tensor; throws std::invalid_argument for rank 3 or more.
  ad::Tensor to_tensor() const;
};

/// Reads a .npy file strictly: the data must be exactly what the header's shape describes.
NpyArray read_npy(const std::filesystem::path& path);

/// Reads a .npy file that a streaming writer may have left behind: the header's first extent is
/// replaced by the number of whole rows of data present (a partial last row is ignored). The
/// rest of the header is checked as strictly as by `read_npy`. Needs rank >= 1.
NpyArray read_npy_prefix(const std::filesystem::path& path);

/// Reads a .npy file of rank 0 to 2 as a Tensor (NpyError for a higher rank).
ad::Tensor read_npy_tensor(const std::filesystem::path& path);

/// Throws NpyError naming `file`, the row and the column of the first NaN or infinity in `values`,
/// read as rows of `row_size` elements of which the first is row `first_row` of the file. Every
/// reader of numbers that must be finite calls it before the numbers reach any numerics.
void require_finite(const std::string& file, std::span<const double> values, std::int64_t first_row = 0,
                    std::int64_t row_size = 1);

/// Writes an array of the given shape (C order); the element count must match the shape.
void write_npy(const std::filesystem::path& path, std::span<const std::int64_t> shape,
               std::span<const double> data);
/// Writes a Tensor with its shape (rank 0, 1 or 2).
void write_npy(const std::filesystem::path& path, ad::TensorView tensor);

/// Appends rows to a .npy file of shape (rows, row_shape...) and keeps the file readable at every
/// flush (see the top of this header). Rows are buffered in memory until `flush`, which costs two
/// system calls: one write of the buffered rows at the end, one positioned write of the header.
/// POSIX only (open, write, pwrite). Not copyable; closing flushes.
class NpyRowWriter {
 public:
  /// Creates (or truncates) `path` as an array of zero rows of shape `row_shape` (empty for
  /// rows that are scalars, giving a 1-D file).
  NpyRowWriter(const std::filesystem::path& path, std::vector<std::int64_t> row_shape);
  NpyRowWriter(const NpyRowWriter&) = delete;
  NpyRowWriter& operator=(const NpyRowWriter&) = delete;
  NpyRowWriter(NpyRowWriter&& other) noexcept;
  NpyRowWriter& operator=(NpyRowWriter&& other) noexcept;
  /// Flushes and closes; errors at this point are swallowed (call `close` to see them).
  ~NpyRowWriter();

  /// Appends one row; its length must be the product of `row_shape`.
  void append(std::span<const double> row);
  /// Hands the buffered rows to the operating system and rewrites the header's row count.
  void flush();
  /// Flushes and closes the file; later appends throw.
  void close();
  /// Rows appended so far.
  std::int64_t rows() const { return rows_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  void write_header();
  void write_all(const char* data, std::size_t n, std::int64_t offset);
  std::filesystem::path path_;
  std::vector<std::int64_t> row_shape_;
  std::int64_t row_size_ = 1;
  std::int64_t rows_ = 0;          // appended
  std::int64_t flushed_rows_ = 0;  // on disk
  std::int64_t header_bytes_ = 0;
  std::vector<double> pending_;  // rows appended since the last flush
  int fd_ = -1;
};

/// Reads rows of a .npy file on demand (positioned reads; nothing else held in memory), so a file
/// larger than memory can be walked row by row. Like `read_npy_prefix`, it sees the whole rows
/// present, whatever a streaming writer's header says. `read_row` may be called from several
/// threads at once. POSIX only (open, pread).
class NpyRowReader {
 public:
  /// A reader of nothing (zero rows), to be assigned an opened one.
  NpyRowReader() = default;
  /// Opens `path` and checks its header as strictly as `read_npy`; needs rank >= 1.
  explicit NpyRowReader(const std::filesystem::path& path);
  NpyRowReader(const NpyRowReader&) = delete;
  NpyRowReader& operator=(const NpyRowReader&) = delete;
  NpyRowReader(NpyRowReader&& other) noexcept;
  NpyRowReader& operator=(NpyRowReader&& other) noexcept;
  ~NpyRowReader();

  /// Whole rows in the file.
  std::int64_t rows() const { return rows_; }
  /// The shape of one row (the file's shape without its first extent).
  const std::vector<std::int64_t>& row_shape() const { return row_shape_; }
  /// Elements per row.
  std::int64_t row_size() const { return row_size_; }
  /// Row `k` into `out` (row_size() elements); throws NpyError when k is out of range or the
  /// read fails.
  void read_row(std::int64_t k, std::span<double> out) const;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::vector<std::int64_t> row_shape_;
  std::int64_t row_size_ = 0, rows_ = 0, data_offset_ = 0;
  int fd_ = -1;
};

}  // namespace pk::io
