#pragma once
// A directory that appears complete or not at all.

#include <filesystem>

namespace pk::io {

/// Files are written into a temporary sibling of `target` ("<target>.partial-<pid>-<n>");
/// `commit` renames it to `target` in one step. Destroyed without `commit` (an error, an
/// exception), the temporary directory is removed, so a failed run leaves nothing behind.
class StagedDirectory {
 public:
  /// Throws std::runtime_error naming the path when `target` exists already or the temporary
  /// directory cannot be created.
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
  bool committed_ = false;
};

}  // namespace pk::io
