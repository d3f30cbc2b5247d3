#include "apps/signals.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "io/staged_directory.hpp"

namespace pk::app {

void stop_cleanly_on_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (const int signal : {SIGINT, SIGTERM}) {
    // A signal the parent set to be ignored (a shell's background job and SIGINT) stays ignored.
    struct sigaction current {};
    if (sigaction(signal, nullptr, &current) == 0 && current.sa_handler == SIG_IGN) continue;
    sigaddset(&set, signal);
  }
  if (pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return;  // signals keep their default action
  // The clean-up runs in an ordinary thread, not in a signal handler, so it may use the file
  // system freely; the work threads never see the signal.
  std::thread([set] {
    int signal = 0;
    if (sigwait(&set, &signal) != 0) return;
    const int removed = io::remove_unfinished_directories();
    std::fprintf(stderr, "\npathkernel: stopped by %s%s\n", signal == SIGINT ? "SIGINT" : "SIGTERM",
                 removed > 0 ? "; the unfinished output was removed" : "");
    std::fflush(stderr);
    _exit(128 + signal);
  }).detach();
}

}  // namespace pk::app
