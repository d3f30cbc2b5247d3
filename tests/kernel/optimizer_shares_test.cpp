// Attribution under momentum, Nesterov, Adam and AdamW (kernel/optimizer_shares.hpp): the shares
// reduce to gradient descent's kernel attribution, add up to the first-order terms and (exactly)
// to the change of the predictions, match closed forms for a model linear in w, and each
// optimiser reports its own stability threshold.
#include "kernel/optimizer_shares.hpp"
#include "autodiff/functional.hpp"
#include "autodiff/grad.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "kernel/decomposition.hpp"
#include "kernel/tangent_kernel.hpp"
#include "kernel_test_support.hpp"

namespace pk::kernel {
namespace {

using namespace testing;
using pk::nn::LossKind;
using pk::nn::OptimizerConfig;
using pk::nn::OptimizerKind;
using pk::nn::Schedule;

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](double x, double y) {
           return std::bit_cast<std::uint64_t>(x) == std::bit_cast<std::uint64_t>(y);
         });
}

DecompositionOptions attribution_only() {
  DecompositionOptions o = first_order_only();
  o.attribution = true;
  return o;
}

TEST(OptimizerShares, MomentumZeroIsGradientDescentBitForBit) {
  const pk::nn::Dataset data = regression_data(10, 2, 2, 301);
  const pk::nn::Model model = pk::nn::mlp("2-6-2", "tanh");
  const Tensor queries = query_points(4, 2, 302);
  const Tensor w0 = init(model, 303);
  const pk::nn::BatchConfig batches{.batch_size = 4, .seed = 5};
  const TrainedRun gd = train(model, LossKind::mse, data,
                              {.steps = 8, .schedule = Schedule::constant(0.1), .batches = batches}, w0);
  const TrainedRun mom = train(model, LossKind::mse, data,
                               {.steps = 8,
                                .schedule = Schedule::constant(0.1),
                                .optimizer = {.kind = OptimizerKind::momentum, .momentum = 0.0},
                                .batches = batches},
                               w0);
  for (std::int64_t k = 0; k <= 8; ++k)
    ASSERT_TRUE(same_bits(
        std::vector<double>(gd.trajectory.weights(k).span().begin(), gd.trajectory.weights(k).span().end()),
        std::vector<double>(mom.trajectory.weights(k).span().begin(),
                            mom.trajectory.weights(k).span().end())));
  const DecompositionReport a = decompose(model, gd.trajectory, queries, attribution_only());
  const DecompositionReport b = decompose(model, mom.trajectory, queries, attribution_only());
  EXPECT_TRUE(b.kernel_form);
  EXPECT_TRUE(same_bits(a.attribution, b.attribution));
  EXPECT_TRUE(same_bits(a.path_kernel, b.path_kernel));

  // The shares route on the same run (what mu > 0 takes) agrees with the kernel route to rounding.
  OptimizerShares shares(model, {.kind = OptimizerKind::momentum, .momentum = 0.0}, data.inputs());
  std::vector<double> attribution(a.attribution.size(), 0.0), regularizer(4 * 2, 0.0);
  pk::ad::Tape tape;
  auto f = [&](Var x, Var w) { return model.forward(x, w); };
  for (std::int64_t k = 0; k < 8; ++k) {
    shares.add_step(k, mom.trajectory.weights(k), mom.trajectory.weights(k + 1), 0.1, mom.trajectory.batch(k),
                    mom.trajectory.output_derivatives(k), tape);
    accumulate_shares(per_sample_jacobians(f, queries, Tensor(mom.trajectory.weights(k)), tape), shares, 1.0,
                      attribution, regularizer);
  }
  double scale = 0.0, gap = 0.0;
  for (std::size_t i = 0; i < attribution.size(); ++i) {
    scale = std::max(scale, std::abs(a.attribution[i]));
    gap = std::max(gap, std::abs(attribution[i] - a.attribution[i]));
  }
  EXPECT_GT(scale, 1e-3);
  EXPECT_LT(gap, 1e-13 * scale);
  for (double r : regularizer) EXPECT_EQ(r, 0.0);
}

TEST(OptimizerShares, EveryOptimiserSumsToTheFirstOrderTermsOnMiniBatchesWithDecay) {
  const pk::nn::Dataset data = regression_data(12, 2, 2, 311);
  const pk::nn::Model model = pk::nn::mlp("2-5-5-2", "tanh");
  const Tensor queries = query_points(5, 2, 312);
  const Tensor w0 = init(model, 313);
  const OptimizerConfig configs[] = {
      {.kind = OptimizerKind::gradient_descent, .weight_decay = 0.05},
      {.kind = OptimizerKind::momentum, .momentum = 0.9, .weight_decay = 0.01},
      {.kind = OptimizerKind::momentum, .momentum = 0.7, .nesterov = true, .weight_decay = 0.01},
      {.kind = OptimizerKind::adam, .weight_decay = 0.02},
      {.kind = OptimizerKind::adamw, .weight_decay = 0.1, .beta1 = 0.8, .beta2 = 0.99},
  };
  for (const OptimizerConfig& config : configs) {
    const std::string name =
        std::string(pk::nn::optimizer_name(config.kind)) + (config.nesterov ? " nesterov" : "");
    const bool adam = config.kind == OptimizerKind::adam || config.kind == OptimizerKind::adamw;
    const TrainedRun run = train(model, LossKind::mse, data,
                                 {.steps = 12,
                                  .schedule = Schedule::constant(adam ? 0.01 : 0.05),
                                  .optimizer = config,
                                  .batches = {.batch_size = 5, .seed = 3}},
                                 w0);
    DecompositionOptions o = attribution_only();
    o.query_chunk = 3;                                  // two pieces, each with its own shares
    o.attribution_method = AttributionMethod::forward;  // the backward sums: attribution_backward_test.cpp
    const DecompositionReport r = decompose(model, run.trajectory, queries, o);
    EXPECT_FALSE(r.kernel_form) << name;
    EXPECT_EQ(r.attribution_method, "per_point_state") << name;
    EXPECT_TRUE(r.path_kernel.empty()) << name;
    EXPECT_LT(r.shares_closure_error, 1e-12) << name;
    EXPECT_LT(r.attribution_identity_error(), 1e-12) << name;
    // The decay has a share of its own, and it is not negligible against the points'.
    double reg = 0.0;
    for (double v : r.attribution_regularizer) reg = std::max(reg, std::abs(v));
    EXPECT_GT(reg, 1e-4) << name;
    // Every point got a share: mini-batches of 5 from 12 points over 12 steps reach all of them.
    for (std::int64_t m = 0; m < 12; ++m) EXPECT_NE(r.attribution[static_cast<std::size_t>(m)], 0.0) << name;
  }
}

TEST(OptimizerShares, TheExactAttributionClosesEveryStep) {
  const pk::nn::Dataset data = regression_data(8, 2, 1, 321);
  const pk::nn::Model model = pk::nn::mlp("2-6-1", "tanh");
  const Tensor queries = query_points(3, 2, 322);
  const Tensor w0 = init(model, 323);
  for (const OptimizerConfig& config :
       {OptimizerConfig{.kind = OptimizerKind::gradient_descent},
        OptimizerConfig{.kind = OptimizerKind::momentum, .momentum = 0.9, .weight_decay = 0.01},
        OptimizerConfig{.kind = OptimizerKind::adam, .weight_decay = 0.01}}) {
    const std::string name(pk::nn::optimizer_name(config.kind));
    const TrainedRun run =
        train(model, LossKind::mse, data,
              {.steps = 10,
               .schedule = Schedule::constant(config.kind == OptimizerKind::adam ? 0.05 : 0.3),
               .optimizer = config},
              w0);
    DecompositionOptions o = attribution_only();
    o.exact_kernel = true;
    o.exact_attribution = true;
    const DecompositionReport r = decompose(model, run.trajectory, queries, o);
    ASSERT_EQ(r.exact_attribution_error.size(), 10u) << name;
    for (std::int64_t k = 0; k < 10; ++k) {
      double scale = 0.0;
      for (std::int64_t q = 0; q < 3; ++q) scale = std::max(scale, std::abs(r.df[r.index(k, q, 0)]));
      // The quadrature's tolerance, plus the rounding of df and of the shares' sum.
      EXPECT_LE(r.exact_attribution_error[static_cast<std::size_t>(k)], o.exact_tolerance * scale + 1e-14)
          << name << " step " << k;
    }
    EXPECT_LT(r.exact_attribution_identity_error(), 1e-10) << name;
    // The first-order attribution differs from the exact one: the steps are not tiny.
    double first = 0.0, exact = 0.0;
    for (std::int64_t m = 0; m < 8; ++m) {
      first += r.attribution[static_cast<std::size_t>(m)];
      exact += r.exact_attribution[static_cast<std::size_t>(m)];
    }
    EXPECT_NE(first, exact) << name;
  }
}

// psi(x) = [x, tanh(x), 1]: the Jacobian of the one-output model linear in w, the same at every w.
std::vector<double> psi(const double* x) { return {x[0], x[1], std::tanh(x[0]), std::tanh(x[1]), 1.0}; }
double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

TEST(OptimizerShares, ClosedFormsForAModelLinearInW) {
  const pk::nn::Dataset data = regression_data(6, 2, 1, 331);
  const pk::nn::Model model = linear_in_w_model(2, 1);
  const Tensor queries = query_points(2, 2, 332);
  const Tensor w0 = init(model, 333);
  const std::int64_t steps = 15, m_all = 6;
  const double alpha = 0.05;
  for (const OptimizerConfig& config :
       {OptimizerConfig{.kind = OptimizerKind::momentum, .momentum = 0.8, .weight_decay = 0.02},
        OptimizerConfig{.kind = OptimizerKind::adam, .beta1 = 0.85, .beta2 = 0.95}}) {
    const std::string name(pk::nn::optimizer_name(config.kind));
    const TrainedRun run = train(model, LossKind::mse, data,
                                 {.steps = steps,
                                  .schedule = Schedule::constant(alpha),
                                  .optimizer = config,
                                  .batches = {.batch_size = 4, .seed = 8}},
                                 w0);
    for (const AttributionMethod method : {AttributionMethod::forward, AttributionMethod::backward}) {
      DecompositionOptions o = attribution_only();
      o.attribution_method = method;
      const DecompositionReport r = decompose(model, run.trajectory, queries, o);
      const pk::nn::Trajectory& t = run.trajectory;
      // Dense L'_{j,m} (zero outside B_j).
      std::vector<std::vector<double>> l(static_cast<std::size_t>(steps), std::vector<double>(m_all, 0.0));
      for (std::int64_t j = 0; j < steps; ++j)
        for (std::size_t b = 0; b < t.batch(j).size(); ++b)
          l[static_cast<std::size_t>(j)][static_cast<std::size_t>(t.batch(j)[b])] =
              t.output_derivatives(j)[static_cast<std::int64_t>(b)];
      std::vector<std::vector<double>> psi_m;
      for (std::int64_t m = 0; m < m_all; ++m) psi_m.push_back(psi(data.inputs().data() + 2 * m));
      for (std::int64_t q = 0; q < 2; ++q) {
        const std::vector<double> pq = psi(queries.data() + 2 * q);
        double total = 0.0, scale = 0.0;
        for (std::int64_t m = 0; m < m_all; ++m) {
          double want = 0.0;
          if (config.kind == OptimizerKind::momentum) {
            // A_m(x) = -alpha psi(x).psi(x_m) sum_j L'_{j,m} (1 - mu^(N-j)) / (1 - mu).
            const double mu = config.momentum;
            for (std::int64_t j = 0; j < steps; ++j)
              want += l[static_cast<std::size_t>(j)][static_cast<std::size_t>(m)] *
                      (1 - std::pow(mu, static_cast<double>(steps - j))) / (1 - mu);
            want *= -alpha * dot(pq, psi_m[static_cast<std::size_t>(m)]);
          } else {
            // A_m(x) = -sum_k alpha / (1 - b1^(k+1)) (1 - b1) sum_{j<=k} b1^(k-j) L'_{j,m}
            //          sum_i psi_i(x) psi_i(x_m) / (sqrt(v_hat_{k,i}) + eps), v from the batch gradients.
            const double b1 = config.beta1, b2 = config.beta2;
            std::vector<double> v(5, 0.0);
            for (std::int64_t k = 0; k < steps; ++k) {
              std::vector<double> g(5, 0.0);
              for (std::int64_t n = 0; n < m_all; ++n)
                for (std::size_t i = 0; i < 5; ++i)
                  g[i] += psi_m[static_cast<std::size_t>(n)][i] *
                          l[static_cast<std::size_t>(k)][static_cast<std::size_t>(n)];
              double weighted = 0.0;
              for (std::size_t i = 0; i < 5; ++i) {
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
                const double denom =
                    std::sqrt(v[i] / (1 - std::pow(b2, static_cast<double>(k + 1)))) + config.epsilon;
                weighted += pq[i] * psi_m[static_cast<std::size_t>(m)][i] / denom;
              }
              double moment = 0.0;
              for (std::int64_t j = 0; j <= k; ++j)
                moment += std::pow(b1, static_cast<double>(k - j)) *
                          l[static_cast<std::size_t>(j)][static_cast<std::size_t>(m)];
              want -= alpha / (1 - std::pow(b1, static_cast<double>(k + 1))) * (1 - b1) * moment * weighted;
            }
          }
          const double got = r.attribution[static_cast<std::size_t>(q * m_all + m)];
          EXPECT_NEAR(got, want, 1e-12 * (1 + std::abs(want)))
              << name << " " << r.attribution_method << " query " << q << " point " << m;
          total += got;
          scale = std::max(scale, std::abs(want));
        }
        EXPECT_GT(scale, 1e-3) << name;
        if (config.kind == OptimizerKind::momentum) {
          // A_reg(x) = -alpha lambda sum_j psi(x).w_j (1 - mu^(N-j)) / (1 - mu).
          double want = 0.0;
          for (std::int64_t j = 0; j < steps; ++j) {
            const pk::ad::TensorView w = t.weights(j);
            double pw = 0.0;
            for (std::int64_t i = 0; i < 5; ++i) pw += pq[static_cast<std::size_t>(i)] * w[i];
            want +=
                pw * (1 - std::pow(config.momentum, static_cast<double>(steps - j))) / (1 - config.momentum);
          }
          want *= -alpha * config.weight_decay;
          EXPECT_NEAR(r.attribution_regularizer[static_cast<std::size_t>(q)], want,
                      1e-12 * (1 + std::abs(want)))
              << name;
        }
      }
    }
  }
}

TEST(OptimizerShares, EachOptimiserHasItsOwnStabilityThreshold) {
  EXPECT_DOUBLE_EQ(stability_threshold({}, 0.1), 20.0);
  EXPECT_DOUBLE_EQ(stability_threshold({.weight_decay = 0.5}, 0.1), 19.5);
  EXPECT_DOUBLE_EQ(stability_threshold({.kind = OptimizerKind::momentum, .momentum = 0.9}, 0.1), 38.0);
  EXPECT_DOUBLE_EQ(stability_threshold({.kind = OptimizerKind::adam, .beta1 = 0.9}, 0.01), 3800.0);
  EXPECT_THROW(stability_threshold({}, 0.0), std::invalid_argument);
  // Momentum and Nesterov on h w^2 / 2 with h just inside and just outside the threshold.
  for (const OptimizerConfig& config :
       {OptimizerConfig{.kind = OptimizerKind::momentum, .momentum = 0.9},
        OptimizerConfig{.kind = OptimizerKind::momentum, .momentum = 0.6, .nesterov = true},
        OptimizerConfig{.kind = OptimizerKind::gradient_descent}}) {
    const double alpha = 0.1, limit = stability_threshold(config, alpha);
    for (const double factor : {0.98, 1.02}) {
      const double h = factor * limit;
      pk::nn::Optimizer opt(config, 1);
      std::vector<double> w{1.0}, next(1);
      for (int k = 0; k < 3000; ++k) {
        opt.step(w, std::vector<double>{h * w[0]}, alpha, next);
        w = next;
      }
      if (factor < 1)
        EXPECT_LT(std::abs(w[0]), 1e-3)
            << pk::nn::optimizer_name(config.kind) << " nesterov " << config.nesterov;
      else
        EXPECT_GT(std::abs(w[0]), 1e3)
            << pk::nn::optimizer_name(config.kind) << " nesterov " << config.nesterov;
    }
  }
}

TEST(OptimizerShares, AdamReportsThePreconditionedSharpnessAgainstItsThreshold) {
  const pk::nn::Dataset data = regression_data(8, 2, 1, 341);
  const pk::nn::Model model = pk::nn::mlp("2-4-1", "tanh");
  const Tensor w0 = init(model, 343);
  const TrainedRun run = train(
      model, LossKind::mse, data,
      {.steps = 4, .schedule = Schedule::constant(0.01), .optimizer = {.kind = OptimizerKind::adam}}, w0);
  DecompositionOptions o = first_order_only();
  o.sharpness_every = 2;
  o.lanczos_iterations = 200;
  const DecompositionReport r = decompose(model, run.trajectory, query_points(2, 2, 342), o);
  ASSERT_EQ(r.preconditioned_sharpness.size(), 4u);
  EXPECT_DOUBLE_EQ(r.stability_threshold[0], 3800.0);
  EXPECT_TRUE(std::isnan(r.preconditioned_sharpness[1]));
  // lambda_max(P H) from the explicit Hessian and the replayed preconditioner of step 2.
  pk::nn::Optimizer replay({.kind = OptimizerKind::adam}, model.parameter_count());
  pk::ad::Tape tape;
  auto loss = [&](Var wv) {
    return pk::nn::Loss(LossKind::mse)
        .value(model.forward(wv.tape().constant(data.inputs()), wv), data.targets());
  };
  std::vector<double> next(static_cast<std::size_t>(model.parameter_count()));
  for (std::int64_t k = 0; k <= 2; ++k) {
    const Tensor g = pk::ad::grad(loss, run.trajectory.weights(k), &tape);
    replay.step(run.trajectory.weights(k).span(), g.span(), 0.01, next);
  }
  const std::int64_t d = model.parameter_count();
  const Tensor h = pk::ad::hessian(loss, Tensor(run.trajectory.weights(2)), &tape);
  // P^(1/2) H P^(1/2) is symmetric: its largest eigenvalue by cyclic Jacobi rotations.
  std::vector<double> a(static_cast<std::size_t>(d * d));
  for (std::int64_t i = 0; i < d; ++i)
    for (std::int64_t j = 0; j < d; ++j)
      a[static_cast<std::size_t>(i * d + j)] =
          h[i * d + j] / std::sqrt(replay.adam_denominator()[static_cast<std::size_t>(i)] *
                                   replay.adam_denominator()[static_cast<std::size_t>(j)]);
  auto at = [&](std::int64_t i, std::int64_t j) -> double& { return a[static_cast<std::size_t>(i * d + j)]; };
  for (int sweep = 0; sweep < 100; ++sweep)
    for (std::int64_t p = 0; p < d; ++p)
      for (std::int64_t q = p + 1; q < d; ++q) {
        if (at(p, q) == 0.0) continue;
        const double theta = (at(q, q) - at(p, p)) / (2 * at(p, q));
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), sn = t * c;
        for (std::int64_t k = 0; k < d; ++k) {  // A <- A J (columns p, q), then J^T A (rows p, q)
          const double akp = at(k, p), akq = at(k, q);
          at(k, p) = c * akp - sn * akq;
          at(k, q) = sn * akp + c * akq;
        }
        for (std::int64_t k = 0; k < d; ++k) {
          const double apk = at(p, k), aqk = at(q, k);
          at(p, k) = c * apk - sn * aqk;
          at(q, k) = sn * apk + c * aqk;
        }
      }
  double lambda = -INFINITY;
  for (std::int64_t i = 0; i < d; ++i) lambda = std::max(lambda, at(i, i));
  EXPECT_NEAR(r.preconditioned_sharpness[2], lambda, 1e-6 * std::abs(lambda));
  // Not the plain sharpness under another name.
  EXPECT_GT(std::abs(r.preconditioned_sharpness[2] - r.sharpness[2]), 1e-3 * std::abs(lambda));
}

}  // namespace
}  // namespace pk::kernel

namespace pk::kernel {
namespace {

TEST(OptimizerShares, ARunWithOtherConstantsThanItsRecordIsRefusedNamingTheStep) {
  const pk::nn::Dataset data = testing::regression_data(6, 2, 1, 351);
  const pk::nn::Model model = pk::nn::mlp("2-3-1", "tanh");
  testing::TrainedRun run =
      testing::train(model, pk::nn::LossKind::mse, data,
                     {.steps = 3,
                      .schedule = pk::nn::Schedule::constant(0.1),
                      .optimizer = {.kind = pk::nn::OptimizerKind::momentum, .momentum = 0.9}},
                     testing::init(model, 352));
  run.trajectory.optimizer.momentum = 0.8;
  try {
    decompose(model, run.trajectory, testing::query_points(2, 2, 353), DecompositionOptions{});
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("step 1 of this momentum run does not follow"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace pk::kernel
