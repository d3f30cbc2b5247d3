#include "autodiff/arena.hpp"

#include <new>

namespace pk::ad {

namespace {
constexpr std::size_t kAlignDoubles = 8;  // 64 bytes: one cache line, one AVX-512 register
constexpr std::align_val_t kAlign{64};

std::size_t round_up(std::size_t n) { return (n + kAlignDoubles - 1) / kAlignDoubles * kAlignDoubles; }
}  // namespace

Arena::Arena(std::size_t first_block_doubles) : first_block_(round_up(first_block_doubles)) {}

Arena::~Arena() {
  for (Block& b : blocks_) ::operator delete(b.data, kAlign);
}

Arena::Arena(Arena&& other) noexcept
    : blocks_(std::move(other.blocks_)),
      current_(other.current_),
      used_(other.used_),
      first_block_(other.first_block_) {
  other.blocks_.clear();
  other.current_ = other.used_ = 0;
}

Arena& Arena::operator=(Arena&& other) noexcept {
  if (this == &other) return *this;
  for (Block& b : blocks_) ::operator delete(b.data, kAlign);  // the blocks this arena owned
  blocks_ = std::move(other.blocks_);
  current_ = other.current_;
  used_ = other.used_;
  first_block_ = other.first_block_;
  other.blocks_.clear();
  other.current_ = other.used_ = 0;
  return *this;
}

double* Arena::allocate(std::int64_t n) {
  const std::size_t need = round_up(n > 0 ? static_cast<std::size_t>(n) : 1);
  while (current_ < blocks_.size()) {
    Block& b = blocks_[current_];
    if (used_ + need <= b.capacity) {
      double* p = b.data + used_;
      used_ += need;
      return p;
    }
    // The rest of this block is skipped; later blocks are larger, so the waste is bounded.
    ++current_;
    used_ = 0;
  }
  std::size_t cap = blocks_.empty() ? first_block_ : blocks_.back().capacity * 2;
  while (cap < need) cap *= 2;
  auto* data = static_cast<double*>(::operator new(cap * sizeof(double), kAlign));
  blocks_.push_back({data, cap});
  current_ = blocks_.size() - 1;
  used_ = need;
  return data;
}

std::size_t Arena::reserved_bytes() const {
  std::size_t total = 0;
  for (const Block& b : blocks_) total += b.capacity * sizeof(double);
  return total;
}

}  // namespace pk::ad
