#include "kernel/decomposition.hpp"
// Decomposing a whole run: the query points cut into pieces run on threads (parallel_for), the
// steps in blocks of kStepBlock handed to a sink, the pieces merged in query order, the backward
// attribution after the blocks; and the observer that decomposes a run while it trains.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "autodiff/error.hpp"
#include "kernel/attribution_backward.hpp"
#include "kernel/block_pipeline.hpp"
#include "kernel/optimizer_shares.hpp"
#include "kernel/parallel_for.hpp"
#include "kernel/report_arithmetic.hpp"

namespace pk::kernel {

using namespace report_arithmetic;

using pk::ad::Shape;
using pk::ad::Tensor;
using pk::ad::TensorView;
using pk::ad::Var;

namespace {
// The query points cut into pieces of options.query_chunk; each piece's options carry the pair
// query (local to its piece) and sharpness only where they belong, so no work is repeated.
struct Pieces {
  std::vector<Decomposer> parts;
  std::vector<std::int64_t> offsets;
};

Pieces make_pieces(const pk::nn::Model& model, const pk::nn::Loss& loss, const Tensor& queries,
                   const Tensor& inputs, const Tensor& targets, const pk::nn::OptimizerConfig& optimizer,
                   const DecompositionOptions& options) {
  if (queries.shape().rank != 2 || queries.shape().dim(1) != model.input_dim())
    throw pk::ad::ShapeError("decompose: query points of shape " + queries.shape().str() +
                             " for a model of " + std::to_string(model.input_dim()) + " inputs");
  if (options.query_chunk < 1) throw std::invalid_argument("decompose: query_chunk must be at least 1");
  const std::int64_t p = queries.shape().dim(0), features = queries.shape().dim(1);
  if (options.pair_query >= p)
    throw std::invalid_argument("decompose: pair query " + std::to_string(options.pair_query) + " but only " +
                                std::to_string(p) + " query points");
  Pieces pieces;
  // The sharpness does not depend on the query points: its measurements go round the pieces, so
  // no piece carries them all and threads stay balanced. Adam's preconditioned sharpness needs
  // the optimiser's state, which only the first piece then holds: it measures them all.
  const std::int64_t count = (std::max<std::int64_t>(p, 1) + options.query_chunk - 1) / options.query_chunk;
  const bool rotate = !threshold_is_preconditioned(optimizer);
  for (std::int64_t first = 0; first < std::max<std::int64_t>(p, 1); first += options.query_chunk) {
    const std::int64_t n = std::min(options.query_chunk, p - first);
    Tensor part(Shape::matrix(n, features));
    std::copy_n(queries.data() + first * features, n * features, part.data());
    DecompositionOptions o = options;
    o.pair_query =
        options.pair_query >= first && options.pair_query < first + n ? options.pair_query - first : -1;
    if (first > 0 && !rotate) o.sharpness_every = 0;
    pieces.parts.emplace_back(model, loss, std::move(part), inputs, targets, optimizer, o);
    if (rotate) pieces.parts.back().share_sharpness(first / options.query_chunk, count);
    pieces.offsets.push_back(first);
  }
  return pieces;
}

}  // namespace

DecompositionReport merge_query_pieces(std::vector<DecompositionReport> pieces,
                                       const std::vector<std::int64_t>& offsets,
                                       const DecompositionOptions& options) {
  if (pieces.empty() || pieces.size() != offsets.size())
    throw std::invalid_argument("merge_query_pieces: no pieces, or offsets that do not match them");
  if (pieces.size() == 1) {
    pieces[0].options.pair_query = options.pair_query;
    pieces[0].options.sharpness_every = options.sharpness_every;
    return std::move(pieces[0]);
  }
  DecompositionReport r = pieces[0];  // the per-step facts and the sharpness come from here
  r.options.pair_query = options.pair_query;
  r.options.sharpness_every = options.sharpness_every;
  const std::int64_t c_out = r.outputs;
  r.queries = 0;
  for (const DecompositionReport& p : pieces) r.queries += p.queries;
  const auto cells = static_cast<std::size_t>(r.steps * r.queries * c_out);
  for (auto* v : {&r.df, &r.first_order, &r.second_order, &r.exact_change, &r.exact_error})
    v->assign(cells, 0.0);
  if (!r.third_order.empty()) r.third_order.assign(cells, 0.0);
  r.complex.assign(cells, 0);
  r.f_initial = Tensor(Shape::matrix(r.queries, c_out));
  r.f_final = Tensor(Shape::matrix(r.queries, c_out));
  r.attribution.clear();
  r.path_kernel.clear();
  r.attribution_regularizer.clear();
  r.exact_attribution.clear();
  r.exact_attribution_regularizer.clear();
  r.attribution_state_bytes = 0;
  r.seconds_first_order = r.seconds_second_order = r.seconds_exact = r.seconds_attribution =
      r.seconds_sharpness = 0;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const DecompositionReport& p = pieces[i];
    const std::int64_t q0 = offsets[i];
    for (std::int64_t k = 0; k < r.steps; ++k) {
      const auto ku = static_cast<std::size_t>(k);
      if (std::isnan(r.sharpness[ku]) && !std::isnan(p.sharpness[ku])) {  // measured by this piece
        r.sharpness[ku] = p.sharpness[ku];
        r.sharpness_residual[ku] = p.sharpness_residual[ku];
        r.preconditioned_sharpness[ku] = p.preconditioned_sharpness[ku];
      }
      r.exact_nodes[ku] = std::max(r.exact_nodes[ku], p.exact_nodes[ku]);
      r.second_order_computed[ku] = r.second_order_computed[ku] | p.second_order_computed[ku];
      for (std::int64_t q = 0; q < p.queries; ++q)
        for (std::int64_t c = 0; c < c_out; ++c) {
          const std::size_t from = p.index(k, q, c), to = r.index(k, q0 + q, c);
          r.df[to] = p.df[from];
          r.first_order[to] = p.first_order[from];
          r.second_order[to] = p.second_order[from];
          if (!r.third_order.empty()) r.third_order[to] = p.third_order[from];
          r.exact_change[to] = p.exact_change[from];
          r.exact_error[to] = p.exact_error[from];
          r.complex[to] = p.complex[from];
        }
    }
    std::copy_n(p.f_initial.data(), p.f_initial.size(), r.f_initial.data() + q0 * c_out);
    std::copy_n(p.f_final.data(), p.f_final.size(), r.f_final.data() + q0 * c_out);
    r.attribution.insert(r.attribution.end(), p.attribution.begin(), p.attribution.end());
    r.path_kernel.insert(r.path_kernel.end(), p.path_kernel.begin(), p.path_kernel.end());
    r.attribution_regularizer.insert(r.attribution_regularizer.end(), p.attribution_regularizer.begin(),
                                     p.attribution_regularizer.end());
    r.exact_attribution.insert(r.exact_attribution.end(), p.exact_attribution.begin(),
                               p.exact_attribution.end());
    r.exact_attribution_regularizer.insert(r.exact_attribution_regularizer.end(),
                                           p.exact_attribution_regularizer.begin(),
                                           p.exact_attribution_regularizer.end());
    r.attribution_state_bytes += p.attribution_state_bytes;
    r.shares_closure_error = std::max(r.shares_closure_error, p.shares_closure_error);
    for (std::size_t k = 0; k < p.exact_attribution_error.size() && i > 0; ++k)
      keep_worst(r.exact_attribution_error[k], p.exact_attribution_error[k]);
    if (p.options.pair_query >= 0) {
      r.top_pairs = p.top_pairs;
      r.pair_total = p.pair_total;
    }
    r.seconds_first_order += p.seconds_first_order;
    r.seconds_second_order += p.seconds_second_order;
    r.seconds_exact += p.seconds_exact;
    r.seconds_attribution += p.seconds_attribution;
    r.seconds_sharpness += p.seconds_sharpness;
  }
  return r;
}

namespace {
// The offline decomposition over any source of steps (a StepReader, attribution_backward.hpp).

// Steps [first, end) in blocks of kStepBlock: within a block each piece runs through the block's
// steps on one thread, so the pieces need no coordination and nothing depends on the thread
// count; the block's rows, merged over the pieces, go to `sink` in block order while later
// blocks are decomposed (block_pipeline.hpp).
// The attribution runs forward with the steps, or (attribution_method.hpp) backward after them.
// The choice is the whole run's (of `run_steps` steps), so that every range states the same
// plan; a range of steps, whose sums must merge with the other ranges' block by block, can only
// run forward and is refused when the whole run's plan is backward.
DecompositionReport decompose_steps(const pk::nn::Model& model, const pk::nn::Trajectory& facts,
                                    std::int64_t first, std::int64_t end, std::int64_t run_steps,
                                    const StepReader& read, const Tensor& final_weights, TensorView queries,
                                    const DecompositionOptions& requested, const StepBlockSink& sink,
                                    const std::function<void(std::int64_t, std::int64_t)>& progress) {
  const AttributionPlan plan =
      plan_attribution(model, facts, run_steps, queries.shape().dim(0), requested, true);
  if (plan.method == AttributionMethod::backward && (first > 0 || end < run_steps))
    throw std::invalid_argument(
        "decompose: steps " + std::to_string(first) + ":" + std::to_string(end) + " of " +
        std::to_string(run_steps) + ": the attribution of this run runs backward in time (" + plan.reason +
        "), which a range of steps cannot; give --attribution-method forward to every range and to any "
        "single run compared with them");
  DecompositionOptions options = requested;
  options.attribution_method = plan.method;
  const bool backward = plan.method == AttributionMethod::backward;
  const Tensor training_inputs(facts.training_inputs());
  Pieces pieces = make_pieces(model, pk::nn::Loss(facts.loss), Tensor(queries), training_inputs,
                              Tensor(facts.training_targets()), facts.optimizer, options);
  for (Decomposer& part : pieces.parts) part.start_at(first);
  const auto count = pieces.parts.size();
  // State carried forward in time (the optimiser's per-point shares) is replayed over the steps
  // before the range with the operations of the whole run, so the range starts from its bytes.
  if (first > 0 && pieces.parts.front().carries_state())
    parallel_for(count, options.threads, [&](std::size_t i) {
      pk::nn::StepRecord scratch;
      for (std::int64_t k = 0; k < first; ++k) pieces.parts[i].replay_state(read(k, scratch));
    });
  const std::int64_t total = (end - first) * static_cast<std::int64_t>(count);
  std::atomic<std::int64_t> done{0};
  std::mutex progress_mutex;
  // What the backward sums need of the rows the blocks hand on: each step's quadrature nodes and,
  // for the exact attribution's per-step check, df (Q x C per step and piece).
  std::vector<DecompositionReport> kept(backward ? count : 0);
  // Block j covers steps [block_start(j), block_start(j + 1)): the blocks of kStepBlock steps of
  // the whole run, cut at `first` and `end`.
  const std::int64_t first_block = first / kStepBlock;
  auto block_start = [&](std::size_t j) {
    return j == 0 ? first : std::min(end, (first_block + static_cast<std::int64_t>(j)) * kStepBlock);
  };
  BlockPipeline work;
  work.blocks = end > first ? static_cast<std::size_t>((end - 1) / kStepBlock - first_block + 1) : 0;
  work.pieces = count;
  work.ahead = 2;  // a block handed on (merged, written) while the next is decomposed
  // The steps of a block are read once, when the previous block starts, and shared by the pieces
  // (reading and checking a step costs about as much as a piece's F1); one piece on one thread
  // reads step by step instead, holding no block of steps.
  const bool shared_steps = count > 1 || options.threads > 1;
  std::vector<std::vector<pk::nn::StepRecord>> records(shared_steps ? work.ahead + 1 : 0);
  std::vector<std::vector<pk::nn::StepView>> views(records.size());
  std::vector<std::vector<DecompositionReport>> rows(work.ahead, std::vector<DecompositionReport>(count));
  std::vector<pk::nn::StepRecord> scratch(count);
  run_block_pipeline(
      work, options.threads,
      [&](std::size_t j) {
        if (!shared_steps) return;
        const std::size_t slot = j % records.size();
        const std::int64_t b0 = block_start(j), b1 = block_start(j + 1);
        records[slot].resize(static_cast<std::size_t>(b1 - b0));
        views[slot].resize(records[slot].size());
        for (std::int64_t k = b0; k < b1; ++k) {
          const auto at = static_cast<std::size_t>(k - b0);
          views[slot][at] = read(k, records[slot][at]);
        }
      },
      [&](std::size_t j, std::size_t i) {
        const std::int64_t b0 = block_start(j), b1 = block_start(j + 1);
        Decomposer& part = pieces.parts[i];
        for (std::int64_t k = b0; k < b1; ++k) {
          part.add_step(shared_steps ? views[j % views.size()][static_cast<std::size_t>(k - b0)]
                                     : read(k, scratch[i]));
          const std::int64_t now = ++done;
          if (progress) {
            std::lock_guard lock(progress_mutex);
            progress(now, total);
          }
        }
        if (b1 == end) part.close_block();
        DecompositionReport& block = rows[j % work.ahead][i];
        block = part.take_steps();
        if (backward) {
          kept[i].exact_nodes.insert(kept[i].exact_nodes.end(), block.exact_nodes.begin(),
                                     block.exact_nodes.end());
          if (options.exact_attribution)
            kept[i].df.insert(kept[i].df.end(), block.df.begin(), block.df.end());
        }
      },
      [&](std::size_t j) {
        std::vector<DecompositionReport> parts =
            std::exchange(rows[j % work.ahead], std::vector<DecompositionReport>(count));
        sink(merge_query_pieces(std::move(parts), pieces.offsets, options), block_start(j));
      });
  std::vector<DecompositionReport> reports(count);
  parallel_for(count, options.threads, [&](std::size_t i) {
    DecompositionReport& r = reports[i];
    r = pieces.parts[i].finish(final_weights);
    if (backward) {
      // The piece's report as attribute_backward reads it: all its steps' rows, then none again.
      r.steps = end;
      r.df = std::move(kept[i].df);
      r.exact_nodes = std::move(kept[i].exact_nodes);
      attribute_backward(model, facts.optimizer, training_inputs, queries, pieces.offsets[i], end, read, r);
      r.steps = 0;
      r.df.clear();
      r.exact_nodes.clear();
    }
    r.attribution_plan = plan;
  });
  return merge_query_pieces(std::move(reports), pieces.offsets, options);
}

// Appends the rows of the next steps to an in-memory report.
void append_rows(DecompositionReport& all, const DecompositionReport& block) {
  auto append = [](auto& to, const auto& from) { to.insert(to.end(), from.begin(), from.end()); };
  append(all.learning_rate, block.learning_rate);
  append(all.loss, block.loss);
  append(all.sharpness, block.sharpness);
  append(all.sharpness_residual, block.sharpness_residual);
  append(all.stability_threshold, block.stability_threshold);
  append(all.preconditioned_sharpness, block.preconditioned_sharpness);
  append(all.exact_attribution_error, block.exact_attribution_error);
  append(all.exact_nodes, block.exact_nodes);
  append(all.second_order_computed, block.second_order_computed);
  append(all.df, block.df);
  append(all.first_order, block.first_order);
  append(all.second_order, block.second_order);
  append(all.exact_change, block.exact_change);
  append(all.exact_error, block.exact_error);
  append(all.complex, block.complex);
  append(all.third_order, block.third_order);
  all.steps += block.steps;
}

// The whole report in memory: the streamed blocks appended to the tail's totals.
DecompositionReport decompose_in_memory(const pk::nn::Model& model, const pk::nn::Trajectory& facts,
                                        std::int64_t steps, const StepReader& read,
                                        const Tensor& final_weights, TensorView queries,
                                        const DecompositionOptions& options,
                                        const std::function<void(std::int64_t, std::int64_t)>& progress) {
  DecompositionReport rows;
  const StepBlockSink keep = [&](const DecompositionReport& block, std::int64_t) {
    append_rows(rows, block);
  };
  DecompositionReport r =
      decompose_steps(model, facts, 0, steps, steps, read, final_weights, queries, options, keep, progress);
  for (auto member :
       {&DecompositionReport::learning_rate, &DecompositionReport::loss, &DecompositionReport::sharpness,
        &DecompositionReport::sharpness_residual, &DecompositionReport::stability_threshold,
        &DecompositionReport::preconditioned_sharpness})
    r.*member = std::move(rows.*member);
  // The backward attribution leaves its per-step check in the tail; the forward one in the rows.
  if (r.exact_attribution_error.empty()) r.exact_attribution_error = std::move(rows.exact_attribution_error);
  for (auto member : {&DecompositionReport::df, &DecompositionReport::first_order,
                      &DecompositionReport::second_order, &DecompositionReport::exact_change,
                      &DecompositionReport::exact_error, &DecompositionReport::third_order})
    r.*member = std::move(rows.*member);
  r.exact_nodes = std::move(rows.exact_nodes);
  r.second_order_computed = std::move(rows.second_order_computed);
  r.complex = std::move(rows.complex);
  r.steps = rows.steps;
  return r;
}

StepReader reader_source(const pk::nn::TrajectoryReader& run) {
  return [&run](std::int64_t k, pk::nn::StepRecord& scratch) {
    run.read_step(k, scratch);
    return scratch.view();
  };
}
}  // namespace

DecompositionReport decompose(const pk::nn::Model& model, const pk::nn::Trajectory& trajectory,
                              TensorView queries, const DecompositionOptions& options,
                              const std::function<void(std::int64_t, std::int64_t)>& progress) {
  const StepReader read = [&](std::int64_t k, pk::nn::StepRecord&) { return trajectory.step_view(k); };
  return decompose_in_memory(model, trajectory, trajectory.steps(), read,
                             Tensor(trajectory.weights(trajectory.steps())), queries, options, progress);
}

DecompositionReport decompose(const pk::nn::Model& model, const pk::nn::TrajectoryReader& run,
                              TensorView queries, const DecompositionOptions& options,
                              const std::function<void(std::int64_t, std::int64_t)>& progress) {
  Tensor final_weights(Shape::vector(run.facts().parameter_count));
  run.read_weights(run.steps(), final_weights.span());
  return decompose_in_memory(model, run.facts(), run.steps(), reader_source(run), final_weights, queries,
                             options, progress);
}

DecompositionReport decompose_stream(const pk::nn::Model& model, const pk::nn::TrajectoryReader& run,
                                     TensorView queries, const DecompositionOptions& options,
                                     std::int64_t first, std::int64_t end, const StepBlockSink& sink,
                                     const std::function<void(std::int64_t, std::int64_t)>& progress) {
  if (first < 0 || end < first || end > run.steps())
    throw std::invalid_argument("decompose: steps " + std::to_string(first) + ":" + std::to_string(end) +
                                " outside a run of " + std::to_string(run.steps()) + " steps");
  Tensor final_weights(Shape::vector(run.facts().parameter_count));
  run.read_weights(end, final_weights.span());
  return decompose_steps(model, run.facts(), first, end, run.steps(), reader_source(run), final_weights,
                         queries, options, sink, progress);
}

DecompositionObserver::DecompositionObserver(pk::nn::Model model, pk::nn::Loss loss, Tensor queries,
                                             DecompositionOptions options)
    : model_(std::move(model)), loss_(loss), queries_(std::move(queries)), options_(options) {}

void DecompositionObserver::on_start(const pk::nn::RunInfo& info) {
  report_.reset();
  // Online the steps arrive in order: the attribution runs forward (attribution_method.hpp).
  plan_ = plan_attribution(model_, info, info.planned_steps, queries_.shape().dim(0), options_, false);
  DecompositionOptions resolved = options_;
  resolved.attribution_method = plan_.method;
  Pieces pieces = make_pieces(model_, loss_, queries_, Tensor(info.training_inputs),
                              Tensor(info.training_targets), info.optimizer, resolved);
  pieces_ = std::move(pieces.parts);
  offsets_ = std::move(pieces.offsets);
}

void DecompositionObserver::on_step(const pk::nn::StepView& step) {
  for (Decomposer& piece : pieces_) piece.add_step(step);
}

void DecompositionObserver::on_finish(const pk::nn::TrainingResult& result) {
  std::vector<DecompositionReport> reports;
  for (Decomposer& piece : pieces_) reports.push_back(piece.finish(result.final_weights));
  report_ = merge_query_pieces(std::move(reports), offsets_, options_);
  report_->attribution_plan = plan_;
}

const DecompositionReport& DecompositionObserver::report() const {
  if (!report_) throw std::logic_error("DecompositionObserver: the run has not finished");
  return *report_;
}

}  // namespace pk::kernel
