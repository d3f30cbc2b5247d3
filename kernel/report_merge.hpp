#pragma once
// Partial reports of ranges of steps, and their merge into the report one run over every step
// would have written. A partial report keeps every step's numbers exactly (rows.npy: the
// per-step values the report files are computed from) and the attribution's sum over each block
// of kStepBlock steps (attribution_blocks.npy); merging replays the rows in step order through
// the same online totals (kernel/report_stream.hpp) and adds the blocks in order, which is the
// grouping the single run uses, so the merged files are the same bytes.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "kernel/decomposition.hpp"
#include "kernel/report_writer.hpp"

namespace pk::kernel {

/// What a partial report says about itself (part.json).
struct PartFacts {
  std::int64_t first = 0, end = 0;  // steps [first, end)
  std::int64_t steps = 0;           // N of the whole run
  std::int64_t plot_query = 0;
  RunDescription run;
  /// Sizes, options, optimiser, kernel form and the attribution's facts; no rows.
  DecompositionReport layout;
  /// The sizes of the kBlockSums members in attribution_blocks.npy, in that order.
  std::vector<std::int64_t> block_sums;
  /// The query points (P x F) when the part recorded them.
  std::optional<pk::ad::Tensor> queries;
  /// The part's five timings; empty when the file has none (a hand-edited part).
  std::vector<double> seconds;
};

/// Writes a partial report into `directory` (which must exist) as the decomposition hands over
/// its blocks: pass `sink()` to `decompose_stream` for steps [first, end). `first` must be a
/// multiple of kStepBlock (so the attribution's blocks are the whole run's blocks).
class PartWriter {
 public:
  PartWriter(const std::filesystem::path& directory, std::int64_t first, std::int64_t end,
             std::int64_t total_steps);
  ~PartWriter();
  StepBlockSink sink();
  /// Writes f(x; w_first), f(x; w_end), the query points (when given, for the merged report's
  /// labels and query_points.csv), the timings and part.json.
  void finish(const DecompositionReport& tail, const RunDescription& run, std::int64_t plot_query,
              const pk::ad::Tensor* queries = nullptr);

 private:
  struct Files;
  void add(const DecompositionReport& block, std::int64_t first);
  std::filesystem::path directory_;
  std::int64_t first_, end_, total_steps_, next_;
  std::unique_ptr<Files> files_;
  DecompositionReport layout_;
  std::vector<std::int64_t> sums_;  // the sizes of the block's kBlockSums members
};

/// Reads part.json of a partial report; throws std::runtime_error naming the file.
PartFacts read_part(const std::filesystem::path& directory);

/// Replays partial reports that together cover every step of one run exactly once (in any order
/// on the command line) into `sink`, block by block in step order, and returns the tail a single
/// run would have returned: f(x; w_0), f(x; w_N), the attribution added block by block in order,
/// and the timings added up. Throws std::invalid_argument when the parts do not fit together.
DecompositionReport replay_parts(const std::vector<std::filesystem::path>& parts, const StepBlockSink& sink);

}  // namespace pk::kernel
