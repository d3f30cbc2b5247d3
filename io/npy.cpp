#include "io/npy.hpp"
// One file for the .npy format (a little over 500 lines, on purpose): the header's parser with
// every check a hostile file needs, the whole-array and row-by-row readers, and the writers,
// which must agree with that parser byte for byte.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "io/error.hpp"
#include "io/file_bytes.hpp"

namespace pk::io {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;
// NumPy's own headers are about a hundred bytes (its reader refuses more than 10,000 by default);
// a length beyond this is a damaged or hostile file, refused before anything is allocated.
constexpr std::size_t kMaxHeaderBytes = 1 << 16;

// Used only on big-endian targets, where .npy data must be byte-swapped.
[[maybe_unused]] constexpr std::uint64_t swap_bytes(std::uint64_t v) {
  std::uint64_t r = 0;
  for (int i = 0; i < 8; ++i) r = (r << 8) | ((v >> (8 * i)) & 0xff);
  return r;
}

std::string shape_string(std::span<const std::int64_t> shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

std::int64_t element_count(std::span<const std::int64_t> shape) {
  std::int64_t n = 1;
  for (const std::int64_t d : shape) n *= d;
  return n;
}

void decode_doubles(const char* bytes, std::int64_t n, double* out) {
  if (n == 0) return;  // out may be null for an empty array
  std::memcpy(out, bytes, static_cast<std::size_t>(n) * sizeof(double));
  if constexpr (std::endian::native == std::endian::big) {
    for (std::int64_t i = 0; i < n; ++i)
      out[i] = std::bit_cast<double>(swap_bytes(std::bit_cast<std::uint64_t>(out[i])));
  }
}

// A parser of the header dictionary NumPy writes: {'descr': '<f8', 'fortran_order': False,
// 'shape': (3, 4), } with keys in any order, either quote character and free whitespace.
class HeaderParser {
 public:
  HeaderParser(const std::string& file, std::string_view text) : file_(file), text_(text) {}

  struct Header {
    std::string descr;
    bool fortran_order = false;
    std::vector<std::int64_t> shape;
  };

  Header parse() {
    Header h;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    expect('{');
    for (;;) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = string_literal();
      expect(':');
      if (key == "descr") {
        once(seen_descr, key);
        h.descr = string_literal();
      } else if (key == "fortran_order") {
        once(seen_order, key);
        h.fortran_order = boolean();
      } else if (key == "shape") {
        once(seen_shape, key);
        h.shape = tuple();
      } else {
        fail("unknown key '" + key + "' in the header (expected descr, fortran_order, shape)");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}') fail("expected ',' or '}' in the header");
    }
    ++pos_;
    skip_space();
    if (pos_ != text_.size()) fail("unexpected text after the header dictionary");
    if (!seen_descr) fail("the header has no 'descr' (dtype)");
    if (!seen_order) fail("the header has no 'fortran_order'");
    if (!seen_shape) fail("the header has no 'shape'");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& reason) const {
    throw NpyError(file_, "malformed header: " + reason + " at character " + std::to_string(pos_ + 1) +
                              " of \"" + std::string(text_) + "\"");
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\t')) ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  void once(bool& seen, const std::string& key) {
    if (seen) fail("key '" + key + "' appears twice");
    seen = true;
  }
  std::string string_literal() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string");
    const std::size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string s(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return s;
  }
  bool boolean() {
    skip_space();
    if (text_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (text_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    fail("expected True or False");
  }
  std::vector<std::int64_t> tuple() {
    expect('(');
    std::vector<std::int64_t> dims;
    for (;;) {
      skip_space();
      if (peek() == ')') break;
      if (peek() == '-') fail("negative extent in the shape");
      if (peek() < '0' || peek() > '9') fail("expected a non-negative integer in the shape");
      std::int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (v > (std::numeric_limits<std::int64_t>::max() - 9) / 10) fail("extent too large");
        v = v * 10 + (peek() - '0');
        ++pos_;
      }
      if (peek() == 'L') ++pos_;  // Python 2 wrote long integers with a suffix
      dims.push_back(v);
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != ')') fail("expected ',' or ')' in the shape");
    }
    ++pos_;
    return dims;
  }

  std::string file_;
  std::string_view text_;
  std::size_t pos_ = 0;
};

struct Parsed {
  std::vector<std::int64_t> shape;
  std::size_t data_offset = 0;
};

Parsed parse_preamble(const std::string& file, const std::string& bytes) {
  if (bytes.size() < kMagicSize || bytes.compare(0, kMagicSize, kMagic, kMagicSize) != 0)
    throw NpyError(file, "not a .npy file (it does not start with \\x93NUMPY)");
  if (bytes.size() < 10) throw NpyError(file, "truncated: the file ends inside the preamble");
  const auto major = static_cast<unsigned char>(bytes[6]);
  const auto minor = static_cast<unsigned char>(bytes[7]);
  std::size_t header_len = 0, offset = 0;
  if (major == 1 && minor == 0) {
    header_len = static_cast<unsigned char>(bytes[8]) |
                 (static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    offset = 10;
  } else if ((major == 2 || major == 3) && minor == 0) {
    if (bytes.size() < 12) throw NpyError(file, "truncated: the file ends inside the preamble");
    for (int i = 3; i >= 0; --i)
      header_len = (header_len << 8) | static_cast<unsigned char>(bytes[8 + static_cast<std::size_t>(i)]);
    offset = 12;
  } else {
    throw NpyError(file, "unsupported format version " + std::to_string(major) + "." + std::to_string(minor) +
                             " (1.0, 2.0 and 3.0 are read)");
  }
  if (header_len > kMaxHeaderBytes)
    throw NpyError(file, "the header claims " + std::to_string(header_len) + " bytes, more than the " +
                             std::to_string(kMaxHeaderBytes) + " a .npy header can reasonably have");
  if (bytes.size() < offset + header_len)
    throw NpyError(file, "truncated: the header claims " + std::to_string(header_len) +
                             " bytes but the file ends after " + std::to_string(bytes.size() - offset));
  std::string_view text(bytes.data() + offset, header_len);
  const HeaderParser::Header h = HeaderParser(file, text).parse();
  if (h.descr != "<f8") {
    if (h.descr == ">f8")
      throw NpyError(file,
                     "dtype '>f8' (big-endian float64) is not supported; save with "
                     "arr.astype('<f8')");
    throw NpyError(file, "dtype '" + h.descr +
                             "' is not supported: pathkernel reads little-endian float64 ('<f8') "
                             "only; convert with arr.astype('<f8')");
  }
  if (h.fortran_order)
    throw NpyError(file, "Fortran-order data is not supported; save with np.ascontiguousarray");
  // The product of the non-zero extents is what is bounded: a zero extent empties the array, but
  // the readers still multiply the others (the size of a row), which must not overflow either.
  std::int64_t n = 1;
  for (const std::int64_t d : h.shape) {
    if (d == 0) continue;
    if (n > std::numeric_limits<std::int64_t>::max() / 8 / d)
      throw NpyError(file, "shape " + shape_string(h.shape) + " is too large");
    n *= d;
  }
  return {h.shape, offset + header_len};
}

std::string header_text(std::span<const std::int64_t> shape, std::size_t total_length) {
  std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': " + shape_string(shape) + ", }";
  // Magic (6), version (2), length (2), dictionary, padding spaces, newline.
  const std::size_t minimum = 10 + dict.size() + 1;
  if (total_length == 0) total_length = (minimum + 63) / 64 * 64;
  if (total_length < minimum) throw std::invalid_argument("npy header does not fit its reserved length");
  dict.append(total_length - minimum, ' ');
  dict += '\n';
  std::string out(kMagic, kMagicSize);
  out += '\x01';
  out += '\x00';
  const std::size_t len = dict.size();
  if (len > 0xffff) throw std::invalid_argument("npy header longer than version 1.0 allows");
  out += static_cast<char>(len & 0xff);
  out += static_cast<char>((len >> 8) & 0xff);
  return out + dict;
}

[[noreturn]] void io_fail(const std::filesystem::path& path, const char* what) {
  throw IoError(path.string() + ": " + what + ": " + std::strerror(errno));
}

void write_doubles(std::FILE* f, const std::filesystem::path& path, std::span<const double> data) {
  if (data.empty()) return;
  if constexpr (std::endian::native == std::endian::big) {
    for (const double v : data) {
      const std::uint64_t b = swap_bytes(std::bit_cast<std::uint64_t>(v));
      if (std::fwrite(&b, sizeof b, 1, f) != 1) io_fail(path, "write failed");
    }
  } else {
    if (std::fwrite(data.data(), sizeof(double), data.size(), f) != data.size())
      io_fail(path, "write failed");
  }
}

}  // namespace

std::int64_t NpyArray::size() const { return element_count(shape); }

std::string NpyArray::shape_str() const { return shape_string(shape); }

ad::Tensor NpyArray::to_tensor() const {
  switch (shape.size()) {
    case 0:
      return ad::Tensor(ad::Shape::scalar(), data);
    case 1:
      return ad::Tensor(ad::Shape::vector(shape[0]), data);
    case 2:
      return ad::Tensor(ad::Shape::matrix(shape[0], shape[1]), data);
    default:
      throw std::invalid_argument("an array of shape " + shape_str() + " has rank " +
                                  std::to_string(shape.size()) + "; a Tensor holds rank 0 to 2");
  }
}

NpyArray read_npy(const std::filesystem::path& path) {
  const std::string file = path.string();
  const std::string bytes = read_file_bytes(path);
  const Parsed p = parse_preamble(file, bytes);
  NpyArray a;
  a.shape = p.shape;
  const std::int64_t n = a.size();
  const std::size_t need = static_cast<std::size_t>(n) * sizeof(double);
  const std::size_t have = bytes.size() - p.data_offset;
  if (have < need)
    throw NpyError(file, "truncated: shape " + a.shape_str() + " needs " + std::to_string(need) +
                             " bytes of data, the file has " + std::to_string(have));
  if (have > need)
    throw NpyError(file, std::to_string(have - need) + " bytes after the data of shape " + a.shape_str() +
                             " (a file of a stopped run? use read_npy_prefix)");
  a.data.resize(static_cast<std::size_t>(n));
  decode_doubles(bytes.data() + p.data_offset, n, a.data.data());
  return a;
}

NpyArray read_npy_prefix(const std::filesystem::path& path) {
  const std::string file = path.string();
  const std::string bytes = read_file_bytes(path);
  const Parsed p = parse_preamble(file, bytes);
  if (p.shape.empty()) throw NpyError(file, "a scalar array has no rows to read a prefix of");
  NpyArray a;
  a.shape = p.shape;
  const std::int64_t row = element_count(std::span(p.shape).subspan(1));
  const std::size_t have = bytes.size() - p.data_offset;
  if (row > 0)
    a.shape[0] = static_cast<std::int64_t>(have / (static_cast<std::size_t>(row) * sizeof(double)));
  const std::int64_t n = a.size();
  a.data.resize(static_cast<std::size_t>(n));
  decode_doubles(bytes.data() + p.data_offset, n, a.data.data());
  return a;
}

void require_finite(const std::string& file, std::span<const double> values, std::int64_t first_row,
                    std::int64_t row_size) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (std::isfinite(values[i])) continue;
    const auto at = static_cast<std::int64_t>(i);
    const std::int64_t width = std::max<std::int64_t>(row_size, 1);
    throw NpyError(file, "row " + std::to_string(first_row + at / width) + ", column " +
                             std::to_string(at % width) + " is " +
                             (std::isnan(values[i]) ? "NaN" : "infinite") +
                             " (rows and columns from 0): only finite numbers are accepted here");
  }
}

ad::Tensor read_npy_tensor(const std::filesystem::path& path) {
  const NpyArray a = read_npy(path);
  if (a.shape.size() > 2)
    throw NpyError(path.string(), "array of shape " + a.shape_str() + " has rank " +
                                      std::to_string(a.shape.size()) +
                                      "; expected a scalar, vector or matrix");
  return a.to_tensor();
}

void write_npy(const std::filesystem::path& path, std::span<const std::int64_t> shape,
               std::span<const double> data) {
  for (const std::int64_t d : shape)
    if (d < 0)
      throw std::invalid_argument("write_npy " + path.string() + ": negative extent in shape " +
                                  shape_string(shape));
  if (element_count(shape) != static_cast<std::int64_t>(data.size()))
    throw std::invalid_argument("write_npy " + path.string() + ": shape " + shape_string(shape) + " has " +
                                std::to_string(element_count(shape)) + " elements, given " +
                                std::to_string(data.size()));
  std::FILE* f = std::fopen(path.string().c_str(), "wb");
  if (!f) io_fail(path, "cannot open for writing");
  const std::string header = header_text(shape, 0);
  const bool ok = std::fwrite(header.data(), 1, header.size(), f) == header.size();
  try {
    if (!ok) io_fail(path, "write failed");
    write_doubles(f, path, data);
  } catch (...) {
    std::fclose(f);
    throw;
  }
  if (std::fclose(f) != 0) io_fail(path, "close failed");
}

void write_npy(const std::filesystem::path& path, ad::TensorView tensor) {
  const ad::Shape& s = tensor.shape();
  std::vector<std::int64_t> shape;
  for (int i = 0; i < s.rank; ++i) shape.push_back(s.dim(i));
  write_npy(path, shape, tensor.span());
}

NpyRowReader::NpyRowReader(const std::filesystem::path& path) : path_(path) {
  const std::string file = path.string();
  fd_ = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw IoError(file + ": cannot open for reading: " + std::strerror(errno));
  try {
    // The preamble says how long the header is; read just that much, never the data.
    auto read_at = [&](std::size_t n, std::int64_t offset) {
      std::string bytes(n, '\0');
      const ssize_t got = ::pread(fd_, bytes.data(), n, offset);
      if (got < 0) throw IoError(file + ": read failed: " + std::strerror(errno));
      bytes.resize(static_cast<std::size_t>(got));
      return bytes;
    };
    std::string head = read_at(12, 0);
    std::size_t header_end = head.size();
    if (head.size() >= 10 && head.compare(0, kMagicSize, kMagic, kMagicSize) == 0) {
      const bool v1 = static_cast<unsigned char>(head[6]) == 1;
      std::size_t len = 0;
      if (v1) {
        len = static_cast<unsigned char>(head[8]) |
              (static_cast<std::size_t>(static_cast<unsigned char>(head[9])) << 8);
        header_end = 10 + len;
      } else if (head.size() >= 12) {
        for (int i = 3; i >= 0; --i)
          len = (len << 8) | static_cast<unsigned char>(head[8 + static_cast<std::size_t>(i)]);
        header_end = 12 + len;
      }
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0) throw IoError(file + ": cannot stat: " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) throw IoError(file + ": is not a regular file");
    // A header length beyond the file (or beyond any real header) is refused by the parser from
    // the bytes that are there; never allocate what the preamble merely claims.
    header_end = std::min({header_end, static_cast<std::size_t>(st.st_size), kMaxHeaderBytes + 12});
    const Parsed p = parse_preamble(file, read_at(header_end, 0));
    if (p.shape.empty()) throw NpyError(file, "a scalar array has no rows");
    row_shape_.assign(p.shape.begin() + 1, p.shape.end());
    row_size_ = element_count(row_shape_);
    data_offset_ = static_cast<std::int64_t>(p.data_offset);
    const std::int64_t data_bytes =
        std::max<std::int64_t>(0, static_cast<std::int64_t>(st.st_size) - data_offset_);
    rows_ = row_size_ > 0 ? data_bytes / (row_size_ * static_cast<std::int64_t>(sizeof(double))) : p.shape[0];
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
}

NpyRowReader::NpyRowReader(NpyRowReader&& other) noexcept
    : path_(std::move(other.path_)),
      row_shape_(std::move(other.row_shape_)),
      row_size_(other.row_size_),
      rows_(other.rows_),
      data_offset_(other.data_offset_),
      fd_(std::exchange(other.fd_, -1)) {}

NpyRowReader& NpyRowReader::operator=(NpyRowReader&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    row_shape_ = std::move(other.row_shape_);
    row_size_ = other.row_size_;
    rows_ = other.rows_;
    data_offset_ = other.data_offset_;
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

NpyRowReader::~NpyRowReader() {
  if (fd_ >= 0) ::close(fd_);
}

void NpyRowReader::read_row(std::int64_t k, std::span<double> out) const {
  const std::string file = path_.string();
  if (k < 0 || k >= rows_)
    throw NpyError(file, "row " + std::to_string(k) + " asked for, the file holds " + std::to_string(rows_));
  if (static_cast<std::int64_t>(out.size()) != row_size_)
    throw NpyError(file, "a row has " + std::to_string(row_size_) + " elements, the buffer " +
                             std::to_string(out.size()));
  const std::size_t bytes = static_cast<std::size_t>(row_size_) * sizeof(double);
  std::string raw(bytes, '\0');
  std::size_t done = 0;
  while (done < bytes) {
    const ssize_t got =
        ::pread(fd_, raw.data() + done, bytes - done,
                data_offset_ + k * static_cast<std::int64_t>(bytes) + static_cast<std::int64_t>(done));
    if (got <= 0) throw NpyError(file, "read of row " + std::to_string(k) + " failed");
    done += static_cast<std::size_t>(got);
  }
  decode_doubles(raw.data(), row_size_, out.data());
}

NpyRowWriter::NpyRowWriter(const std::filesystem::path& path, std::vector<std::int64_t> row_shape)
    : path_(path), row_shape_(std::move(row_shape)) {
  for (const std::int64_t d : row_shape_)
    if (d < 0)
      throw std::invalid_argument("NpyRowWriter " + path.string() + ": negative extent in row shape");
  row_size_ = element_count(row_shape_);
  // The header is sized for the widest row count, so rewriting the count never moves the data.
  std::vector<std::int64_t> widest{std::numeric_limits<std::int64_t>::max()};
  widest.insert(widest.end(), row_shape_.begin(), row_shape_.end());
  header_bytes_ = static_cast<std::int64_t>(header_text(widest, 0).size());
  fd_ = ::open(path.string().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) io_fail(path, "cannot open for writing");
  try {
    write_header();
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
}

NpyRowWriter::NpyRowWriter(NpyRowWriter&& other) noexcept
    : path_(std::move(other.path_)),
      row_shape_(std::move(other.row_shape_)),
      row_size_(other.row_size_),
      rows_(other.rows_),
      flushed_rows_(other.flushed_rows_),
      header_bytes_(other.header_bytes_),
      pending_(std::move(other.pending_)),
      fd_(std::exchange(other.fd_, -1)) {}

NpyRowWriter& NpyRowWriter::operator=(NpyRowWriter&& other) noexcept {
  if (this != &other) {
    try {
      close();
    } catch (...) {  // NOLINT: like a destructor, assignment cannot report; call close() first
    }
    path_ = std::move(other.path_);
    row_shape_ = std::move(other.row_shape_);
    row_size_ = other.row_size_;
    rows_ = other.rows_;
    flushed_rows_ = other.flushed_rows_;
    header_bytes_ = other.header_bytes_;
    pending_ = std::move(other.pending_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

NpyRowWriter::~NpyRowWriter() {
  try {
    close();
  } catch (...) {  // NOLINT: destructors must not throw; call close() to see errors
  }
}

void NpyRowWriter::write_all(const char* data, std::size_t n, std::int64_t offset) {
  while (n > 0) {
    const ssize_t done = ::pwrite(fd_, data, n, static_cast<off_t>(offset));
    if (done < 0) {
      if (errno == EINTR) continue;
      io_fail(path_, "write failed");
    }
    data += done;
    n -= static_cast<std::size_t>(done);
    offset += done;
  }
}

void NpyRowWriter::write_header() {
  std::vector<std::int64_t> shape{flushed_rows_};
  shape.insert(shape.end(), row_shape_.begin(), row_shape_.end());
  const std::string header = header_text(shape, static_cast<std::size_t>(header_bytes_));
  write_all(header.data(), header.size(), 0);
}

void NpyRowWriter::append(std::span<const double> row) {
  if (fd_ < 0) throw IoError(path_.string() + ": append after close");
  if (static_cast<std::int64_t>(row.size()) != row_size_)
    throw std::invalid_argument("NpyRowWriter " + path_.string() + ": row of " + std::to_string(row.size()) +
                                " elements, expected " + std::to_string(row_size_));
  pending_.insert(pending_.end(), row.begin(), row.end());
  ++rows_;
}

void NpyRowWriter::flush() {
  if (fd_ < 0 || rows_ == flushed_rows_) return;
  if constexpr (std::endian::native == std::endian::big)
    for (double& v : pending_) v = std::bit_cast<double>(swap_bytes(std::bit_cast<std::uint64_t>(v)));
  const std::int64_t end =
      header_bytes_ + flushed_rows_ * row_size_ * static_cast<std::int64_t>(sizeof(double));
  // Data first, then the count: a reader never sees a count ahead of the data.
  write_all(reinterpret_cast<const char*>(pending_.data()), pending_.size() * sizeof(double), end);
  pending_.clear();
  flushed_rows_ = rows_;
  write_header();
}

void NpyRowWriter::close() {
  if (fd_ < 0) return;
  const int fd = fd_;
  try {
    flush();
  } catch (...) {
    ::close(fd);
    fd_ = -1;
    throw;
  }
  fd_ = -1;
  if (::close(fd) != 0) io_fail(path_, "close failed");
}

}  // namespace pk::io
