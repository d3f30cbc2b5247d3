#include "kernel/block_pipeline.hpp"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "kernel/parallel_for.hpp"

namespace pk::kernel {

namespace {

// The schedule, guarded by one mutex. A free thread takes the piece of the earliest block that
// may run (its piece is idle, its previous block done, its block prepared and within the
// look-ahead), or reads ahead when the pieces are no further than one block behind. Pieces are
// coarse (milliseconds each), so one lock and a scan over the pieces are cheap.
class Schedule {
 public:
  Schedule(const BlockPipeline& work, pk::ad::FunctionRef<void(std::size_t)> prepare,
           pk::ad::FunctionRef<void(std::size_t, std::size_t)> piece,
           pk::ad::FunctionRef<void(std::size_t)> hand_on)
      : work_(work),
        prepare_(prepare),
        piece_(piece),
        hand_on_(hand_on),
        prepared_(work.blocks, 0),
        remaining_(work.blocks, work.pieces),
        piece_block_(work.pieces, 0),
        running_(work.pieces, 0) {}

  void work() {
    std::unique_lock lock(mutex_);
    while (!failure_) {
      const std::size_t limit = std::min(work_.blocks, handed_on_ + work_.ahead);
      std::size_t best = work_.pieces, best_block = work_.blocks, unfinished = 0;
      for (std::size_t i = 0; i < work_.pieces; ++i) {
        const std::size_t b = piece_block_[i];
        if (b < work_.blocks) ++unfinished;
        if (!running_[i] && b < limit && prepared_[b] && b < best_block) {
          best = i;
          best_block = b;
        }
      }
      if (next_prepare_ < std::min(work_.blocks, handed_on_ + work_.ahead + 1) &&
          (best == work_.pieces || next_prepare_ <= best_block + 1)) {
        const std::size_t b = next_prepare_++;
        if (!run(lock, [&] { prepare_(b); })) break;
        prepared_[b] = 1;
        changed_.notify_all();
        continue;
      }
      if (best < work_.pieces) {
        running_[best] = 1;
        if (!run(lock, [&] { piece_(best_block, best); })) break;
        running_[best] = 0;
        ++piece_block_[best];
        --remaining_[best_block];
        hand_on_finished(lock);
        changed_.notify_all();
        continue;
      }
      if (unfinished == 0 && next_prepare_ == work_.blocks) break;  // the last hand-overs are under way
      changed_.wait(lock);
    }
  }

  void rethrow() const {
    if (failure_) std::rethrow_exception(failure_);
  }

 private:
  // Runs f without the lock; false (and every thread told) when it throws.
  template <class F>
  bool run(std::unique_lock<std::mutex>& lock, F&& f) {
    lock.unlock();
    std::exception_ptr thrown;
    try {
      f();
    } catch (...) {
      thrown = std::current_exception();
    }
    lock.lock();
    if (!thrown) return true;
    if (!failure_) failure_ = thrown;
    changed_.notify_all();
    return false;
  }

  // Hands on every finished block in order; one thread at a time, the others meanwhile go on
  // with pieces.
  void hand_on_finished(std::unique_lock<std::mutex>& lock) {
    while (!handing_on_ && !failure_ && handed_on_ < work_.blocks && remaining_[handed_on_] == 0) {
      handing_on_ = true;
      const std::size_t b = handed_on_;
      const bool ok = run(lock, [&] { hand_on_(b); });
      handing_on_ = false;
      if (!ok) return;
      ++handed_on_;
      changed_.notify_all();
    }
  }

  const BlockPipeline& work_;
  pk::ad::FunctionRef<void(std::size_t)> prepare_;
  pk::ad::FunctionRef<void(std::size_t, std::size_t)> piece_;
  pk::ad::FunctionRef<void(std::size_t)> hand_on_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<char> prepared_;            // per block: prepare has returned
  std::vector<std::size_t> remaining_;    // per block: pieces not yet done
  std::vector<std::size_t> piece_block_;  // per piece: the next block it runs
  std::vector<char> running_;             // per piece: a thread is running it
  std::size_t next_prepare_ = 0, handed_on_ = 0;
  bool handing_on_ = false;
  std::exception_ptr failure_;
};

}  // namespace

void run_block_pipeline(const BlockPipeline& work, int threads,
                        pk::ad::FunctionRef<void(std::size_t)> prepare,
                        pk::ad::FunctionRef<void(std::size_t, std::size_t)> piece,
                        pk::ad::FunctionRef<void(std::size_t)> hand_on) {
  if (work.pieces < 1 || work.ahead < 1)
    throw std::invalid_argument("run_block_pipeline: at least one piece per block and one block ahead");
  if (work.blocks == 0) return;
  Schedule schedule(work, prepare, piece, hand_on);
  // One thread more than pieces can still read ahead and hand on beside them. The threads are
  // parallel_for's (the one place threads are made), each running the schedule's loop.
  const auto used = std::min<std::size_t>(static_cast<std::size_t>(std::max(1, threads)), work.pieces + 1);
  parallel_for(used, static_cast<int>(used), [&](std::size_t) { schedule.work(); });
  schedule.rethrow();
}

}  // namespace pk::kernel
