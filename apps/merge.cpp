// pathkernel merge: partial reports of ranges of steps combined into the report of the whole run.
#include <cstdio>
#include <string>
#include <vector>

#include "apps/arguments.hpp"
#include "apps/commands.hpp"
#include "apps/streamed_report.hpp"
#include "kernel/report_merge.hpp"

namespace pk::app {

int merge_command(const Args& args) {
  // The partial reports come first, before the options.
  std::vector<std::filesystem::path> parts;
  Args rest;
  for (const std::string& a : args) {
    if (rest.empty() && a.rfind("--", 0) != 0)
      parts.emplace_back(a);
    else
      rest.push_back(a);
  }
  Options o("merge",
            "Combines partial reports written by `pathkernel decompose --steps A:B` (in any\n"
            "order, together covering every step once) into the report a single\n"
            "`pathkernel decompose` would have written: the same bytes with --no-timings.\n"
            "usage: pathkernel merge PART... --out DIR");
  o.value("out", "DIR", "the report directory to create", std::nullopt, true);
  o.value("attribution-format", "FORMAT", "auto, csv, npy, none or top:K, as for decompose", "auto");
  if (!o.parse(rest)) return 0;
  if (parts.empty()) throw UsageError("merge: name the partial reports before the options");
  pk::kernel::AttributionFormat format;
  try {
    format = pk::kernel::parse_attribution_format(o.text("attribution-format"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--attribution-format: ") + e.what());
  }
  const pk::kernel::PartFacts head = pk::kernel::read_part(parts.front());
  pk::io::StagedDirectory dir(std::filesystem::path(o.text("out")));
  pk::kernel::ReportStream stream(dir.path(), head.steps, head.plot_query);
  pk::kernel::DecompositionReport tail;
  try {
    tail = pk::kernel::replay_parts(parts, stream.sink());
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  finish_streamed_report(dir, stream, tail, head.run, format, head.plot_query,
                         head.queries ? &*head.queries : nullptr);
  std::printf("merged %zu partial reports: %s\n", parts.size(), dir.target().string().c_str());
  return 0;
}

}  // namespace pk::app
