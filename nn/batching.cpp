#include "nn/batching.hpp"

#include <algorithm>
#include <numeric>
#include <string>

#include "nn/error.hpp"

namespace pk::nn {

BatchSampler::BatchSampler(std::int64_t sample_count, const BatchConfig& config)
    : sample_count_(sample_count),
      batch_size_(config.batch_size),
      drop_last_(config.drop_last),
      rng_(config.seed) {
  if (sample_count <= 0) throw SpecError("batches: no training samples");
  if (config.batch_size < 0)
    throw SpecError("batches: negative batch size " + std::to_string(config.batch_size));
  if (batch_size_ == 0 || batch_size_ > sample_count_) batch_size_ = sample_count_;
  order_.resize(static_cast<std::size_t>(sample_count_));
  std::iota(order_.begin(), order_.end(), std::int64_t{0});
  if (full_batch()) {
    batch_ = order_;
  } else {
    position_ = sample_count_;  // the first call starts an epoch
  }
}

std::span<const std::int64_t> BatchSampler::next() {
  if (full_batch()) return batch_;
  const std::int64_t remaining = sample_count_ - position_;
  if (remaining == 0 || (drop_last_ && remaining < batch_size_)) {
    std::iota(order_.begin(), order_.end(), std::int64_t{0});
    rng_.shuffle(order_);
    position_ = 0;
  }
  const std::int64_t n = std::min(batch_size_, sample_count_ - position_);
  batch_.assign(order_.begin() + position_, order_.begin() + position_ + n);
  // Ascending rows: the batch is a set, and sorted rows make the recorded L' easy to line up.
  std::sort(batch_.begin(), batch_.end());
  position_ += n;
  return batch_;
}

}  // namespace pk::nn
