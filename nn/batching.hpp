#pragma once
// Which training rows each step uses: all of them (full-batch descent) or seeded mini-batches.

#include <cstdint>
#include <span>
#include <vector>

#include "nn/random.hpp"

namespace pk::nn {

/// How steps draw their batches. `batch_size` 0 (or >= the number of samples) is full-batch
/// descent. Otherwise each epoch is a fresh permutation of the rows, from one generator seeded
/// with `seed`, cut into consecutive batches of `batch_size`; the last, shorter batch of an
/// epoch is used unless `drop_last`.
struct BatchConfig {
  std::int64_t batch_size = 0;
  std::uint64_t seed = 0;
  bool drop_last = false;

  friend bool operator==(const BatchConfig&, const BatchConfig&) = default;
};

/// Hands out the batch of each step in turn.
class BatchSampler {
 public:
  /// Throws SpecError for a negative batch size or no samples.
  BatchSampler(std::int64_t sample_count, const BatchConfig& config);
  /// The next step's batch: 0-based rows in ascending order. Valid until the next call.
  std::span<const std::int64_t> next();
  /// The largest batch this sampler hands out.
  std::int64_t capacity() const { return batch_size_; }
  /// True when every step uses every row.
  bool full_batch() const { return batch_size_ == sample_count_; }

 private:
  std::int64_t sample_count_;
  std::int64_t batch_size_;
  bool drop_last_;
  Rng rng_;
  std::vector<std::int64_t> order_;  // this epoch's permutation
  std::int64_t position_ = 0;        // start of the next batch in order_
  std::vector<std::int64_t> batch_;
};

}  // namespace pk::nn
