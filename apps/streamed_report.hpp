#pragma once
// The end of a streamed report, shared by `decompose` and `merge`: the totals' files, the page of
// the plotted query point, the commit of the staged directory and the headline on stdout.

#include <cstdint>

#include "io/staged_directory.hpp"
#include "kernel/report_stream.hpp"

namespace pk::app {

/// Writes what `stream` has not written yet, the page, commits `dir` and prints the headline.
void finish_streamed_report(pk::io::StagedDirectory& dir, pk::kernel::ReportStream& stream,
                            const pk::kernel::DecompositionReport& tail,
                            const pk::kernel::RunDescription& description,
                            const pk::kernel::AttributionFormat& format, std::int64_t plot_query,
                            const pk::ad::Tensor* queries);

}  // namespace pk::app
