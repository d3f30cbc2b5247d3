#pragma once
// SIGINT and SIGTERM: the command stops at once, removes every unfinished output directory and
// exits with 128 + the signal's number (130, 143), as shells expect.

namespace pk::app {

/// Blocks SIGINT and SIGTERM in this thread and every thread it starts later, and starts one
/// thread that waits for them and cleans up. Call first thing in main, before any other thread.
void stop_cleanly_on_signals();

}  // namespace pk::app
