#pragma once
// A directory that appears complete or not at all.

#include <filesystem>
#include <vector>

namespace pk::io {

/// Files are written into a temporary sibling of `target` ("<target>.partial-<pid>-<n>");
/// `commit` renames it to `target` in one step. Destroyed without `commit` (an error, an
/// exception), the temporary directory is removed, and so are the parent directories the
/// constructor created, so a failed run leaves nothing behind. A process stopped by a signal
/// cleans up the same way through `remove_unfinished_directories`.
class StagedDirectory {
 public:
  /// Throws std::runtime_error naming the path when `target` exists already or the temporary
  /// directory cannot be created (so an output location that cannot be written is found before
  /// the work starts).
  explicit StagedDirectory(std::filesystem::path target);
  StagedDirectory(const StagedDirectory&) = delete;
  StagedDirectory& operator=(const StagedDirectory&) = delete;
  ~StagedDirectory();

  /// Where to write the files now.
  const std::filesystem::path& path() const { return staging_; }
  /// Where they will be after `commit`.
  const std::filesystem::path& target() const { return target_; }
  /// Renames the staging directory to the target.
  void commit();

 private:
  std::filesystem::path target_, staging_;
  std::vector<std::filesystem::path> created_parents_;  // deepest first
  bool committed_ = false;
  friend int remove_unfinished_directories();
};

/// Removes every staging directory of this process that is not committed, with the parents
/// they created; returns how many. Meant for a signal-handling thread (not a signal handler):
/// the command calls it when SIGINT or SIGTERM arrives, then exits.
int remove_unfinished_directories();

}  // namespace pk::io
