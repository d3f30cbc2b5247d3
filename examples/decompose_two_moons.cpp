// Trains a small network on two moons and decomposes the run online at the training points: the
// library-level version of `pathkernel decompose`. Exits non-zero if the run identity fails.
#include <cstdio>

#include "kernel/decomposition.hpp"
#include "kernel/sweep.hpp"
#include "nn/nn.hpp"

int main() {
  const pk::nn::Dataset data = pk::nn::two_moons(200, /*seed*/ 1, /*noise*/ 0.1);
  const pk::nn::Model model = pk::nn::mlp("2-16-16-1", "tanh");
  const pk::nn::Loss loss(pk::nn::LossKind::binary_cross_entropy);
  const pk::ad::Tensor w0 = pk::nn::initialise(model.layout(), pk::nn::InitScheme::pytorch_default, 1);
  pk::nn::TrainingConfig config;
  config.steps = 500;
  config.schedule = pk::nn::Schedule::constant(0.5);
  pk::nn::Trainer trainer(model, loss, data, config);
  pk::kernel::DecompositionObserver decomposition(model, loss, data.inputs(), {});
  trainer.add_observer(decomposition);
  const pk::nn::TrainingResult result = trainer.run(w0);

  const pk::kernel::DecompositionReport& r = decomposition.report();
  const pk::kernel::ComplexStepStats complex = r.complex_stats();
  std::printf("%s on two moons: %lld steps, training loss %.4f\n", model.name().c_str(),
              static_cast<long long>(result.steps), result.final_loss);
  std::printf("first-order path kernel misses %.3g of the learned change (%.3g with F2 on complex steps)\n",
              pk::kernel::relative_error(r, pk::kernel::Correction::none),
              pk::kernel::relative_error(r, pk::kernel::Correction::complex_steps));
  std::printf("complex steps: %.1f%% of (step, point) pairs, carrying %.1f%% of the movement\n",
              100 * complex.fraction, 100 * complex.change_share);
  std::printf("run identity %.2e, exact path kernel %.2e, attribution %.2e\n", r.run_identity_error(),
              r.exact_identity_error(), r.attribution_identity_error());
  return r.run_identity_error() <= 1e-10 && r.exact_identity_error() <= 1e-10 ? 0 : 1;
}
