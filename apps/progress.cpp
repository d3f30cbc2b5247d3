#include "apps/progress.hpp"

#include <cstdio>

#include <unistd.h>

namespace pk::app {

bool Progress::stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::string label, std::size_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled) {
  update(0);
}

Progress::~Progress() { finish(); }

void Progress::update(std::size_t done) {
  if (!enabled_) return;
  constexpr std::size_t width = 30;
  const std::size_t filled = total_ ? width * done / total_ : width;
  std::fprintf(stderr, "\r%s [", label_.c_str());
  for (std::size_t i = 0; i < width; ++i) std::fputc(i < filled ? '#' : ' ', stderr);
  std::fprintf(stderr, "] %zu/%zu", done, total_);
  std::fflush(stderr);
  open_ = true;
}

void Progress::finish() {
  if (!enabled_ || !open_) return;
  std::fputc('\n', stderr);
  open_ = false;
}

}  // namespace pk::app
