#include "kernel/report_stream.hpp"
// A report written as its steps finish: steps.csv appended block by block, then the totals'
// files, the attribution (CSV, .npy or its K largest) and the memory estimate of streaming.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

#include "io/npy.hpp"
#include "io/text_file.hpp"
#include "kernel/optimizer_shares.hpp"

namespace pk::kernel {

AttributionFormat parse_attribution_format(std::string_view text) {
  AttributionFormat f;
  if (text == "auto")
    f.kind = AttributionFormat::Kind::automatic;
  else if (text == "csv")
    f.kind = AttributionFormat::Kind::csv;
  else if (text == "npy")
    f.kind = AttributionFormat::Kind::npy;
  else if (text == "none")
    f.kind = AttributionFormat::Kind::none;
  else if (text.starts_with("top:")) {
    f.kind = AttributionFormat::Kind::top;
    const std::string_view k = text.substr(4);
    const auto res = std::from_chars(k.data(), k.data() + k.size(), f.top);
    if (res.ec != std::errc() || res.ptr != k.data() + k.size() || f.top < 1)
      throw std::invalid_argument("attribution format '" + std::string(text) +
                                  "': K of top:K must be a positive integer");
  } else {
    throw std::invalid_argument("unknown attribution format '" + std::string(text) +
                                "' (expected auto, csv, npy, none or top:K)");
  }
  return f;
}

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
void cell(std::ostream& out, double x) { write_csv_cell(out, x); }
}  // namespace

std::vector<std::string> write_attribution(const std::filesystem::path& dir, const ReportTotals& t,
                                           const AttributionFormat& format) {
  using Kind = AttributionFormat::Kind;
  if (t.attribution.empty() || format.kind == Kind::none) return {};
  const std::int64_t rows = t.queries * t.outputs * t.training_points;
  const bool npy = format.kind == Kind::npy || (format.kind == Kind::automatic && rows > format.csv_rows);
  if (npy) {
    const std::vector<std::int64_t> shape{t.queries, t.outputs, t.training_points};
    std::vector<std::string> names{"attribution.npy"};
    io::write_npy(dir / "attribution.npy", shape, t.attribution);
    if (!t.path_kernel.empty()) {  // K^p: gradient descent only
      io::write_npy(dir / "path_kernel.npy", shape, t.path_kernel);
      names.emplace_back("path_kernel.npy");
    }
    if (!t.attribution_regularizer.empty()) {  // the weight decay's share A_reg(x)
      const std::vector<std::int64_t> rows{t.queries, t.outputs};
      io::write_npy(dir / "attribution_regularizer.npy", rows, t.attribution_regularizer);
      names.emplace_back("attribution_regularizer.npy");
    }
    for (const auto& [name, n] :
         {std::pair{"query_index.npy", t.queries}, std::pair{"output_index.npy", t.outputs},
          std::pair{"train_index.npy", t.training_points}}) {
      std::vector<double> index(static_cast<std::size_t>(n));
      std::iota(index.begin(), index.end(), 0.0);
      const std::vector<std::int64_t> s{n};
      io::write_npy(dir / name, s, index);
      names.emplace_back(name);
    }
    return names;
  }
  if (format.kind == Kind::top) {
    io::replace_file(dir / "attribution.csv", [&](std::ostream& out) {
      out << "query,output,train_index,contribution,path_kernel\n";
      const auto m_all = static_cast<std::size_t>(t.training_points);
      std::vector<std::int64_t> order(m_all);
      for (std::int64_t q = 0; q < t.queries; ++q)
        for (std::int64_t c = 0; c < t.outputs; ++c) {
          const std::size_t base = static_cast<std::size_t>(q * t.outputs + c) * m_all;
          std::iota(order.begin(), order.end(), 0);
          const auto keep = std::min<std::size_t>(m_all, static_cast<std::size_t>(format.top));
          // Ties by index, so the file does not depend on the sort's whims.
          std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(),
                            [&](std::int64_t a, std::int64_t b) {
                              const double x = std::abs(t.attribution[base + static_cast<std::size_t>(a)]);
                              const double y = std::abs(t.attribution[base + static_cast<std::size_t>(b)]);
                              return x > y || (x == y && a < b);
                            });
          for (std::size_t i = 0; i < keep; ++i) {
            const auto m = static_cast<std::size_t>(order[i]);
            out << q << ',' << c << ',' << order[i] << ',';
            cell(out, t.attribution[base + m]);
            out << ',';
            cell(out, t.path_kernel.empty() ? kNaN : t.path_kernel[base + m]);
            out << '\n';
          }
        }
    });
    return {"attribution.csv"};
  }
  io::replace_file(dir / "attribution.csv", [&](std::ostream& out) { write_attribution_csv(out, t); });
  return {"attribution.csv"};
}

ReportStream::ReportStream(const std::filesystem::path& directory, std::int64_t total_steps,
                           std::int64_t plot_query)
    : directory_(directory),
      total_steps_(total_steps),
      plot_query_(plot_query),
      steps_(directory / "steps.csv") {}

StepBlockSink ReportStream::sink() {
  return [this](const DecompositionReport& block, std::int64_t first) { add(block, first); };
}

void ReportStream::add(const DecompositionReport& b, std::int64_t first) {
  if (!totals_) {
    totals_.emplace(b, total_steps_);
    steps_.append([&](std::ostream& o) { write_steps_header(o, b); });
    plot_ = DecompositionReport();
    plot_.queries = 1;
    plot_.outputs = b.outputs;
    plot_.training_points = b.training_points;
    plot_.options = b.options;
    plot_.options.pair_query = -1;
    plot_.kernel_form = b.kernel_form;
    plot_.optimizer = b.optimizer;
    plot_.optimizer_config = b.optimizer_config;
  }
  steps_.append([&](std::ostream& o) { write_steps_rows(o, b, first); });
  totals_->add(b, first);
  auto append = [](auto& to, const auto& from) { to.insert(to.end(), from.begin(), from.end()); };
  append(plot_.learning_rate, b.learning_rate);
  append(plot_.loss, b.loss);
  append(plot_.sharpness, b.sharpness);
  append(plot_.sharpness_residual, b.sharpness_residual);
  append(plot_.stability_threshold, b.stability_threshold);
  append(plot_.preconditioned_sharpness, b.preconditioned_sharpness);
  append(plot_.exact_nodes, b.exact_nodes);
  append(plot_.second_order_computed, b.second_order_computed);
  const bool third = !b.third_order.empty();
  for (std::int64_t k = 0; k < b.steps; ++k)
    for (std::int64_t c = 0; c < b.outputs; ++c) {
      const std::size_t i = b.index(k, plot_query_, c);
      plot_.df.push_back(b.df[i]);
      plot_.first_order.push_back(b.first_order[i]);
      plot_.second_order.push_back(b.second_order[i]);
      plot_.exact_change.push_back(b.exact_change[i]);
      plot_.exact_error.push_back(b.exact_error[i]);
      plot_.complex.push_back(b.complex[i]);
      if (third) plot_.third_order.push_back(b.third_order[i]);
    }
  plot_.steps += b.steps;
}

ReportTotals ReportStream::finish(const DecompositionReport& tail, const RunDescription& run,
                                  const AttributionFormat& format) {
  if (!totals_) {  // a run of no steps: the header alone
    totals_.emplace(tail, total_steps_);
    steps_.append([&](std::ostream& o) { write_steps_header(o, tail); });
  }
  steps_.flush();
  ReportTotals t = totals_->finish(tail);
  io::replace_file(directory_ / "summary.json", [&](std::ostream& o) { write_summary_json(o, t, run); });
  io::replace_file(directory_ / "queries.csv", [&](std::ostream& o) { write_queries_csv(o, t); });
  io::replace_file(directory_ / "windows.csv", [&](std::ostream& o) { write_windows_csv(o, t); });
  attribution_files_ = write_attribution(directory_, t, format);

  const std::int64_t c_out = tail.outputs;
  plot_.f_initial = pk::ad::Tensor(pk::ad::Shape::matrix(1, c_out));
  plot_.f_final = pk::ad::Tensor(pk::ad::Shape::matrix(1, c_out));
  for (std::int64_t c = 0; c < c_out; ++c) {
    plot_.f_initial[c] = tail.f_initial(plot_query_, c);
    plot_.f_final[c] = tail.f_final(plot_query_, c);
  }
  if (!t.attribution.empty()) {
    const auto m = static_cast<std::size_t>(t.training_points);
    const auto from = static_cast<std::ptrdiff_t>(static_cast<std::size_t>(plot_query_ * c_out) * m);
    const auto n = static_cast<std::ptrdiff_t>(static_cast<std::size_t>(c_out) * m);
    plot_.attribution.assign(t.attribution.begin() + from, t.attribution.begin() + from + n);
    if (!t.path_kernel.empty())
      plot_.path_kernel.assign(t.path_kernel.begin() + from, t.path_kernel.begin() + from + n);
  }
  return t;
}

double streaming_memory_bytes(std::int64_t queries, std::int64_t outputs, std::int64_t training_points,
                              std::int64_t parameters, const DecompositionOptions& o, std::int64_t windows,
                              bool per_point_state) {
  const double pc = static_cast<double>(queries) * static_cast<double>(outputs);
  const double m = static_cast<double>(training_points), c = static_cast<double>(outputs);
  const double chunk = static_cast<double>(std::min(o.query_chunk, std::max<std::int64_t>(queries, 1)));
  const double threads = std::max(1, o.threads);
  // A block of rows: about 8 numbers per entry, held by the pieces and once more merged; with
  // threads a second block is decomposed while one is merged and written (block_pipeline.hpp).
  double bytes = (threads > 1 ? 3.0 : 2.0) * static_cast<double>(kStepBlock) * pc * 8.0 * 8.0;
  // The steps of three blocks, read ahead and shared by the pieces (weights before and after,
  // batch and L'), unless one piece on one thread reads step by step.
  const double pieces = std::ceil(static_cast<double>(std::max<std::int64_t>(queries, 1)) / chunk);
  if (threads > 1 || pieces > 1)
    bytes += 3.0 * static_cast<double>(kStepBlock) * (2.0 * static_cast<double>(parameters) + m * (c + 1.0)) * 8.0;
  // The online totals: a dozen per entry, a window's and (with sharpness) two more ranges' sums of
  // seven, and every finished window's seven.
  bytes += pc * 8.0 * (12.0 + 7.0 * (o.sharpness_every > 0 ? 3.0 : 1.0) + 7.0 * static_cast<double>(windows));
  if (o.attribution) {
    // A_m and K^p: in the pieces the total, the current block and the block closed last; the
    // merged block; and the totals.
    bytes += 2.0 * pc * m * 8.0 * 5.0;
    bytes += threads * chunk * c * m * c * 8.0;  // one step's tangent kernel per thread
  }
  if (o.pair_query >= 0) bytes += m * m * c * 8.0;
  if (per_point_state) {  // each piece's state and shares, M x D each
    bytes += pieces * 2.0 * m * static_cast<double>(parameters) * 8.0;
  }
  // Each thread's tape: a few passes of a chunk of queries through the network, with Hessian
  // and quadrature work of the order of the parameters per query.
  bytes += threads * chunk * 64.0 * static_cast<double>(parameters) * 8.0;
  return bytes;
}

}  // namespace pk::kernel
