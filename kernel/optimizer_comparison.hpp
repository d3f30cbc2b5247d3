#pragma once
// One line per optimiser: the same network trained from the same weights at one learning rate
// under different update rules, each run decomposed, to compare how well the first-order path
// kernel describes what each rule learned.

#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/autodiff.hpp"
#include "kernel/decomposition.hpp"
#include "nn/dataset.hpp"
#include "nn/loss.hpp"
#include "nn/model.hpp"
#include "nn/trainer.hpp"

namespace pk::kernel {

/// One optimiser's run.
struct OptimizerLine {
  pk::nn::OptimizerConfig optimizer;
  double learning_rate = 0.0;
  std::int64_t steps = 0;
  pk::nn::TrainingStatus status = pk::nn::TrainingStatus::completed;
  double final_loss = 0.0;
  /// ||f_N - f_0 - sum F1|| / ||f_N - f_0|| over every query point and output.
  double rel_error_first = 0.0;
  /// Share of sum_k |df_k| made on complex steps, and the fraction of (step, query) that are.
  double complex_change_share = 0.0, complex_fraction = 0.0;
  /// sum_m A_m + A_reg against sum_k F1_k (NaN without attribution).
  double attribution_error = 0.0;
};

/// Trains `steps` steps at `learning_rate` under each of `optimizers` from `initial_weights`, each
/// run decomposed online with `options`.
std::vector<OptimizerLine> compare_optimizers(const pk::nn::Model& model, const pk::nn::Loss& loss,
                                              const pk::nn::Dataset& data, const pk::ad::Tensor& queries,
                                              const pk::ad::Tensor& initial_weights,
                                              const std::vector<pk::nn::OptimizerConfig>& optimizers,
                                              double learning_rate, std::int64_t steps,
                                              const DecompositionOptions& options);

/// The lines as a table, one row per optimiser.
std::string optimizer_comparison_table(const std::vector<OptimizerLine>& lines);

}  // namespace pk::kernel
