#pragma once
// Turning command-line options into the library's objects: data, model, loss, initial weights,
// training configuration and decomposition options. Shared by the subcommands.

#include <string>

#include "apps/arguments.hpp"
#include "kernel/decomposition.hpp"
#include "kernel/report_writer.hpp"
#include "nn/nn.hpp"

namespace pk::app {

/// Declares --data, --targets, --header, --standardize.
void declare_data_options(Options& o);
/// Declares --arch, --activation, --loss, --init, --init-weights, --seed.
void declare_model_options(Options& o);
/// Declares --lr, --schedule, --decay, --steps, --batch-size and the optimiser's options.
void declare_training_options(Options& o);
/// Declares --optimizer, --momentum, --nesterov, --weight-decay, --beta1, --beta2, --eps.
void declare_optimizer_options(Options& o);
/// Declares --second-order (defaulting to `second_order`), --tau, --exact, --exact-tolerance,
/// --attribution, --sharpness-every, --pair-query, --order, --window, --window-tau, --eos-band,
/// --lanczos-tolerance, --exact-attribution.
void declare_decomposition_options(Options& o, const char* second_order = "complex");

/// The training data: a CSV file (with --targets) or a built-in set ("sine", "moons", "spirals",
/// "xor", "iris").
struct LoadedData {
  pk::nn::Dataset data;
  std::string description;
};
LoadedData load_data(const Options& o);

pk::nn::Model make_model(const Options& o, const pk::nn::Dataset& data);
pk::nn::Loss make_loss(const Options& o);
pk::ad::Tensor initial_weights(const Options& o, const pk::nn::Model& model);
pk::nn::TrainingConfig make_training_config(const Options& o);
/// The optimiser and its constants from the options of `declare_optimizer_options`; throws
/// UsageError naming the option for an unknown rule or constants out of range.
pk::nn::OptimizerConfig make_optimizer_config(const Options& o);
pk::kernel::DecompositionOptions make_decomposition_options(const Options& o);

/// Query points from --queries FILE.csv (every column an input), or `fallback` when not given.
pk::ad::Tensor load_queries(const Options& o, const pk::ad::Tensor& fallback, std::int64_t features);

/// Points from --OPTION FILE.csv for a recorded run: every column an input, as many as the run's
/// model takes, mapped with the run's standardisation when it has one (the space its model saw).
pk::ad::Tensor load_run_points(const Options& o, const std::string& option, const pk::nn::RunFacts& run);

/// Which space points of --OPTION are in, for reports ("raw inputs ...", "... standardised with
/// the run's statistics").
std::string point_space(const Options& o, const std::string& option, const pk::nn::RunFacts& run);

/// --threads N (at least 1).
int thread_count(const Options& o);

}  // namespace pk::app
