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

TEST(ParallelFor, RethrowsTheFailureAfterJoining) {
  for (int threads : {1, 2, 4}) {
    std::atomic<int> calls{0};
    try {
      parallel_for(100, threads, [&](std::size_t i) {
        ++calls;
        if (i == 3) throw std::runtime_error("item 3 failed");
      });
      ADD_FAILURE() << "no exception with " << threads << " threads";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "item 3 failed");
    }
    EXPECT_GE(calls.load(), 4);
  }
}

TEST(ParallelFor, StopsHandingOutItemsAfterAFailure) {
  // On one thread the order is the index order, so nothing after the failing item runs.
  std::atomic<int> calls{0};
  EXPECT_THROW(parallel_for(100, 1,
                            [&](std::size_t i) {
                              ++calls;
                              if (i == 3) throw std::runtime_error("item 3 failed");
                            }),
               std::runtime_error);
  EXPECT_EQ(calls.load(), 4);
}

}  // namespace
