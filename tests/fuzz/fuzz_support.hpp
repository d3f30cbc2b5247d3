#pragma once
// What the fuzz targets share: a scratch directory of this process (in memory when /dev/shm
// exists, so that writing each input costs no disk), the run directory's files in a fixed order,
// and the length-prefixed container that carries a whole run directory in one fuzz input.

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <system_error>

namespace pk::fuzz {

/// A directory of this process's own, created on first use and removed at exit. Several fuzzing
/// processes (-jobs, -fork) run side by side, so the process id is in the name. libFuzzer often
/// ends a process with _Exit, which skips atexit, so the directories of processes that are gone
/// (no /proc/<pid>) are removed here too.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    std::error_code ec;
    const std::filesystem::path base = std::filesystem::is_directory("/dev/shm", ec)
                                           ? std::filesystem::path("/dev/shm")
                                           : std::filesystem::temp_directory_path();
    const std::string prefix = "pathkernel-fuzz-";
    if (std::filesystem::exists("/proc/self", ec)) {
      for (const auto& entry : std::filesystem::directory_iterator(base, ec)) {
        const std::string name = entry.path().filename().string();
        const std::string pid = name.substr(0, prefix.size()) == prefix ? name.substr(prefix.size()) : "";
        if (!pid.empty() && pid.find_first_not_of("0123456789") == std::string::npos &&
            !std::filesystem::exists("/proc/" + pid, ec))
          std::filesystem::remove_all(entry.path(), ec);
      }
    }
    std::filesystem::path d = base / (prefix + std::to_string(::getpid()));
    std::filesystem::remove_all(d, ec);
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(scratch_dir(), ignored);
    });
    return d;
  }();
  return dir;
}

/// Writes `bytes` to `path`, replacing it; aborts when it cannot, since a fuzz run that silently
/// tests stale files is worse than none.
inline void write_bytes(const std::filesystem::path& path, std::string_view bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || std::fclose(f) != 0) {
    std::perror(path.c_str());
    std::abort();
  }
}

/// The files of a run directory, numbered as the container numbers them.
inline constexpr const char* kRunFiles[] = {"run.json",
                                            "weights.npy",
                                            "learning_rates.npy",
                                            "losses.npy",
                                            "batches.npy",
                                            "output_derivatives.npy",
                                            "training_inputs.npy",
                                            "training_targets.npy"};
inline constexpr std::size_t kRunFileCount = sizeof kRunFiles / sizeof kRunFiles[0];

/// The container: records of [one byte: file number, taken modulo kRunFileCount] [four bytes:
/// length, little-endian] [that many bytes, or as many as are left]. A later record of the same
/// file replaces the earlier one; a file with no record is absent from the directory.
inline std::map<std::size_t, std::string_view> split_container(std::string_view in) {
  std::map<std::size_t, std::string_view> files;
  while (in.size() >= 5) {
    const std::size_t index = static_cast<unsigned char>(in[0]) % kRunFileCount;
    std::uint32_t length = 0;
    for (int i = 4; i >= 1; --i)
      length = (length << 8) | static_cast<unsigned char>(in[static_cast<std::size_t>(i)]);
    in.remove_prefix(5);
    const std::size_t n = std::min<std::size_t>(length, in.size());
    files[index] = in.substr(0, n);
    in.remove_prefix(n);
  }
  return files;
}

/// The container of the given files, the inverse of split_container.
inline std::string join_container(const std::map<std::size_t, std::string>& files) {
  std::string out;
  for (const auto& [index, bytes] : files) {
    out += static_cast<char>(index);
    const auto n = static_cast<std::uint32_t>(bytes.size());
    for (int i = 0; i < 4; ++i) out += static_cast<char>((n >> (8 * i)) & 0xff);
    out += bytes;
  }
  return out;
}

/// With PK_FUZZ_VERBOSE set in the environment, prints why an input was refused: how to check that
/// a seed gets as far as it should (`PK_FUZZ_VERBOSE=1 ./run_directory_fuzz seed`).
inline void report_refusal(const std::exception& e) {
  static const bool verbose = std::getenv("PK_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "refused: %s\n", e.what());
}

/// A finding that is not a crash: a reader accepted input and returned something that
/// contradicts itself. Aborts so that libFuzzer saves the input.
#define PK_FUZZ_CHECK(condition)                                                         \
  do {                                                                                   \
    if (!(condition)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

}  // namespace pk::fuzz
