#pragma once
// Bump allocation of float64 buffers for recorded values.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace pk::ad {

/// Hands out float64 buffers by bumping a pointer through blocks that double in size. Nothing
/// is freed one buffer at a time: `rewind` returns to a mark and `clear` to the start, and both
/// keep the blocks, so a loop that records the same computation after each clear allocates no
/// heap memory after its first iteration.
class Arena {
 public:
  /// A position to return to with `rewind`.
  struct Mark {
    std::size_t block = 0;
    std::size_t used = 0;
  };

  explicit Arena(std::size_t first_block_doubles = 1 << 14);
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Arena(Arena&& other) noexcept;
  Arena& operator=(Arena&& other) noexcept;
  ~Arena();

  /// An uninitialised buffer of n doubles, 64-byte aligned.
  double* allocate(std::int64_t n);
  Mark mark() const { return {current_, used_}; }
  /// Forgets every buffer handed out after `m`.
  void rewind(Mark m) {
    current_ = m.block;
    used_ = m.used;
  }
  void clear() { rewind({}); }
  /// Bytes held in blocks (what the process has taken from the heap for this arena).
  std::size_t reserved_bytes() const;

 private:
  struct Block {
    double* data;
    std::size_t capacity;  // in doubles
  };
  std::vector<Block> blocks_;
  std::size_t current_ = 0;
  std::size_t used_ = 0;
  std::size_t first_block_;
};

}  // namespace pk::ad
