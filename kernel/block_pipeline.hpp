#pragma once
// Blocks of steps decomposed piece by piece on threads without a barrier between blocks: a
// thread that finishes its piece of one block goes on to the next block's pieces while the
// other threads finish theirs, and each block is handed on, in order, as soon as its last piece
// is done. A barrier per block (every thread waiting for the slowest piece, then for the
// hand-over) cost a 2-thread decomposition about a tenth of its time.
//
// Nothing in a result depends on the schedule: a piece's blocks run one at a time and in order,
// and the hand-overs run one at a time and in block order.

#include <cstddef>

#include "autodiff/function_ref.hpp"

namespace pk::kernel {

/// The work of `blocks` blocks cut into `pieces` pieces each (at least one).
struct BlockPipeline {
  std::size_t blocks = 0;
  std::size_t pieces = 1;
  /// Blocks whose pieces may run while an earlier block waits to be handed on: what bounds
  /// memory. Block b starts only once blocks before b - ahead + 1 are handed on; prepare(b) may
  /// run one block earlier still. So at most `ahead` blocks' results and `ahead` + 1 blocks'
  /// prepared inputs exist at once. At least 1.
  std::size_t ahead = 2;
};

/// Runs prepare(b) once per block (reading its steps, say), piece(b, i) for every block b and
/// piece i, and hand_on(b) once all of block b's pieces are done, on min(threads, pieces + 1)
/// threads, the calling thread among them. piece(b, i) runs after prepare(b) and after
/// piece(b - 1, i); hand_on(b) after hand_on(b - 1), never two at once. After the first
/// exception nothing new starts; once every thread has joined, that exception is rethrown.
/// prepare and piece must be safe to call concurrently for different blocks and pieces.
void run_block_pipeline(const BlockPipeline& work, int threads,
                        pk::ad::FunctionRef<void(std::size_t)> prepare,
                        pk::ad::FunctionRef<void(std::size_t, std::size_t)> piece,
                        pk::ad::FunctionRef<void(std::size_t)> hand_on);

}  // namespace pk::kernel
