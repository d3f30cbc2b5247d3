#include "io/file_bytes.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "io/error.hpp"

namespace pk::io {

namespace {
// Closes the descriptor on every path out of a reader.
struct Descriptor {
  int fd;
  explicit Descriptor(int f) : fd(f) {}
  Descriptor(Descriptor&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  Descriptor& operator=(Descriptor&&) = delete;
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

std::string size_text(std::int64_t bytes) {
  char buf[64];
  if (bytes >= (std::int64_t{1} << 30))
    std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1 << 30));
  else if (bytes >= (1 << 20))
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  else
    std::snprintf(buf, sizeof buf, "%lld bytes", static_cast<long long>(bytes));
  return buf;
}

// Opens a regular file for reading; its size in `size`.
Descriptor open_regular(const std::string& file, std::int64_t& size) {
  // O_NONBLOCK so that opening a FIFO cannot hang; a regular file ignores it.
  Descriptor d{::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  if (d.fd < 0) throw IoError(file + ": cannot open for reading: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(d.fd, &st) != 0) throw IoError(file + ": cannot stat: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw IoError(file + ": is a directory, not a file");
  if (!S_ISREG(st.st_mode)) throw IoError(file + ": is not a regular file (a device, pipe or socket)");
  size = static_cast<std::int64_t>(st.st_size);
  return d;
}
// One read(2) of at most n bytes, retried when a signal interrupts it; 0 at the end of the file.
std::size_t read_some(const Descriptor& d, const std::string& file, char* buf, std::size_t n) {
  for (;;) {
    const ssize_t got = ::read(d.fd, buf, n);
    if (got >= 0) return static_cast<std::size_t>(got);
    if (errno != EINTR) throw IoError(file + ": read failed: " + std::strerror(errno));
  }
}
}  // namespace

std::string read_pseudo_file(const std::filesystem::path& path, std::int64_t max_bytes) {
  const std::string file = path.string();
  std::int64_t size = 0;
  const Descriptor d = open_regular(file, size);
  std::string bytes;
  char buf[4096];
  for (;;) {
    const std::size_t got = read_some(d, file, buf, sizeof buf);
    if (got == 0) return bytes;
    if (static_cast<std::int64_t>(bytes.size() + got) > max_bytes)
      throw IoError(file + ": longer than the " + size_text(max_bytes) + " this reader accepts");
    bytes.append(buf, got);
  }
}

std::string read_file_bytes(const std::filesystem::path& path, std::int64_t max_bytes) {
  const std::string file = path.string();
  std::int64_t size = 0;
  const Descriptor d = open_regular(file, size);
  if (size > max_bytes)
    throw IoError(file + ": is " + size_text(size) + ", more than the " + size_text(max_bytes) +
                  " this reader accepts");
  std::string bytes(static_cast<std::size_t>(size), '\0');
  std::size_t done = 0;
  while (done < bytes.size()) {
    const std::size_t got = read_some(d, file, bytes.data() + done, bytes.size() - done);
    if (got == 0) break;  // the file shrank while being read
    done += got;
  }
  bytes.resize(done);
  return bytes;
}

std::string quote_for_message(std::string_view text, std::size_t max_chars) {
  std::string out(1, '\'');
  const std::size_t n = std::min(text.size(), max_chars);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '\'';
  if (text.size() > max_chars) out += "... (" + std::to_string(text.size()) + " characters)";
  return out;
}

}  // namespace pk::io
