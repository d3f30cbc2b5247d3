#pragma once
// Reading a whole file, with the error every nn reader reports.

#include <filesystem>
#include <string>

namespace pk::io {

/// The file's bytes; throws IoError naming the file when it cannot be opened or read.
std::string read_file_bytes(const std::filesystem::path& path);

}  // namespace pk::io
