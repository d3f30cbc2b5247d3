#include "io/text_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <system_error>
#include <utility>

#include "io/error.hpp"

namespace pk::io {

namespace {
std::filesystem::path sibling(const std::filesystem::path& path) {
  std::filesystem::path p = path;
  p += ".partial-" + std::to_string(::getpid());
  return p;
}

void rename_into_place(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::error_code ec;
  std::filesystem::rename(from, to, ec);
  if (ec) {
    std::filesystem::remove(from, ec);
    throw IoError(to.string() + ": cannot move into place: " + ec.message());
  }
}
}  // namespace

void write_text_file(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw IoError(path.string() + ": cannot open for writing: " + std::strerror(errno));
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.flush();
  if (!out) throw IoError(path.string() + ": write failed");
}

void replace_file(const std::filesystem::path& path, const std::function<void(std::ostream&)>& write) {
  const std::filesystem::path temp = sibling(path);
  try {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw IoError(temp.string() + ": cannot open for writing: " + std::strerror(errno));
    write(out);
    out.flush();
    if (!out) throw IoError(temp.string() + ": write failed");
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(temp, ec);
    throw;
  }
  rename_into_place(temp, path);
}

void create_new_file(const std::filesystem::path& path,
                     const std::function<void(const std::filesystem::path&)>& write) {
  if (std::filesystem::exists(path))
    throw IoError(path.string() + ": already exists; choose another name or remove it");
  const std::filesystem::path temp = sibling(path);
  try {
    write(temp);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(temp, ec);
    throw;
  }
  rename_into_place(temp, path);
}

StreamedFile::StreamedFile(std::filesystem::path path)
    : path_(std::move(path)), out_(path_, std::ios::binary | std::ios::trunc) {
  if (!out_) throw IoError(path_.string() + ": cannot open for writing: " + std::strerror(errno));
}

void StreamedFile::append(const std::function<void(std::ostream&)>& write) {
  write(out_);
  if (!out_) throw IoError(path_.string() + ": write failed");
}

void StreamedFile::flush() {
  out_.flush();
  if (!out_) throw IoError(path_.string() + ": write failed");
}

}  // namespace pk::io
