#include "kernel/optimizer_comparison.hpp"

#include <cstdio>

#include "kernel/sweep.hpp"

namespace pk::kernel {

std::vector<OptimizerLine> compare_optimizers(const pk::nn::Model& model, const pk::nn::Loss& loss,
                                              const pk::nn::Dataset& data, const pk::ad::Tensor& queries,
                                              const pk::ad::Tensor& initial_weights,
                                              const std::vector<pk::nn::OptimizerConfig>& optimizers,
                                              double learning_rate, std::int64_t steps,
                                              const DecompositionOptions& options) {
  std::vector<OptimizerLine> lines;
  for (const pk::nn::OptimizerConfig& optimizer : optimizers) {
    pk::nn::Trainer trainer(
        model, loss, data,
        {.steps = steps, .schedule = pk::nn::Schedule::constant(learning_rate), .optimizer = optimizer});
    DecompositionObserver decomposition(model, loss, queries, options);
    trainer.add_observer(decomposition);
    const pk::nn::TrainingResult result = trainer.run(initial_weights);
    const DecompositionReport& r = decomposition.report();
    const ComplexStepStats complex = r.complex_stats();
    lines.push_back({optimizer, learning_rate, result.steps, result.status, result.final_loss,
                     relative_error(r, Correction::none), complex.change_share, complex.fraction,
                     r.attribution_identity_error()});
  }
  return lines;
}

std::string optimizer_comparison_table(const std::vector<OptimizerLine>& lines) {
  std::string out =
      "optimiser                   lr        steps  final loss  first-order error  complex-step share  "
      "attribution error\n";
  char row[256];
  for (const OptimizerLine& l : lines) {
    std::string name(pk::nn::optimizer_name(l.optimizer.kind));
    if (l.optimizer.kind == pk::nn::OptimizerKind::momentum) {
      char mu[48];
      std::snprintf(mu, sizeof mu, " mu=%g%s", l.optimizer.momentum, l.optimizer.nesterov ? " nesterov" : "");
      name += mu;
    }
    std::snprintf(row, sizeof row, "%-26s %9.4g %7lld %11.4g %18.3e %19.3f %18.2e%s\n", name.c_str(),
                  l.learning_rate, static_cast<long long>(l.steps), l.final_loss, l.rel_error_first,
                  l.complex_change_share, l.attribution_error,
                  l.status == pk::nn::TrainingStatus::completed ? "" : "  (diverged)");
    out += row;
  }
  return out;
}

}  // namespace pk::kernel
