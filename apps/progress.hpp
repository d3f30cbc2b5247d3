#pragma once
// A progress bar on stderr, shown only when stderr is a terminal and --quiet was not given.

#include <cstddef>
#include <string>

namespace pk::app {

/// Redraws one line on stderr: "label [#####     ] done/total". Silent when disabled.
class Progress {
 public:
  Progress(std::string label, std::size_t total, bool enabled);
  ~Progress();
  void update(std::size_t done);
  /// Also sets the total, for work whose size is known only once it runs.
  void update(std::size_t done, std::size_t total) {
    total_ = total;
    update(done);
  }
  /// Ends the line (also done by the destructor).
  void finish();
  /// True when stderr is a terminal.
  static bool stderr_is_terminal();

 private:
  std::string label_;
  std::size_t total_;
  bool enabled_, open_ = false;
};

}  // namespace pk::app
