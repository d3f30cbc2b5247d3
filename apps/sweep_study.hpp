#pragma once
// A learning-rate sweep written out as part of a report directory: the table, the CSV, the error
// plot, and each run's own report in runs/<name>-lr<k>/.

#include <filesystem>
#include <string>

#include "apps/report_page.hpp"
#include "kernel/sweep.hpp"
#include "nn/nn.hpp"

namespace pk::app {

struct StudyInputs {
  pk::nn::Model model;
  pk::nn::Loss loss;
  pk::nn::Dataset data;
  pk::ad::Tensor queries;
  pk::ad::Tensor initial_weights;
  std::string data_description;
};

struct StudyResult {
  pk::kernel::SweepResult sweep;
  std::string table;    // as printed
  PageSection section;  // for index.html
};

/// Runs the sweep and writes sweep_<name>.csv, sweep_<name>.svg and runs/<name>-lr<i>/ (each a
/// full report) into `dir`.
StudyResult run_sweep_study(const std::filesystem::path& dir, const std::string& name,
                            const StudyInputs& in, pk::kernel::SweepOptions options,
                            bool show_progress, bool include_timings);

}  // namespace pk::app
