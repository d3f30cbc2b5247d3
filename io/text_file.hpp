#pragma once
// Whole files written so that a reader never sees half of one: the bytes go to a temporary
// sibling, which is renamed over the target when complete.

#include <filesystem>
#include <fstream>
#include <functional>
#include <ostream>
#include <string_view>

namespace pk::io {

/// Writes `text` to `path` (created or truncated); throws IoError naming the file on failure.
void write_text_file(const std::filesystem::path& path, std::string_view text);

/// Replaces `path` with what `write` puts into a stream, atomically: written to a temporary sibling
/// and renamed over `path` when complete. On failure the temporary file is removed and `path` is
/// left as it was. Throws IoError naming the file.
void replace_file(const std::filesystem::path& path, const std::function<void(std::ostream&)>& write);

/// Creates `path`, which must not exist yet, by calling `write` with a temporary sibling's path and
/// renaming it when `write` returns: a failure leaves neither file behind. Throws IoError when
/// `path` exists (before calling `write`) or cannot be written.
void create_new_file(const std::filesystem::path& path,
                     const std::function<void(const std::filesystem::path&)>& write);

/// A file written in pieces as its rows are computed (a streamed report's steps.csv), meant to
/// live in a staged directory that makes it visible only when whole. Every write is checked, so a
/// full disk is an IoError naming the file, never a silently short file.
class StreamedFile {
 public:
  /// Creates or truncates `path`; throws IoError naming it when it cannot be opened.
  explicit StreamedFile(std::filesystem::path path);
  /// Calls `write` with the file's stream, then throws IoError naming the file if a write failed.
  void append(const std::function<void(std::ostream&)>& write);
  /// Flushes and checks what was written.
  void flush();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::ofstream out_;
};

}  // namespace pk::io
