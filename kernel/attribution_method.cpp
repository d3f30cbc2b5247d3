#include "kernel/attribution_method.hpp"

#include <stdexcept>

#include "io/json_writer.hpp"
#include "kernel/optimizer_shares.hpp"

namespace pk::kernel {

using pk::nn::OptimizerKind;

AttributionMethod parse_attribution_method(std::string_view name) {
  if (name == "auto") return AttributionMethod::automatic;
  if (name == "forward") return AttributionMethod::forward;
  if (name == "backward") return AttributionMethod::backward;
  throw std::invalid_argument("unknown attribution method '" + std::string(name) +
                              "' (expected auto, forward or backward)");
}

std::string_view attribution_method_name(AttributionMethod method) {
  switch (method) {
    case AttributionMethod::automatic:
      return "auto";
    case AttributionMethod::forward:
      return "forward";
    case AttributionMethod::backward:
      return "backward";
  }
  return "?";
}

std::int64_t backward_state_bytes(const pk::nn::OptimizerConfig& optimizer, std::int64_t queries,
                                  std::int64_t outputs, std::int64_t parameters, std::int64_t steps,
                                  std::int64_t batch_capacity, bool shares_attribution,
                                  bool exact_attribution) {
  const std::int64_t targets = (shares_attribution ? 1 : 0) + (exact_attribution ? 1 : 0);
  if (targets == 0) return 0;
  const std::int64_t rows = queries * outputs, d = parameters;
  const bool adam = threshold_is_preconditioned(optimizer);
  const bool memory = adam || optimizer.kind == OptimizerKind::momentum;
  std::int64_t doubles = (memory ? targets * rows * d : 0)  // the recurrences' buffers
                         + 2 * rows * d                     // u_k and the step's (integrated) Jacobians
                         + batch_capacity * d + d;          // v_{k,m} of the batch, the decay's vector
  std::int64_t bytes = 0;
  if (adam) {
    doubles += steps * d + steps;  // P_k and alpha_k / (1 - b1^(k+1)) of every step
    bytes += OptimizerShares::state_bytes_for(optimizer, 0, d, 0, false);  // the replay that makes them
  }
  return bytes + doubles * static_cast<std::int64_t>(sizeof(double));
}

AttributionPlan plan_attribution(AttributionMethod requested, const AttributionProblem& p) {
  AttributionPlan plan;
  plan.requested = requested;
  const bool any = p.shares_attribution || p.exact_attribution;
  if (requested == AttributionMethod::backward && !p.steps_in_reverse)
    throw std::invalid_argument(
        "attribution method backward: needs the steps in reverse, i.e. a recorded "
        "trajectory (decompose), not a run followed as it trains");
  const std::int64_t pieces = static_cast<std::int64_t>(p.piece_queries.size());
  // The replay that checks the run (and gives Adam's preconditioner for the sharpness) is there
  // either way; the per-point shares are there for the pair split either way.
  const std::int64_t replay =
      OptimizerShares::state_bytes_for(p.optimizer, p.training_points, p.parameters, p.batch_capacity, false);
  const std::int64_t per_point =
      OptimizerShares::state_bytes_for(p.optimizer, p.training_points, p.parameters, p.batch_capacity, true);
  if (any) {
    plan.forward_bytes = pieces * per_point;
    plan.backward_bytes = pieces * (p.pairs_need_shares ? per_point : replay);
    for (std::int64_t q : p.piece_queries)
      plan.backward_bytes +=
          backward_state_bytes(p.optimizer, q, p.outputs, p.parameters, p.steps, p.batch_capacity,
                               p.shares_attribution, p.exact_attribution);
  }
  if (requested != AttributionMethod::automatic) {
    plan.method = requested;
    plan.reason = "asked for";
    if (!any) plan.reason += "; nothing is attributed through the optimiser's shares";
    return plan;
  }
  plan.method = AttributionMethod::forward;
  if (!any)
    plan.reason = "auto: nothing is attributed through the optimiser's shares";
  else if (!p.steps_in_reverse)
    plan.reason = "auto: the steps arrive in order (online), so the sums run forward";
  else if (p.pairs_need_shares)
    plan.reason = "auto: the F2 pair split holds the per-point shares anyway";
  else if (plan.backward_bytes < plan.forward_bytes) {
    plan.method = AttributionMethod::backward;
    plan.reason = "auto: per-query state (Q x C x D) is smaller than per-point state (M x D)";
  } else {
    plan.reason = "auto: per-point state (M x D) is no larger than per-query state (Q x C x D)";
  }
  return plan;
}

void write_attribution_plan(pk::io::JsonWriter& j, const AttributionPlan& plan,
                            const std::string& exact_method) {
  j.member("requested", attribution_method_name(plan.requested));
  j.member("chosen", plan.method == AttributionMethod::backward ? "per_query_backward" : "per_point_state");
  j.member("reason", plan.reason);
  j.member("forward_state_bytes_estimate", plan.forward_bytes);
  j.member("backward_state_bytes_estimate", plan.backward_bytes);
  if (exact_method.empty())
    j.key("exact_attribution_method").null();
  else
    j.member("exact_attribution_method", exact_method);
}

}  // namespace pk::kernel
