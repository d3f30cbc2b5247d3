#include "kernel/report_merge.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include "io/error.hpp"
#include "io/file_bytes.hpp"
#include "io/internal/json_member.hpp"
#include "io/npy.hpp"
#include "io/text_file.hpp"

namespace pk::kernel {

using io::Json;
using io::JsonMember;

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// lr, loss, sharpness, its residual, quadrature nodes, F2 computed, stability threshold,
// preconditioned sharpness, the exact attribution's step error
constexpr int kStepScalars = 9;

// The block's sums over steps (kBlockSums), one after the other.
std::vector<double> block_sums(const DecompositionReport& b) {
  std::vector<double> sums;
  for (auto member : kBlockSums) sums.insert(sums.end(), (b.*member).begin(), (b.*member).end());
  return sums;
}

std::vector<std::int64_t> block_sum_sizes(const DecompositionReport& b) {
  std::vector<std::int64_t> sizes;
  for (auto member : kBlockSums) sizes.push_back(static_cast<std::int64_t>((b.*member).size()));
  return sizes;
}

Json optimizer_json(const pk::nn::OptimizerConfig& c) {
  return Json{{"kind", std::string(pk::nn::optimizer_name(c.kind))},
              {"momentum", c.momentum},
              {"nesterov", c.nesterov},
              {"weight_decay", c.weight_decay},
              {"beta1", c.beta1},
              {"beta2", c.beta2},
              {"epsilon", c.epsilon}};
}

pk::nn::OptimizerConfig optimizer_of(const JsonMember& j) {
  pk::nn::OptimizerConfig c;
  c.kind = pk::nn::parse_optimizer(j["kind"].str());
  j.read("momentum", c.momentum);
  j.read("nesterov", c.nesterov);
  j.read("weight_decay", c.weight_decay);
  j.read("beta1", c.beta1);
  j.read("beta2", c.beta2);
  j.read("epsilon", c.epsilon);
  return c;
}

std::int64_t values_per_cell(bool third) { return third ? 7 : 6; }

Json options_json(const DecompositionOptions& o) {
  return Json{{"second_order", std::string(second_order_mode_name(o.second_order))},
              {"tau", o.tau},
              {"eps", o.eps},
              {"exact_kernel", o.exact_kernel},
              {"exact_tolerance", o.exact_tolerance},
              {"exact_max_nodes", o.exact_max_nodes},
              {"attribution", o.attribution},
              {"exact_attribution", o.exact_attribution},
              {"sharpness_every", o.sharpness_every},
              {"lanczos_iterations", o.lanczos_iterations},
              {"lanczos_tolerance", o.lanczos_tolerance},
              {"order", o.order},
              {"window", o.window},
              {"window_tau", o.window_tau},
              {"eos_band", o.eos_band},
              {"pair_query", o.pair_query},
              {"pair_count", o.pair_count},
              {"query_chunk", o.query_chunk},
              {"threads", o.threads}};
}

// The options that change numbers: how the work was cut (threads, query chunk) does not.
std::string deciding_options(const DecompositionOptions& o) {
  Json j = options_json(o);
  j.erase("threads");
  j.erase("query_chunk");
  return j.dump();
}

DecompositionOptions options_of(const JsonMember& j) {
  DecompositionOptions o;
  o.second_order = parse_second_order_mode(j["second_order"].str());
  j.read("tau", o.tau);
  j.read("eps", o.eps);
  j.read("exact_kernel", o.exact_kernel);
  j.read("exact_tolerance", o.exact_tolerance);
  j.read("exact_max_nodes", o.exact_max_nodes);
  j.read("attribution", o.attribution);
  j.read("exact_attribution", o.exact_attribution);
  j.read("sharpness_every", o.sharpness_every);
  j.read("lanczos_iterations", o.lanczos_iterations);
  j.read("lanczos_tolerance", o.lanczos_tolerance);
  j.read("order", o.order);
  j.read("window", o.window);
  j.read("window_tau", o.window_tau);
  j.read("eos_band", o.eos_band);
  j.read("pair_query", o.pair_query);
  j.read("pair_count", o.pair_count);
  j.read("query_chunk", o.query_chunk);
  j.read("threads", o.threads);
  return o;
}
}  // namespace

struct PartWriter::Files {
  io::NpyRowWriter rows, blocks;
};

PartWriter::PartWriter(const std::filesystem::path& directory, std::int64_t first, std::int64_t end,
                       std::int64_t total_steps)
    : directory_(directory), first_(first), end_(end), total_steps_(total_steps), next_(first) {
  if (first < 0 || end < first || end > total_steps || first % kStepBlock != 0)
    throw std::invalid_argument("partial report: steps " + std::to_string(first) + ":" + std::to_string(end) +
                                " (a range of a run of " + std::to_string(total_steps) +
                                " steps must start at a multiple of " + std::to_string(kStepBlock) + ")");
}

PartWriter::~PartWriter() = default;

StepBlockSink PartWriter::sink() {
  return [this](const DecompositionReport& block, std::int64_t first) { add(block, first); };
}

void PartWriter::add(const DecompositionReport& b, std::int64_t first) {
  if (first != next_) throw std::invalid_argument("partial report: steps out of order");
  if (b.options.pair_query >= 0)
    throw std::invalid_argument(
        "partial report: the pairs of F2 keep only their largest sums and cannot be merged");
  const std::int64_t cells = b.queries * b.outputs;
  const bool third = b.options.order >= 3;  // so an empty range says it too
  if (!files_) {
    layout_ = DecompositionReport();
    layout_.queries = b.queries;
    layout_.outputs = b.outputs;
    layout_.training_points = b.training_points;
    layout_.options = b.options;
    layout_.kernel_form = b.kernel_form;
    layout_.optimizer = b.optimizer;
    layout_.optimizer_config = b.optimizer_config;
    layout_.attribution_method = b.attribution_method;
    if (third) layout_.third_order.assign(1, 0.0);  // marks the third order for the replay
    sums_ = block_sum_sizes(b);
    std::int64_t summed = 0;
    for (std::int64_t n : sums_) summed += n;
    files_ = std::make_unique<Files>(
        Files{io::NpyRowWriter(directory_ / "rows.npy", {kStepScalars + cells * values_per_cell(third)}),
              io::NpyRowWriter(directory_ / "attribution_blocks.npy", {std::max<std::int64_t>(summed, 1)})});
  }
  std::vector<double> row(static_cast<std::size_t>(kStepScalars + cells * values_per_cell(third)));
  for (std::int64_t k = 0; k < b.steps; ++k) {
    const auto ku = static_cast<std::size_t>(k);
    std::size_t at = 0;
    auto at_step = [ku](const std::vector<double>& v) { return ku < v.size() ? v[ku] : kNaN; };
    for (double v : {b.learning_rate[ku], b.loss[ku], b.sharpness[ku], b.sharpness_residual[ku],
                     static_cast<double>(b.exact_nodes[ku]), static_cast<double>(b.second_order_computed[ku]),
                     at_step(b.stability_threshold), at_step(b.preconditioned_sharpness),
                     at_step(b.exact_attribution_error)})
      row[at++] = v;
    for (std::int64_t j = 0; j < cells; ++j) {
      const std::size_t i = b.index(k, 0, 0) + static_cast<std::size_t>(j);
      row[at++] = b.df[i];
      row[at++] = b.first_order[i];
      row[at++] = b.second_order[i];
      row[at++] = b.exact_change[i];
      row[at++] = b.exact_error[i];
      row[at++] = b.complex[i];
      if (third) row[at++] = b.third_order[i];
    }
    files_->rows.append(row);
  }
  if (b.steps > 0) {
    const std::vector<double> sums = block_sums(b);
    if (!sums.empty()) {
      if (block_sum_sizes(b) != sums_) throw std::invalid_argument("partial report: a block of other sums");
      files_->blocks.append(sums);
    }
  }
  next_ = first + b.steps;
  files_->rows.flush();
  files_->blocks.flush();
}

void PartWriter::finish(const DecompositionReport& tail, const RunDescription& run, std::int64_t plot_query,
                        const pk::ad::Tensor* queries) {
  if (next_ != end_)
    throw std::invalid_argument("partial report: steps up to " + std::to_string(next_) + " of " +
                                std::to_string(end_));
  if (!files_) {  // no steps: the files hold zero rows
    DecompositionReport empty = tail;
    for (auto member : kBlockSums) (empty.*member).clear();
    add(empty, first_);
  }
  files_->rows.close();
  files_->blocks.close();
  io::write_npy(directory_ / "f_initial.npy", tail.f_initial);
  io::write_npy(directory_ / "f_final.npy", tail.f_final);
  if (queries) io::write_npy(directory_ / "query_points.npy", *queries);
  Json extra = Json::array();
  for (const auto& [name, value] : run.extra) extra.push_back(Json::array({name, value}));
  const Json j{{"format", "pathkernel partial report 1"},
               {"first", first_},
               {"end", end_},
               {"steps", total_steps_},
               {"plot_query", plot_query},
               {"queries", layout_.queries},
               {"outputs", layout_.outputs},
               {"training_points", layout_.training_points},
               {"third_order", !layout_.third_order.empty()},
               {"kernel_form", layout_.kernel_form},
               {"optimizer", layout_.optimizer},
               {"optimizer_config", optimizer_json(layout_.optimizer_config)},
               {"attribution_method", layout_.attribution_method},
               {"block_sums", sums_},
               {"attribution_state_bytes", tail.attribution_state_bytes},
               {"attribution_plan",
                {{"method", attribution_method_name(tail.attribution_plan.method)},
                 {"requested", attribution_method_name(tail.attribution_plan.requested)},
                 {"reason", tail.attribution_plan.reason},
                 {"forward_bytes", tail.attribution_plan.forward_bytes},
                 {"backward_bytes", tail.attribution_plan.backward_bytes}}},
               {"exact_attribution_method", tail.exact_attribution_method},
               {"shares_closure_error", tail.shares_closure_error},
               {"options", options_json(layout_.options)},
               {"run",
                {{"data", run.data},
                 {"architecture", run.architecture},
                 {"loss", run.loss},
                 {"optimizer", run.optimizer},
                 {"schedule", run.schedule},
                 {"steps", run.steps},
                 {"seed", run.seed},
                 {"status", run.status},
                 {"include_timings", run.include_timings},
                 {"seconds_training", run.seconds_training},
                 {"extra", extra}}},
               {"seconds",
                {tail.seconds_first_order, tail.seconds_second_order, tail.seconds_exact,
                 tail.seconds_attribution, tail.seconds_sharpness}}};
  io::write_text_file(directory_ / "part.json", j.dump(1) + '\n');
}

namespace {
Json read_part_json(const std::filesystem::path& directory) {
  const std::filesystem::path path = directory / "part.json";
  // A partial report's facts are a few kilobytes; a larger file is no partial report.
  const std::string text = io::read_file_bytes(path, 1 << 20);
  try {
    Json j = Json::parse(text);
    if (j.at("format") != "pathkernel partial report 1")
      throw std::runtime_error("not a partial report of this version");
    return j;
  } catch (const std::exception& e) {
    throw std::runtime_error(path.string() + ": " + e.what());
  }
}
// A part.json that parsed but whose facts cannot be one decomposition's (an edited or hostile
// file) is refused here, naming the fact, before merge sizes anything by them.
void check_part(const PartFacts& f, const std::filesystem::path& path) {
  auto refuse = [&](const std::string& what) { throw std::runtime_error(path.string() + ": " + what); };
  // Far beyond any run a machine decomposes, and small enough that the products below cannot
  // overflow: 2^40 steps, 2^31 query-output cells, 2^40 attribution entries.
  constexpr std::int64_t kMaxSteps = std::int64_t{1} << 40, kMaxCells = std::int64_t{1} << 31;
  constexpr std::int64_t kMaxEntries = std::int64_t{1} << 40;
  const auto range = std::to_string(f.first) + ":" + std::to_string(f.end);
  if (f.steps < 0 || f.steps > kMaxSteps) refuse("a run of " + std::to_string(f.steps) + " steps");
  if (f.first < 0 || f.end < f.first || f.end > f.steps)
    refuse("steps " + range + " are not a range of a run of " + std::to_string(f.steps) + " steps");
  if (f.first % kStepBlock != 0)
    refuse("steps " + range + " do not start at a multiple of " + std::to_string(kStepBlock));
  const DecompositionReport& l = f.layout;
  if (l.queries < 0 || l.outputs < 1 || l.training_points < 1)
    refuse(std::to_string(l.queries) + " query points, " + std::to_string(l.outputs) + " outputs and " +
           std::to_string(l.training_points) + " training points");
  if (l.queries > kMaxCells / l.outputs)
    refuse("more query points times outputs than any decomposition holds");
  if (l.queries * l.outputs > kMaxEntries / l.training_points)
    refuse("an attribution larger than any decomposition holds");
  if (f.plot_query < 0 || f.plot_query >= std::max<std::int64_t>(l.queries, 1))
    refuse("plot query " + std::to_string(f.plot_query) + " of " + std::to_string(l.queries));
  const DecompositionOptions& o = l.options;
  if (o.pair_query < -1 || o.pair_query >= l.queries)
    refuse("pair query " + std::to_string(o.pair_query) + " of " + std::to_string(l.queries));
  if (o.order != 2 && o.order != 3) refuse("order " + std::to_string(o.order) + " (expected 2 or 3)");
  if (o.window < 0 || o.window > kMaxSteps || !(o.window_tau > 0) || !(o.eos_band > 0) || !(o.tau > 0) ||
      !(o.eps > 0))
    refuse("window, window_tau, eos_band, tau or eps out of range");
  if (o.sharpness_every < 0 || o.query_chunk < 1 || o.threads < 1 || o.pair_count < 0 ||
      o.lanczos_iterations < 0 || o.exact_max_nodes < 0)
    refuse("a count out of range among the options (sharpness_every, query_chunk, threads, pair_count, ...)");
  if (f.block_sums.size() > kBlockSums.size())
    refuse("\"block_sums\" is not a list of sizes, one per attribution sum");
  std::int64_t entries = 0;
  for (const std::int64_t n : f.block_sums) {
    if (n < 0 || n > kMaxEntries - entries) refuse("attribution sums of impossible sizes");
    entries += n;
  }
  if (f.queries && (f.queries->shape().rank != 2 || f.queries->shape().dim(0) != l.queries))
    refuse("query_points.npy of shape " + f.queries->shape().str() + " for " + std::to_string(l.queries) +
           " query points");
}
}  // namespace

PartFacts read_part(const std::filesystem::path& directory) {
  const Json doc = read_part_json(directory);
  const std::string file = (directory / "part.json").string();
  const JsonMember j(file, doc);
  PartFacts f;
  try {
    j.read("first", f.first);
    j.read("end", f.end);
    j.read("steps", f.steps);
    j.read("plot_query", f.plot_query);
    j.read("queries", f.layout.queries);
    j.read("outputs", f.layout.outputs);
    j.read("training_points", f.layout.training_points);
    if (j["third_order"].boolean()) f.layout.third_order.assign(1, 0.0);
    j.read("kernel_form", f.layout.kernel_form);
    j.read("optimizer", f.layout.optimizer);
    f.layout.optimizer_config = optimizer_of(j["optimizer_config"]);
    j.read("attribution_method", f.layout.attribution_method);
    j.read("attribution_state_bytes", f.layout.attribution_state_bytes);
    const JsonMember plan = j["attribution_plan"];
    f.layout.attribution_plan.method = parse_attribution_method(plan["method"].str());
    f.layout.attribution_plan.requested = parse_attribution_method(plan["requested"].str());
    plan.read("reason", f.layout.attribution_plan.reason);
    plan.read("forward_bytes", f.layout.attribution_plan.forward_bytes);
    plan.read("backward_bytes", f.layout.attribution_plan.backward_bytes);
    j.read("exact_attribution_method", f.layout.exact_attribution_method);
    j.read("shares_closure_error", f.layout.shares_closure_error);
    f.block_sums = j["block_sums"].integers(std::numeric_limits<std::int64_t>::min(),
                                            std::numeric_limits<std::int64_t>::max());  // checked below
    if (std::filesystem::exists(directory / "query_points.npy"))
      f.queries = io::read_npy_tensor(directory / "query_points.npy");
    f.layout.options = options_of(j["options"]);
    const JsonMember r = j["run"];
    r.read("data", f.run.data);
    r.read("architecture", f.run.architecture);
    r.read("loss", f.run.loss);
    r.read("optimizer", f.run.optimizer);
    r.read("schedule", f.run.schedule);
    r.read("steps", f.run.steps);
    r.read("seed", f.run.seed);
    r.read("status", f.run.status);
    r.read("include_timings", f.run.include_timings);
    r.read("seconds_training", f.run.seconds_training);
    // The timings: numbers, or none (a hand-edited part); they change no other number.
    if (j.has("seconds") && j["seconds"].json().is_array()) f.seconds = j["seconds"].numbers();
    const JsonMember extra = r["extra"];
    for (std::size_t n = 0; n < extra.size(); ++n) {
      const JsonMember pair = extra.at(n);
      if (pair.size() != 2) pair.fail("is not a pair of strings");
      std::string name = pair.at(0).str();  // in order, so an error names the first bad one
      f.run.extra.emplace_back(std::move(name), pair.at(1).str());
    }
  } catch (const io::Error&) {  // a missing or mistyped member, or query_points.npy: each names its file
    throw;
  } catch (const std::exception& e) {  // a name no parser knows
    throw std::runtime_error(file + ": " + e.what());
  }
  check_part(f, directory / "part.json");
  return f;
}

DecompositionReport replay_parts(const std::vector<std::filesystem::path>& dirs, const StepBlockSink& sink) {
  if (dirs.empty()) throw std::invalid_argument("merge: no partial reports");
  std::vector<std::pair<PartFacts, std::filesystem::path>> parts;
  for (const auto& d : dirs) parts.emplace_back(read_part(d), d);
  std::sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) {
    return std::pair(a.first.first, a.first.end) < std::pair(b.first.first, b.first.end);
  });
  const PartFacts& head = parts.front().first;
  // The same run, decomposed the same way, and every step exactly once.
  std::int64_t expect = 0;
  for (const auto& [f, d] : parts) {
    if (f.steps != head.steps || f.layout.queries != head.layout.queries ||
        f.layout.outputs != head.layout.outputs || f.layout.training_points != head.layout.training_points ||
        f.run.data != head.run.data ||
        deciding_options(f.layout.options) != deciding_options(head.layout.options) ||
        f.layout.optimizer_config != head.layout.optimizer_config || f.block_sums != head.block_sums)
      throw std::invalid_argument("merge: " + d.string() + " is a part of another decomposition than " +
                                  parts.front().second.string());
    if (f.first != expect)
      throw std::invalid_argument("merge: " + (f.first > expect
                                                   ? "steps " + std::to_string(expect) + ":" +
                                                         std::to_string(f.first) + " are in no part"
                                                   : d.string() + " overlaps another part"));
    expect = f.end;
  }
  if (expect != head.steps)
    throw std::invalid_argument("merge: steps " + std::to_string(expect) + ":" + std::to_string(head.steps) +
                                " are in no part");

  const std::int64_t cells = head.layout.queries * head.layout.outputs;
  const bool third = !head.layout.third_order.empty();
  DecompositionReport tail = head.layout;
  tail.third_order.clear();
  tail.steps = 0;
  std::vector<double> attribution;
  for (const auto& [f, d] : parts) {
    const io::NpyRowReader rows(d / "rows.npy");
    if (rows.rows() != f.end - f.first || rows.row_size() != kStepScalars + cells * values_per_cell(third))
      throw std::invalid_argument("merge: " + (d / "rows.npy").string() + " does not hold the part's steps");
    std::vector<double> row(static_cast<std::size_t>(rows.row_size()));
    for (std::int64_t b0 = f.first; b0 < f.end;) {
      const std::int64_t b1 = std::min(f.end, (b0 / kStepBlock + 1) * kStepBlock);
      DecompositionReport block = head.layout;
      block.third_order.clear();
      block.steps = b1 - b0;
      for (std::int64_t k = b0; k < b1; ++k) {
        rows.read_row(k - f.first, row);
        std::size_t at = 0;
        block.learning_rate.push_back(row[at++]);
        block.loss.push_back(row[at++]);
        block.sharpness.push_back(row[at++]);
        block.sharpness_residual.push_back(row[at++]);
        block.exact_nodes.push_back(static_cast<int>(row[at++]));
        block.second_order_computed.push_back(static_cast<std::uint8_t>(row[at++]));
        block.stability_threshold.push_back(row[at++]);
        block.preconditioned_sharpness.push_back(row[at++]);
        block.exact_attribution_error.push_back(row[at++]);
        for (std::int64_t j = 0; j < cells; ++j) {
          block.df.push_back(row[at++]);
          block.first_order.push_back(row[at++]);
          block.second_order.push_back(row[at++]);
          block.exact_change.push_back(row[at++]);
          block.exact_error.push_back(row[at++]);
          block.complex.push_back(static_cast<std::uint8_t>(row[at++]));
          if (third) block.third_order.push_back(row[at++]);
        }
      }
      sink(block, b0);
      b0 = b1;
    }
    const io::NpyRowReader blocks(d / "attribution_blocks.npy");
    if (blocks.rows() > 0) {
      std::vector<double> sums(static_cast<std::size_t>(blocks.row_size()));
      if (attribution.empty()) attribution.assign(sums.size(), 0.0);
      if (sums.size() != attribution.size())
        throw std::invalid_argument("merge: " + (d / "attribution_blocks.npy").string() + " of another size");
      for (std::int64_t i = 0; i < blocks.rows(); ++i) {
        blocks.read_row(i, sums);
        for (std::size_t n = 0; n < sums.size(); ++n) attribution[n] += sums[n];
      }
    }
    const std::vector<double>& s = f.seconds;
    if (s.size() == 5) {
      tail.seconds_first_order += s[0];
      tail.seconds_second_order += s[1];
      tail.seconds_exact += s[2];
      tail.seconds_attribution += s[3];
      tail.seconds_sharpness += s[4];
    }
  }
  tail.f_initial = io::read_npy_tensor(parts.front().second / "f_initial.npy");
  tail.f_final = io::read_npy_tensor(parts.back().second / "f_final.npy");
  // The sums one after the other, as block_sums wrote them; a run of no steps has none.
  std::size_t from = 0;
  for (std::size_t n = 0; n < kBlockSums.size() && !attribution.empty(); ++n) {
    const auto size = static_cast<std::size_t>(n < head.block_sums.size() ? head.block_sums[n] : 0);
    if (from + size > attribution.size())
      throw std::invalid_argument("merge: attribution blocks of another size");
    (tail.*kBlockSums[n])
        .assign(attribution.begin() + static_cast<std::ptrdiff_t>(from),
                attribution.begin() + static_cast<std::ptrdiff_t>(from + size));
    from += size;
  }
  for (const auto& [f, d] : parts)
    tail.shares_closure_error = std::max(tail.shares_closure_error, f.layout.shares_closure_error);
  return tail;
}

}  // namespace pk::kernel
