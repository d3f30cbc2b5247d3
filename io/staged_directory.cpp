#include "io/staged_directory.hpp"

#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>

namespace pk::io {

namespace {
std::atomic<unsigned> g_counter{0};

// The live, uncommitted staging directories of the process, for a signal's clean-up.
struct Registry {
  std::mutex mutex;
  std::set<StagedDirectory*> live;
};
Registry& registry() {
  static Registry r;
  return r;
}

void remove_tree(const std::filesystem::path& p) {
  // A worker may still be creating a file inside while we remove it; a few passes win that race.
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::error_code ec;
    std::filesystem::remove_all(p, ec);
    if (!std::filesystem::exists(p, ec)) return;
  }
}

void remove_if_empty(const std::vector<std::filesystem::path>& dirs) {
  for (const std::filesystem::path& d : dirs) {
    std::error_code ec;
    if (!std::filesystem::is_empty(d, ec) || ec) return;  // someone else put something there
    std::filesystem::remove(d, ec);
  }
}
}  // namespace

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
  for (std::filesystem::path p = target_.parent_path(); !p.empty() && !std::filesystem::exists(p, ec);
       p = p.parent_path()) {
    created_parents_.push_back(p);
    if (p == p.parent_path()) break;
  }
  if (target_.has_parent_path()) std::filesystem::create_directories(target_.parent_path(), ec);
  if (!std::filesystem::create_directory(staging_, ec) || ec) {
    remove_if_empty(created_parents_);
    throw std::runtime_error(staging_.string() + ": cannot create directory" +
                             (ec ? ": " + ec.message() : std::string()));
  }
  const std::lock_guard lock(registry().mutex);
  registry().live.insert(this);
}

StagedDirectory::~StagedDirectory() {
  {
    const std::lock_guard lock(registry().mutex);
    registry().live.erase(this);
  }
  if (committed_) return;
  remove_tree(staging_);
  remove_if_empty(created_parents_);
}

void StagedDirectory::commit() {
  if (committed_) return;
  std::error_code ec;
  std::filesystem::rename(staging_, target_, ec);
  if (ec)
    throw std::runtime_error(target_.string() +
                             ": cannot move the finished report into place: " + ec.message());
  const std::lock_guard lock(registry().mutex);
  committed_ = true;
  registry().live.erase(this);
}

int remove_unfinished_directories() {
  const std::lock_guard lock(registry().mutex);
  int removed = 0;
  for (StagedDirectory* d : registry().live) {
    remove_tree(d->path());
    ++removed;
  }
  // Parents after every staging directory: two outputs may share a created parent.
  for (StagedDirectory* d : registry().live) remove_if_empty(d->created_parents_);
  return removed;
}

}  // namespace pk::io
