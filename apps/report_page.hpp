#pragma once
// The human-readable half of a report directory: SVG plots and an index.html that shows them
// beside the summary tables. The numbers come from the kernel module's report structures.

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "kernel/accumulation.hpp"
#include "kernel/decomposition.hpp"
#include "kernel/report_writer.hpp"
#include "kernel/sweep.hpp"

namespace pk::app {

/// One section of an index page: a heading, preformatted or HTML text, and images.
struct PageSection {
  std::string heading;
  std::string html;                 // already escaped
  std::vector<std::string> images;  // relative paths of SVG files
};

/// Writes the plots of one decomposition into `dir` (steps.svg and cumulative.svg for `query`,
/// attribution.svg, sharpness.svg when computed) and returns the section that shows them with the summary table.
PageSection write_run_plots(const std::filesystem::path& dir, const std::string& prefix,
                            const pk::kernel::DecompositionReport& report, std::int64_t query);

/// Plain-text lines on what accumulates over windows of steps and on the edge of stability: the
/// failing windows, the window with the largest share of the final first-order error, the onset
/// and the errors before and after it. Shared by the command's headline and the report page.
std::string accumulation_text(const pk::kernel::DecompositionReport& report);
/// The same from windows and an onset computed elsewhere (a streamed report's totals).
std::string accumulation_text(const std::vector<pk::kernel::WindowTotals>& windows,
                              const pk::kernel::EdgeOfStability& edge, double window_tau);

/// The kernel's report files plus plots and an index.html, into `dir`.
void write_run_report(const std::filesystem::path& dir, const pk::kernel::DecompositionReport& report,
                      const pk::kernel::RunDescription& run, std::int64_t plot_query);

/// A sweep's table as printed on the terminal.
std::string sweep_table(const pk::kernel::SweepResult& sweep);
/// sweep_<name>.csv with the table's numbers.
void write_sweep_csv(const std::filesystem::path& path, const pk::kernel::SweepResult& sweep);
/// The log-log plot of both relative errors against the learning rate for several sweeps.
std::string sweep_plot(const std::vector<std::pair<std::string, const pk::kernel::SweepResult*>>& sweeps);

/// index.html with the given title and sections.
void write_index(const std::filesystem::path& path, const std::string& title,
                 const std::vector<PageSection>& sections);

/// An HTML table of a report's per-query summary.
std::string summary_table_html(const pk::kernel::DecompositionReport& report);

/// Writes text to a file, throwing std::runtime_error naming it on failure.
void write_text(const std::filesystem::path& path, const std::string& text);

/// Creates the file `path`, which must not exist, by calling `write` on a temporary sibling and
/// renaming it when `write` returns: a failure leaves neither file behind.
void write_new_file(const std::filesystem::path& path,
                    const std::function<void(const std::filesystem::path&)>& write);

}  // namespace pk::app
