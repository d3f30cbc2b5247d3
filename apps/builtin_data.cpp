#include "apps/builtin_data.hpp"

#include <cstdlib>
#include <system_error>

#include "apps/arguments.hpp"

#ifndef PATHKERNEL_DATA_RELATIVE_TO_BIN
#define PATHKERNEL_DATA_RELATIVE_TO_BIN "../share/pathkernel"
#endif

namespace pk::app {

namespace fs = std::filesystem;

std::vector<fs::path> builtin_data_directories() {
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("PATHKERNEL_DATA_DIR"); env && *env) dirs.emplace_back(env);
  // /proc/self/exe rather than argv[0]: it names the real file even when the command was found
  // on PATH or through a symbolic link.
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back((exe.parent_path() / PATHKERNEL_DATA_RELATIVE_TO_BIN).lexically_normal());
  return dirs;
}

fs::path builtin_data_file(const std::string& name) {
  const std::vector<fs::path> dirs = builtin_data_directories();
  std::string searched;
  for (const fs::path& dir : dirs) {
    const fs::path file = dir / (name + ".csv");
    std::error_code ec;
    if (fs::is_regular_file(file, ec)) return file;
    searched += (searched.empty() ? "" : ", ") + dir.string();
  }
  throw UsageError("--data " + name + ": built-in data set not found (searched " +
                   (searched.empty() ? std::string("nowhere: cannot locate the executable") : searched) +
                   "; set PATHKERNEL_DATA_DIR to the directory holding " + name + ".csv)");
}

}  // namespace pk::app
