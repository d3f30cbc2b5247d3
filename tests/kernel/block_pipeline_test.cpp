#include "kernel/block_pipeline.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

using pk::kernel::BlockPipeline;
using pk::kernel::run_block_pipeline;

// What a run did, in the order it did it, with the guarantees of block_pipeline.hpp checked
// as it goes: a piece's blocks in order and after their block's prepare, hand-overs in order,
// after every piece of their block, one at a time, and never more blocks in flight than allowed.
struct Log {
  explicit Log(const BlockPipeline& w) : work(w), piece_next(w.pieces, 0), pieces_done(w.blocks, 0) {}
  const BlockPipeline& work;
  std::mutex mutex;
  std::vector<std::size_t> piece_next, pieces_done;
  std::size_t prepared = 0, handed_on = 0;
  std::vector<char> prepared_block = std::vector<char>(work.blocks, 0);
  std::atomic<int> handing_on{0};
  std::vector<std::string> violations;

  void prepare(std::size_t b) {
    std::lock_guard lock(mutex);
    if (b > handed_on + work.ahead) violations.push_back("prepare " + std::to_string(b) + " too early");
    prepared_block[b] = 1;
    ++prepared;
  }
  void piece(std::size_t b, std::size_t i) {
    {
      std::lock_guard lock(mutex);
      if (!prepared_block[b]) violations.push_back("piece before its block's prepare");
      if (piece_next[i] != b) violations.push_back("piece " + std::to_string(i) + " out of order");
      if (b >= handed_on + work.ahead)
        violations.push_back("block " + std::to_string(b) + " started too early");
    }
    std::this_thread::sleep_for(std::chrono::microseconds((b * 7 + i * 13) % 50));  // uneven pieces
    std::lock_guard lock(mutex);
    ++piece_next[i];
    ++pieces_done[b];
  }
  void hand_on(std::size_t b) {
    if (handing_on.fetch_add(1) != 0) violations.push_back("two hand-overs at once");
    {
      std::lock_guard lock(mutex);
      if (b != handed_on) violations.push_back("hand-over " + std::to_string(b) + " out of order");
      if (pieces_done[b] != work.pieces) violations.push_back("hand-over before every piece is done");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(30));
    std::lock_guard lock(mutex);
    ++handed_on;
    --handing_on;
  }
};

TEST(BlockPipeline, KeepsEveryOrderingGuaranteeForAnyThreadCount) {
  for (int threads : {0, 1, 2, 3, 8})
    for (std::size_t blocks : {0u, 1u, 2u, 9u})
      for (std::size_t pieces : {1u, 2u, 5u})
        for (std::size_t ahead : {1u, 2u, 3u}) {
          const BlockPipeline work{blocks, pieces, ahead};
          Log log(work);
          run_block_pipeline(
              work, threads, [&](std::size_t b) { log.prepare(b); },
              [&](std::size_t b, std::size_t i) { log.piece(b, i); }, [&](std::size_t b) { log.hand_on(b); });
          const std::string where = std::to_string(threads) + " threads, " + std::to_string(blocks) +
                                    " blocks, " + std::to_string(pieces) + " pieces, " +
                                    std::to_string(ahead) + " ahead";
          EXPECT_TRUE(log.violations.empty()) << where << ": " << log.violations.front();
          EXPECT_EQ(log.prepared, blocks) << where;
          EXPECT_EQ(log.handed_on, blocks) << where;
          for (std::size_t i = 0; i < pieces; ++i) EXPECT_EQ(log.piece_next[i], blocks) << where;
        }
}

TEST(BlockPipeline, RunsPiecesOfDifferentBlocksAtOnceWithoutABarrier) {
  // Piece 0 of block 0 waits (up to 5 s) for piece 1 to finish blocks 0 and 1: with two threads
  // and two blocks ahead it does, which a barrier per block would forbid.
  const BlockPipeline work{4, 2, 2};
  std::atomic<int> piece1_done{0};
  int piece1_done_meanwhile = -1;
  run_block_pipeline(
      work, 2, [](std::size_t) {},
      [&](std::size_t b, std::size_t i) {
        if (i == 1) ++piece1_done;
        if (b != 0 || i != 0) return;
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (piece1_done < 2 && std::chrono::steady_clock::now() < until)
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        piece1_done_meanwhile = piece1_done;
      },
      [](std::size_t) {});
  EXPECT_EQ(piece1_done_meanwhile, 2);
  EXPECT_EQ(piece1_done.load(), 4);
}

TEST(BlockPipeline, RethrowsTheFirstFailureAfterJoiningAndStartsNothingNew) {
  for (int threads : {1, 2, 4})
    for (int where : {0, 1, 2}) {  // in a prepare, a piece, a hand-over
      std::atomic<int> after{0};
      std::atomic<bool> failed{false};
      std::atomic<int> handed_on{0};
      auto maybe_fail = [&](int here, std::size_t b) {
        if (failed) ++after;
        if (here == where && b == 3) {
          failed = true;
          throw std::runtime_error("block 3 failed");
        }
      };
      try {
        run_block_pipeline(
            BlockPipeline{10, 3, 2}, threads, [&](std::size_t b) { maybe_fail(0, b); },
            [&](std::size_t b, std::size_t) { maybe_fail(1, b); },
            [&](std::size_t b) {
              maybe_fail(2, b);
              ++handed_on;
            });
        ADD_FAILURE() << "no exception";
      } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "block 3 failed");
      }
      // On one thread nothing runs after the failure; on more, what other threads had started
      // (or took before the failure was seen) may finish, but the run stops well short of its end.
      if (threads == 1) {
        EXPECT_EQ(after.load(), 0) << "failure in stage " << where;
      }
      EXPECT_LT(handed_on.load(), 10) << threads << " threads, failure in stage " << where;
    }
}

TEST(BlockPipeline, RefusesNoPiecesOrNoLookahead) {
  auto none = [](std::size_t) {};
  auto piece = [](std::size_t, std::size_t) {};
  EXPECT_THROW(run_block_pipeline(BlockPipeline{3, 0, 2}, 2, none, piece, none), std::invalid_argument);
  EXPECT_THROW(run_block_pipeline(BlockPipeline{3, 2, 0}, 2, none, piece, none), std::invalid_argument);
}

}  // namespace
