#include "io/file_bytes.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "io/error.hpp"

namespace pk::io {

std::string read_file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path.string() + ": cannot open for reading: " + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw IoError(path.string() + ": read failed");
  return std::move(buffer).str();
}

}  // namespace pk::io
