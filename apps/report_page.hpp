#pragma once
// The human-readable half of a report directory: SVG plots and an index.html that shows them
// beside the summary tables. The numbers come from the kernel module's report structures.

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "kernel/accumulation.hpp"
#include "kernel/decomposition.hpp"
#include "kernel/report_stream.hpp"
#include "kernel/report_writer.hpp"
#include "kernel/sweep.hpp"

namespace pk::app {

/// One part of an index page: a heading, a short text and its plots (shown in the page's plots
/// part), and its tables (shown after every plot, in the page's tables part).
struct PageSection {
  std::string heading;
  std::string html;                 // already escaped; shown above the plots
  std::vector<std::string> images;  // relative paths of SVG files
  std::string tables;               // already escaped; long tables folded in <details>
};

/// A whole report page, in the order a reader needs it: the question and its answer with the
/// key numbers, the configuration, the plots, then the tables and the files to download.
struct ReportPage {
  std::string title;
  std::string question;                                            // plain text
  std::string answer;                                              // already escaped: one or two sentences
  std::vector<std::pair<std::string, std::string>> configuration;  // (what, value), plain text
  std::vector<PageSection> sections;
  std::vector<std::pair<std::string, std::string>> files;  // (relative path, what it holds)
};

/// How a query point is named everywhere (plots, tables, pages): its 0-based row, and its
/// coordinates when `queries` is given and has at most four columns: "query 3 (x = 1)".
std::string query_label(std::int64_t query, const pk::ad::Tensor* queries);

/// Writes the plots of one decomposition into `dir` (steps.svg and cumulative.svg for `query`,
/// attribution.svg, sharpness.svg when computed) and returns the section that shows them with the summary
/// table. `queries`, when given, are the query points' coordinates, for the labels.
PageSection write_run_plots(const std::filesystem::path& dir, const std::string& prefix,
                            const pk::kernel::DecompositionReport& report, std::int64_t query,
                            const pk::ad::Tensor* queries = nullptr);

/// The checks (identities), the accumulation text and the per-query table of a report's totals:
/// the section every run page leads its plots with.
PageSection run_section(const pk::kernel::ReportTotals& totals, const pk::ad::Tensor* queries = nullptr);

/// Writes the plots of row `row` of `rows` (a report holding every step of that query point, e.g.
/// a streamed report's kept rows) into `dir` and adds them to `section`, labelled as query point
/// `query_number`.
void add_run_plots(PageSection& section, const std::filesystem::path& dir, const std::string& prefix,
                   const pk::kernel::DecompositionReport& rows, std::int64_t row, std::int64_t query_number,
                   const pk::ad::Tensor* queries = nullptr);

/// Plain-text lines on what accumulates over windows of steps and on the edge of stability: the
/// failing windows, the window with the largest share of the final first-order error, the onset
/// and the errors before and after it. Shared by the command's headline and the report page.
std::string accumulation_text(const pk::kernel::DecompositionReport& report);
std::string accumulation_text(const pk::kernel::ReportTotals& totals);
/// The same from windows and an onset computed elsewhere (a streamed report's totals).
std::string accumulation_text(const std::vector<pk::kernel::WindowTotals>& windows,
                              const pk::kernel::EdgeOfStability& edge, double window_tau);

/// The kernel's report files plus plots and an index.html, into `dir`; with `queries`, also
/// query_points.csv (query, x0, x1, ...: the coordinates behind each query index).
void write_run_report(const std::filesystem::path& dir, const pk::kernel::DecompositionReport& report,
                      const pk::kernel::RunDescription& run, std::int64_t plot_query,
                      const pk::ad::Tensor* queries = nullptr);

/// The question, answer and configuration of one decomposition's page.
ReportPage run_page(const pk::kernel::DecompositionReport& report, const pk::kernel::RunDescription& run,
                    std::int64_t plot_query, const pk::ad::Tensor* queries);
/// The same from a report's totals (a streamed report), listing the attribution files written.
ReportPage run_page(const pk::kernel::ReportTotals& totals, const pk::kernel::RunDescription& run,
                    std::int64_t plot_query, const pk::ad::Tensor* queries,
                    const std::vector<std::string>& attribution_files);

/// query_points.csv (query, x0, x1, ...) into `dir`; nothing without query points.
void write_query_points(const std::filesystem::path& dir, const pk::ad::Tensor* queries);

/// The page of one decomposition (index.html with its plots, and query_points.csv) from its
/// totals and the rows of the plotted query point (row `row` of `rows`): the same page whether
/// the report was held in memory or streamed.
void write_run_page(const std::filesystem::path& dir, const pk::kernel::ReportTotals& totals,
                    const pk::kernel::DecompositionReport& rows, std::int64_t row,
                    const pk::kernel::RunDescription& run, std::int64_t plot_query,
                    const pk::ad::Tensor* queries, const std::vector<std::string>& attribution_files);

/// A sweep's table as printed on the terminal.
std::string sweep_table(const pk::kernel::SweepResult& sweep);
/// The sweep's numbers, one row per learning rate (the file lr_sweep*.csv).
void write_sweep_csv(const std::filesystem::path& path, const pk::kernel::SweepResult& sweep);
/// The log-log plot of both relative errors against the learning rate for several sweeps.
std::string sweep_plot(const std::vector<std::pair<std::string, const pk::kernel::SweepResult*>>& sweeps);

/// index.html with the given title and sections (no question, answer or configuration).
void write_index(const std::filesystem::path& path, const std::string& title,
                 const std::vector<PageSection>& sections);
/// index.html for a whole page.
void write_page(const std::filesystem::path& path, const ReportPage& page);

/// An HTML table of a report's per-query summary; folded in <details> beyond 12 rows.
std::string summary_table_html(const pk::kernel::DecompositionReport& report,
                               const pk::ad::Tensor* queries = nullptr);
std::string summary_table_html(const pk::kernel::ReportTotals& totals,
                               const pk::ad::Tensor* queries = nullptr);
/// `text` in a <details> element whose summary is `label` (the text is already escaped).
std::string folded(const std::string& label, const std::string& html, bool open = false);
/// Formats a number for a page ("-" for NaN).
std::string format_number(double v, const char* format = "%.3g");

/// Writes text to a file, throwing std::runtime_error naming it on failure.
void write_text(const std::filesystem::path& path, const std::string& text);

/// Creates the file `path`, which must not exist, by calling `write` on a temporary sibling and
/// renaming it when `write` returns: a failure leaves neither file behind.
void write_new_file(const std::filesystem::path& path,
                    const std::function<void(const std::filesystem::path&)>& write);

}  // namespace pk::app
