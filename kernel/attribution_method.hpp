#pragma once
// Which way the attribution's sums over steps run (docs/mathematics.md, "Attribution under
// momentum and Adam", Memory): forward in time with per-point state (optimizer_shares.hpp, about
// M x D per piece of query points) or backward in time with per-query state
// (attribution_backward.hpp, about Q x C x D per piece), and the automatic choice between them by
// the state each would hold. Both give the same attribution to rounding.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nn/optimizer.hpp"

namespace pk::io {
class JsonWriter;
}

namespace pk::kernel {

/// How the per-point attribution is computed: `automatic` picks the one with less state.
enum class AttributionMethod { automatic, forward, backward };
/// "auto", "forward" or "backward"; throws std::invalid_argument otherwise.
AttributionMethod parse_attribution_method(std::string_view name);
std::string_view attribution_method_name(AttributionMethod method);

/// What the choice is made from.
struct AttributionProblem {
  pk::nn::OptimizerConfig optimizer;
  std::int64_t training_points = 0, parameters = 0, outputs = 0, steps = 0, batch_capacity = 0;
  std::vector<std::int64_t> piece_queries;  // query points in each piece
  bool shares_attribution = false;          // A_m through the shares: attribution on, no kernel form
  bool exact_attribution = false;
  /// The F2 pair split of a run without kernel form holds the per-point shares whichever way
  /// the attribution runs.
  bool pairs_need_shares = false;
  /// The steps can be read in reverse (a recorded trajectory); the online observer cannot.
  bool steps_in_reverse = false;
};

/// The method used (never `automatic`), what was asked for, why, and the state each method
/// would hold, in bytes summed over the pieces of query points.
struct AttributionPlan {
  AttributionMethod method = AttributionMethod::forward;
  AttributionMethod requested = AttributionMethod::automatic;
  std::string reason;
  std::int64_t forward_bytes = 0, backward_bytes = 0;
};

/// The backward pass's state for one piece of `queries` points: per target (A_m, the exact
/// attribution) one recurrence buffer of Q x C x D for the rules with memory, the step's
/// weights and Jacobians (Q x C x D each), the batch's gradients, the decay's vector, and for
/// Adam each step's preconditioner and step size (N x D + N) with the replay that makes them.
std::int64_t backward_state_bytes(const pk::nn::OptimizerConfig& optimizer, std::int64_t queries,
                                  std::int64_t outputs, std::int64_t parameters, std::int64_t steps,
                                  std::int64_t batch_capacity, bool shares_attribution,
                                  bool exact_attribution);

/// The forward and backward state for `problem` and the method to use: the one asked for, or
/// with `automatic` the one with less state (forward when there is nothing to attribute through
/// shares, when the steps come in order only, or when the pair split holds the per-point shares
/// anyway). Throws std::invalid_argument when `backward` is asked for steps that come in order.
AttributionPlan plan_attribution(AttributionMethod requested, const AttributionProblem& problem);

/// summary.json's account of the choice, as members of the open object: "requested", "chosen"
/// ("per_point_state" or "per_query_backward"), "reason", both methods' estimated state bytes,
/// and the exact attribution's method (null without it).
void write_attribution_plan(pk::io::JsonWriter& j, const AttributionPlan& plan,
                            const std::string& exact_method);

}  // namespace pk::kernel
