#include "io/staged_directory.hpp"

#include <atomic>
#include <stdexcept>
#include <string>
#include <system_error>

#include <unistd.h>

namespace pk::io {

namespace {
std::atomic<unsigned> g_counter{0};
}

StagedDirectory::StagedDirectory(std::filesystem::path target) : target_(std::move(target)) {
  if (target_.empty()) throw std::runtime_error("report directory: empty path");
  // "runs/a/" names the directory "runs/a": without this the staging directory would be made
  // inside the target, and the final rename would fail.
  target_ = target_.lexically_normal();
  if (!target_.has_filename() && target_.has_parent_path()) target_ = target_.parent_path();
  if (std::filesystem::exists(target_))
    throw std::runtime_error(target_.string() + ": already exists; choose another directory or remove it");
  // A sibling, so the final rename stays on one file system and is atomic.
  staging_ = target_;
  staging_ += ".partial-" + std::to_string(::getpid()) + "-" + std::to_string(g_counter++);
  std::error_code ec;
  if (target_.has_parent_path()) std::filesystem::create_directories(target_.parent_path(), ec);
  if (!std::filesystem::create_directory(staging_, ec) || ec)
    throw std::runtime_error(staging_.string() + ": cannot create directory" +
                             (ec ? ": " + ec.message() : std::string()));
}

StagedDirectory::~StagedDirectory() {
  if (committed_) return;
  std::error_code ec;
  std::filesystem::remove_all(staging_, ec);  // nothing to do about a failure in a destructor
}

void StagedDirectory::commit() {
  if (committed_) return;
  std::error_code ec;
  std::filesystem::rename(staging_, target_, ec);
  if (ec) throw std::runtime_error(target_.string() + ": cannot move the finished report into place: " + ec.message());
  committed_ = true;
}

}  // namespace pk::io
