#include "kernel/parallel_for.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

namespace {

using pk::kernel::parallel_for;

TEST(ParallelFor, CallsEveryIndexExactlyOnceForAnyThreadCount) {
  for (int threads : {0, 1, 2, 3, 8})
    for (std::size_t count : {0u, 1u, 2u, 7u, 100u}) {
      std::vector<std::atomic<int>> calls(count);
      parallel_for(count, threads, [&](std::size_t i) { ++calls[i]; });
      for (std::size_t i = 0; i < count; ++i)
        EXPECT_EQ(calls[i].load(), 1) << "index " << i << " of " << count << ", " << threads << " threads";
    }
}

TEST(ParallelFor, RethrowsTheFailureAfterJoiningAndStopsHandingOut) {
  std::atomic<int> calls{0};
  try {
    parallel_for(1000, 2, [&](std::size_t i) {
      ++calls;
      if (i == 3) throw std::runtime_error("item 3 failed");
    });
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "item 3 failed");
  }
  // Items already handed out finish; nothing after the failure is started on its thread.
  EXPECT_LT(calls.load(), 1000);
}

}  // namespace
