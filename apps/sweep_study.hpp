#pragma once
// A learning-rate sweep written out as part of a report directory: the table, the CSV of errors
// by learning rate, the error plot, and each run's own report in runs/.

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

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
  std::string csv;      // the file names written, relative to the report directory
  std::string plot;
};

/// Runs the sweep and writes lr_sweep_<name>.csv, lr_sweep_<name>.svg and runs/<name>-lr<i>/
/// (each a full report) into `dir`; an empty name gives lr_sweep.csv, lr_sweep.svg and
/// runs/lr<i>/.
StudyResult run_sweep_study(const std::filesystem::path& dir, const std::string& name, const StudyInputs& in,
                            pk::kernel::SweepOptions options, bool show_progress, bool include_timings);

/// One or two sentences with the sweep's key numbers: how the first-order error (and the
/// corrected one) grows from the smallest to the largest learning rate, and the fitted slopes.
std::string sweep_answer(const pk::kernel::SweepResult& sweep);

/// The configuration rows every sweep page shows: learning rates, steps, decomposition.
std::vector<std::pair<std::string, std::string>> sweep_configuration(const pk::kernel::SweepResult& sweep,
                                                                     const pk::kernel::SweepOptions& options);

}  // namespace pk::app
