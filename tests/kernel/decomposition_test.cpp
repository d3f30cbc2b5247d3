// The decomposition of whole runs: batched terms against one query at a time, the run and
// attribution identities, attributions and Domingos' path kernel against independent sums,
// mini-batches, momentum and Adam, online against offline, mode "complex" against mode "every",
// sharpness against the explicit Hessian, and the pair decomposition of F2.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "autodiff/error.hpp"
#include "autodiff/functional.hpp"
#include "kernel/decomposition.hpp"
#include "kernel/layered_second_order.hpp"
#include "kernel/step_terms.hpp"
#include "kernel_test_support.hpp"
#include "nn/architecture.hpp"

namespace pk::kernel {
namespace {

using namespace testing;
using pk::nn::LossKind;
using pk::nn::Schedule;

Tensor row_of(const Tensor& m, std::int64_t r) {
  const std::int64_t cols = m.shape().dim(1);
  return Tensor(TensorView(m.data() + r * cols, Shape::matrix(1, cols)));
}

TEST(StepTermsBatched, EqualOneQueryAtATime) {
  const Tensor queries = query_points(7, 3, 51);
  for (const pk::nn::Model& model : {custom_tanh_model(3), pk::nn::mlp("3-8-8-3", "softplus")}) {
    const Tensor w = init(model, 15);
    const Tensor dw = seeded(w.shape(), 0.2, 0.4);  // a large step, so every term matters
    auto f = [&model](Var x, Var wv) { return model.forward(x, wv); };
    pk::ad::Tape tape;
    const FirstOrder fo = first_order_term(f, queries, w, dw, tape);
    const SecondOrder so = second_order_term(f, queries, w, dw, tape);
    Tensor after_w(w);
    for (std::int64_t i = 0; i < w.size(); ++i) after_w[i] += dw[i];
    const Tensor after = predict(f, queries, after_w, tape);
    Tensor df(after.shape());
    for (std::int64_t i = 0; i < df.size(); ++i) df[i] = after[i] - fo.prediction[i];
    // Fixed 8 nodes (min = max), so batch and single use the same rule.
    const ExactChange ex = exact_change(f, queries, w, dw, df, tape, 0.0, 0.0, 8, 8);
    ASSERT_EQ(ex.nodes, 8);
    const std::int64_t c_out = model.output_dim();
    for (std::int64_t q = 0; q < 7; ++q) {
      const Tensor x = row_of(queries, q);
      const FirstOrder fo1 = first_order_term(f, x, w, dw, tape);
      const SecondOrder so1 = second_order_term(f, x, w, dw, tape);
      Tensor df1(Shape::matrix(1, c_out));
      for (std::int64_t c = 0; c < c_out; ++c) df1[c] = df(q, c);
      const ExactChange ex1 = exact_change(f, x, w, dw, df1, tape, 0.0, 0.0, 8, 8);
      for (std::int64_t c = 0; c < c_out; ++c) {
        const double scale = 1e-13 * (1 + std::abs(fo.prediction(q, c)));
        EXPECT_NEAR(fo1.prediction(0, c), fo.prediction(q, c), scale);
        EXPECT_NEAR(fo1.first_order(0, c), fo.first_order(q, c), scale);
        EXPECT_NEAR(so1.first_order(0, c), so.first_order(q, c), scale);
        EXPECT_NEAR(so1.second_order(0, c), so.second_order(q, c), scale);
        EXPECT_NEAR(ex1.change(0, c), ex.change(q, c), scale);
        // The batched second-order pass also gives F1, equal to the forward-mode one.
        EXPECT_NEAR(so.first_order(q, c), fo.first_order(q, c), scale);
      }
    }
  }
}

TEST(StepTermsBatched, DenseSecondOrderRouteEqualsTheDoubleBackwardForEveryActivationAndShape) {
  const Tensor queries = query_points(6, 3, 50);
  for (const char* activation : {"identity", "tanh", "relu", "sigmoid", "softplus", "gelu"})
    for (const char* widths : {"3-1", "3-4", "3-7-1", "3-7-5-4", "3-6-6-6-2"}) {
      const pk::nn::Model model = pk::nn::mlp(widths, activation);
      const Tensor w = init(model, 14);
      const Tensor dw = seeded(w.shape(), 0.1, 0.7);
      auto f = [&model](Var x, Var wv) { return model.forward(x, wv); };
      pk::ad::Tape tape;
      const SecondOrder slow = second_order_term(f, queries, w, dw, tape);
      const SecondOrder fast = dense_second_order_term(model, queries, w, dw, tape);
      const FirstOrder first = first_order_term(f, queries, w, dw, tape);
      ASSERT_EQ(fast.second_order.shape(), slow.second_order.shape());
      double scale1 = 0.0, scale2 = 0.0;
      for (std::int64_t i = 0; i < slow.second_order.size(); ++i) {
        scale1 = std::max(scale1, std::abs(first.first_order[i]));
        scale2 = std::max(scale2, std::abs(slow.second_order[i]));
      }
      const std::string what = std::string(widths) + " " + activation;
      EXPECT_LE(pk::ad::max_abs_diff(fast.first_order, first.first_order), 1e-13 * scale1) << what;
      EXPECT_LE(pk::ad::max_abs_diff(fast.second_order, slow.second_order), 1e-12 * scale2 + 1e-17) << what;
      // A network with a hidden layer has curvature in w (a bilinear W2 W1 term at least).
      if (std::string(widths).find('-') != std::string(widths).rfind('-')) {
        EXPECT_GT(scale2, 1e-6) << what;
      } else {
        EXPECT_EQ(scale2, 0.0) << what;  // one Linear layer is linear in w
      }
    }
}

// Layer lists that are dense chains but no MLP take the Taylor route (the decomposition's
// choice, model_second_order_term); conv nets and users' functions the double backward, and the
// dense route refuses them.
TEST(StepTermsBatched, DenseSecondOrderRouteFollowsTheLayerList) {
  struct Case {
    const char* arch;
    std::vector<std::int64_t> input;
    bool dense;
  };
  const Case cases[] = {
      {"linear(6),tanh,softplus,linear(5),linear(4),gelu,linear(2),sigmoid", {3}, true},
      {"flatten,linear(5),tanh,flatten,linear(3)", {1, 2, 2}, true},
      {"conv2d(2,2),tanh,flatten,linear(2)", {1, 3, 3}, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.arch);
    const pk::nn::Model model = pk::nn::sequential(pk::nn::parse_architecture(c.arch, c.input));
    const Tensor queries = query_points(5, model.input_dim(), 58);
    const Tensor w = init(model, 15);
    const Tensor dw = seeded(w.shape(), 0.1, 0.3);
    auto f = [&model](Var x, Var wv) { return model.forward(x, wv); };
    pk::ad::Tape tape;
    const SecondOrder slow = second_order_term(f, queries, w, dw, tape);
    const SecondOrder chosen = model_second_order_term(model, queries, w, dw, tape);
    double scale = 0.0;
    for (const double v : slow.second_order.span()) scale = std::max(scale, std::abs(v));
    ASSERT_GT(scale, 1e-6);
    EXPECT_LE(pk::ad::max_abs_diff(chosen.second_order, slow.second_order), 1e-12 * scale);
    if (c.dense) {
      const SecondOrder fast = dense_second_order_term(model, queries, w, dw, tape);
      EXPECT_EQ(pk::ad::max_abs_diff(fast.second_order, chosen.second_order), 0.0);
      EXPECT_EQ(pk::ad::max_abs_diff(fast.first_order, chosen.first_order), 0.0);
    } else {
      EXPECT_THROW(dense_second_order_term(model, queries, w, dw, tape), std::invalid_argument);
      // Other layer lists take the layered Taylor-mode route.
      const SecondOrder layered =
          layered_second_order_term(*model.architecture(), model, queries, w, dw, tape);
      EXPECT_EQ(pk::ad::max_abs_diff(layered.second_order, chosen.second_order), 0.0);
    }
  }
  const pk::nn::Model user = custom_tanh_model(3);
  const Tensor w = init(user, 16), dw = seeded(w.shape(), 0.1, 0.4), queries = query_points(4, 3, 59);
  pk::ad::Tape tape;
  EXPECT_THROW(dense_second_order_term(user, queries, w, dw, tape), std::invalid_argument);
  auto f = [&user](Var x, Var wv) { return user.forward(x, wv); };
  EXPECT_EQ(pk::ad::max_abs_diff(model_second_order_term(user, queries, w, dw, tape).second_order,
                                 second_order_term(f, queries, w, dw, tape).second_order),
            0.0);
}

TEST(Decomposition, BatchOfQueriesEqualsOneDecomposerPerQuery) {
  const pk::nn::Dataset data = regression_data(12, 2, 2, 52);
  const pk::nn::Model model = pk::nn::mlp("2-6-6-2", "tanh");
  const Tensor queries = query_points(4, 2, 53);
  const TrainedRun run =
      train(model, LossKind::mse, data, {.steps = 6, .schedule = Schedule::constant(0.3)}, init(model, 16));
  DecompositionOptions o;
  o.second_order = SecondOrderMode::every_step;
  const DecompositionReport all = decompose(model, run.trajectory, queries, o);
  expect_report_consistent(all);
  for (std::int64_t q = 0; q < 4; ++q) {
    const DecompositionReport one = decompose(model, run.trajectory, row_of(queries, q), o);
    expect_report_consistent(one);
    for (std::int64_t k = 0; k < all.steps; ++k)
      for (std::int64_t c = 0; c < 2; ++c) {
        const std::size_t i = all.index(k, q, c), j = one.index(k, 0, c);
        EXPECT_NEAR(one.df[j], all.df[i], 1e-14);
        EXPECT_NEAR(one.first_order[j], all.first_order[i], 1e-14);
        EXPECT_NEAR(one.second_order[j], all.second_order[i], 1e-14);
        EXPECT_NEAR(one.exact_change[j], all.exact_change[i], 1e-10 * std::abs(all.df[i]) + 1e-14);
      }
    for (std::int64_t m = 0; m < data.size(); ++m)
      for (std::int64_t c = 0; c < 2; ++c) {
        EXPECT_NEAR(one.attribution[static_cast<std::size_t>(c * data.size() + m)],
                    all.attribution[static_cast<std::size_t>((q * 2 + c) * data.size() + m)], 1e-14);
      }
  }
}

TEST(Decomposition, RunIdentityHoldsForEveryLossModelAndSchedule) {
  struct Case {
    const char* name;
    pk::nn::Model model;
    LossKind loss;
    pk::nn::Dataset data;
    Schedule schedule;
  };
  const pk::nn::Dataset moons = pk::nn::two_moons(20, 3, 0.1);
  const pk::nn::Dataset spirals = pk::nn::spirals(21, 4, 0.02, 3);
  const Case cases[] = {
      {"mse mlp cosine", pk::nn::mlp("3-8-8-2", "tanh"), LossKind::mse, regression_data(16, 3, 2, 54),
       Schedule::cosine(0.5, 8)},
      {"mse user model explicit", custom_tanh_model(3), LossKind::mse, regression_data(16, 3, 2, 55),
       Schedule::explicit_steps({0.1, 0.8, 0.05, 1.2, 0.3, 0.3, 0.01, 0.6})},
      {"bce moons", pk::nn::mlp("2-8-1", "gelu"), LossKind::binary_cross_entropy, moons,
       Schedule::constant(2.0)},
      {"softmax spirals", pk::nn::mlp("2-8-8-3", "relu"), LossKind::softmax_cross_entropy, spirals,
       Schedule::step(1.0, 3, 0.5)},
      // A dense chain that is no MLP (two activations in a row, a linear layer without one, an
      // activation on the output): the Taylor route of F2 through a layer list.
      {"mse layered dense chain",
       pk::nn::sequential(pk::nn::parse_architecture(
           "linear(6),tanh,softplus,linear(5),linear(4),sigmoid,linear(2),tanh", {3})),
       LossKind::mse, regression_data(16, 3, 2, 57), Schedule::constant(0.4)},
  };
  for (const Case& c : cases) {
    const TrainedRun run =
        train(c.model, c.loss, c.data, {.steps = 8, .schedule = c.schedule}, init(c.model, 17));
    ASSERT_EQ(run.result.status, pk::nn::TrainingStatus::completed) << c.name;
    const Tensor queries = query_points(5, c.model.input_dim(), 56);
    DecompositionOptions o;
    o.second_order = SecondOrderMode::every_step;
    o.sharpness_every = 4;
    const DecompositionReport r = decompose(c.model, run.trajectory, queries, o);
    // relu's kink makes the path only piecewise smooth.
    const pk::nn::Architecture* arch = c.model.architecture();
    const bool smooth =
        arch == nullptr ||
        std::none_of(arch->layers.begin(), arch->layers.end(), [](const pk::nn::LayerSpec& l) {
          return l.kind == pk::nn::LayerKind::activation && l.activation == pk::nn::Activation::relu;
        });
    expect_report_consistent(r, c.name, smooth);
    // The identity pieces by hand: f_N = f_0 + sum df, f_0 and f_N the model at w_0 and w_N.
    const Tensor f0 = pk::nn::evaluate(c.model, queries, run.trajectory.weights(0));
    const Tensor fn = pk::nn::evaluate(c.model, queries, run.trajectory.weights(8));
    for (std::int64_t q = 0; q < r.queries; ++q)
      for (std::int64_t o2 = 0; o2 < r.outputs; ++o2) {
        EXPECT_EQ(r.f_initial(q, o2), f0(q, o2)) << c.name;
        EXPECT_EQ(r.f_final(q, o2), fn(q, o2)) << c.name;
        const QuerySummary s = r.summary(q, o2);
        double sum_df = 0.0, sum_f1 = 0.0;
        for (std::int64_t k = 0; k < r.steps; ++k) {
          sum_df += r.df[r.index(k, q, o2)];
          sum_f1 += r.first_order[r.index(k, q, o2)];
        }
        EXPECT_NEAR(f0(q, o2) + sum_df, fn(q, o2), 1e-12 * (1 + std::abs(fn(q, o2)))) << c.name;
        EXPECT_NEAR(s.sum_first_order, sum_f1, 1e-15 * (1 + std::abs(sum_f1)));
        EXPECT_NEAR(s.f_initial + s.sum_first_order + s.sum_second_order + s.sum_remainder2, s.f_final,
                    1e-12 * (1 + std::abs(s.f_final)));
        if (smooth) {
          EXPECT_NEAR(s.sum_exact, fn(q, o2) - f0(q, o2), 1e-10 * (1 + std::abs(fn(q, o2)))) << c.name;
        }
      }
  }
}

// A_m(x) and K^p(x, x_m) summed independently over the recorded steps, from nn's per-sample
// Jacobians: K_k(x, x_m) = J_k(x) J_k(x_m)^T, A_m += -alpha_k K_k(x, x_m) L'_{k,m} (L' zero
// outside B_k), K^p += alpha_k K_k(x, x_m) (same output).
struct Attribution {
  std::vector<double> contribution, path_kernel;  // (q * C + c) * M + m
};
Attribution attribution_by_hand(const pk::nn::Model& model, const pk::nn::Trajectory& t,
                                const Tensor& queries) {
  const std::int64_t p_all = queries.shape().dim(0), c_out = model.output_dim(), m_all = t.sample_count;
  const std::int64_t d = model.parameter_count(), f = model.input_dim();
  Attribution a;
  a.contribution.assign(static_cast<std::size_t>(p_all * c_out * m_all), 0.0);
  a.path_kernel.assign(a.contribution.size(), 0.0);
  const TensorView inputs = t.training_inputs();
  for (std::int64_t k = 0; k < t.steps(); ++k) {
    const TensorView w = t.weights(k);
    const Tensor lprime = t.dense_output_derivatives(k);
    const double alpha = t.learning_rate(k);
    std::vector<Tensor> jm;
    for (std::int64_t m = 0; m < m_all; ++m)
      jm.push_back(pk::nn::sample_jacobian(model, TensorView(inputs.data() + m * f, Shape::vector(f)), w));
    for (std::int64_t q = 0; q < p_all; ++q) {
      const Tensor jq =
          pk::nn::sample_jacobian(model, TensorView(queries.data() + q * f, Shape::vector(f)), w);
      for (std::int64_t m = 0; m < m_all; ++m)
        for (std::int64_t c = 0; c < c_out; ++c) {
          const auto i = static_cast<std::size_t>((q * c_out + c) * m_all + m);
          for (std::int64_t c2 = 0; c2 < c_out; ++c2) {
            double kv = 0.0;
            for (std::int64_t j = 0; j < d; ++j) kv += jq(c, j) * jm[static_cast<std::size_t>(m)](c2, j);
            a.contribution[i] -= alpha * kv * lprime(m, c2);
            if (c2 == c) a.path_kernel[i] += alpha * kv;
          }
        }
    }
  }
  return a;
}

void expect_attribution_matches(const DecompositionReport& r, const Attribution& a, const std::string& what) {
  ASSERT_EQ(r.attribution.size(), a.contribution.size()) << what;
  ASSERT_EQ(r.path_kernel.size(), a.path_kernel.size()) << what;
  double scale_a = 0.0, scale_k = 0.0;
  for (double v : a.contribution) scale_a = std::max(scale_a, std::abs(v));
  for (double v : a.path_kernel) scale_k = std::max(scale_k, std::abs(v));
  ASSERT_GT(scale_a, 0.0);
  for (std::size_t i = 0; i < a.contribution.size(); ++i) {
    EXPECT_NEAR(r.attribution[i], a.contribution[i], 1e-12 * scale_a) << what << " entry " << i;
    EXPECT_NEAR(r.path_kernel[i], a.path_kernel[i], 1e-12 * scale_k) << what << " entry " << i;
  }
}

TEST(Attribution, ContributionsAndDomingosPathKernelMatchIndependentSums) {
  const pk::nn::Dataset data = regression_data(9, 2, 2, 57);
  const pk::nn::Model model = pk::nn::mlp("2-5-5-2", "tanh");
  const Tensor queries = query_points(3, 2, 58);
  // A schedule that changes every step, so a missing or wrong alpha_k cannot go unseen.
  const TrainedRun run = train(model, LossKind::mse, data,
                               {.steps = 5, .schedule = Schedule::exponential(0.4, 0.5)}, init(model, 18));
  DecompositionOptions o = first_order_only();
  o.attribution = true;
  const DecompositionReport r = decompose(model, run.trajectory, queries, o);
  expect_report_consistent(r);
  expect_attribution_matches(r, attribution_by_hand(model, run.trajectory, queries), "full batch");
  // sum_m A_m = sum_k F1_k to 1e-12, here recomputed from the arrays.
  for (std::int64_t q = 0; q < 3; ++q)
    for (std::int64_t c = 0; c < 2; ++c) {
      double a = 0.0, f1 = 0.0;
      for (std::int64_t m = 0; m < 9; ++m) a += r.attribution[static_cast<std::size_t>((q * 2 + c) * 9 + m)];
      for (std::int64_t k = 0; k < r.steps; ++k) f1 += r.first_order[r.index(k, q, c)];
      EXPECT_NEAR(a, f1, 1e-12 * std::max(1.0, std::abs(f1)));
      EXPECT_NEAR(r.summary(q, c).kernel_machine, r.f_initial(q, c) + a, 1e-15 * (1 + std::abs(a)));
    }
}

TEST(Attribution, MiniBatchRunsAttributeOnlyToEachStepsBatch) {
  const pk::nn::Dataset data = regression_data(13, 2, 1, 59);
  const pk::nn::Model model = pk::nn::mlp("2-6-6-1", "tanh");
  const Tensor queries = query_points(3, 2, 60);
  for (const std::int64_t steps : {2, 7}) {
    // Batches of 5 from 13 points: 5, 5, 3 per epoch; two steps leave three points unused.
    const TrainedRun run =
        train(model, LossKind::mse, data,
              {.steps = steps, .schedule = Schedule::constant(0.4), .batches = {.batch_size = 5, .seed = 3}},
              init(model, 19));
    ASSERT_FALSE(run.trajectory.full_batch);
    DecompositionOptions o = first_order_only();
    o.attribution = true;
    o.second_order = SecondOrderMode::every_step;
    const DecompositionReport r = decompose(model, run.trajectory, queries, o);
    expect_report_consistent(r, "steps " + std::to_string(steps));
    expect_attribution_matches(r, attribution_by_hand(model, run.trajectory, queries), "mini-batch");
    std::vector<bool> used(13, false);
    for (std::int64_t k = 0; k < steps; ++k)
      for (const std::int64_t m : run.trajectory.batch(k)) used[static_cast<std::size_t>(m)] = true;
    if (steps == 2) {
      ASSERT_EQ(std::count(used.begin(), used.end(), false), 3);
    }
    for (std::int64_t q = 0; q < 3; ++q)
      for (std::int64_t m = 0; m < 13; ++m) {
        const auto i = static_cast<std::size_t>(q * 13 + m);
        if (!used[static_cast<std::size_t>(m)]) {
          EXPECT_EQ(r.attribution[i], 0.0) << "point " << m << " was in no batch";
          EXPECT_GT(std::abs(r.path_kernel[i]), 0.0);  // K^p sums over every point
        } else {
          EXPECT_NE(r.attribution[i], 0.0);
        }
      }
  }
}

TEST(Decomposition, MomentumAndAdamAttributeThroughTheirShares) {
  const pk::nn::Dataset data = regression_data(12, 2, 2, 61);
  const pk::nn::Model model = pk::nn::mlp("2-6-6-2", "tanh");
  const Tensor queries = query_points(3, 2, 62);
  for (const pk::nn::OptimizerKind kind : {pk::nn::OptimizerKind::momentum, pk::nn::OptimizerKind::adam}) {
    const double lr = kind == pk::nn::OptimizerKind::adam ? 0.002 : 0.01;
    const TrainedRun run =
        train(model, LossKind::mse, data,
              {.steps = 6, .schedule = Schedule::constant(lr), .optimizer = {.kind = kind}}, init(model, 20));
    DecompositionOptions o;
    o.second_order = SecondOrderMode::every_step;
    o.attribution = true;
    o.pair_query = 0;
    const DecompositionReport r = decompose(model, run.trajectory, queries, o);
    const std::string name(pk::nn::optimizer_name(kind));
    expect_report_consistent(r, name);
    EXPECT_FALSE(r.kernel_form) << name;
    EXPECT_EQ(r.optimizer, name);
    EXPECT_FALSE(r.attribution.empty());
    EXPECT_TRUE(r.path_kernel.empty());  // Domingos' K^p belongs to gradient descent
    EXPECT_FALSE(r.top_pairs.empty());
    EXPECT_TRUE(r.options.attribution);
    EXPECT_EQ(r.attribution_method, "per_point_state");
    double sum_df = 0.0, sum_r1 = 0.0, sum_r2 = 0.0;
    for (std::int64_t k = 0; k < r.steps; ++k) {
      // F1 = J_k(x) dw_k with dw_k the optimiser's step, from nn's Jacobians.
      const Tensor dw = run.trajectory.step(k);
      for (std::int64_t q = 0; q < 3; ++q) {
        const Tensor j = pk::nn::sample_jacobian(model, TensorView(queries.data() + 2 * q, Shape::vector(2)),
                                                 run.trajectory.weights(k));
        for (std::int64_t c = 0; c < 2; ++c) {
          double f1 = 0.0;
          for (std::int64_t i = 0; i < dw.size(); ++i) f1 += j(c, i) * dw[i];
          const std::size_t i = r.index(k, q, c);
          EXPECT_NEAR(r.first_order[i], f1, 1e-13 * (1 + std::abs(f1)));
          ASSERT_TRUE(std::isfinite(r.second_order[i]));
          sum_df += std::abs(r.df[i]);
          sum_r1 += std::abs(r.remainder1(i));
          sum_r2 += std::abs(r.remainder2(i));
        }
      }
    }
    // Small steps: each order removes most of what is left.
    EXPECT_LT(sum_r1, 0.1 * sum_df) << name;
    EXPECT_LT(sum_r2, 0.2 * sum_r1) << name;
    // The shares add up to the steps: sum_m A_m = sum_k F1_k, and the pairs to the sum of F2.
    EXPECT_LT(r.attribution_identity_error(), 1e-12) << name;
    double f2 = 0.0;
    for (std::int64_t k = 0; k < r.steps; ++k)
      for (std::int64_t c = 0; c < 2; ++c) f2 += r.second_order[r.index(k, 0, c)];
    EXPECT_NEAR(r.pair_total, f2, 1e-12 * (1 + std::abs(f2))) << name;
  }
}

// Every array of two reports, bit for bit (timings aside).
void expect_same_report(const DecompositionReport& a, const DecompositionReport& b, const std::string& what) {
  EXPECT_EQ(a.steps, b.steps) << what;
  EXPECT_EQ(a.queries, b.queries) << what;
  EXPECT_EQ(a.outputs, b.outputs) << what;
  EXPECT_EQ(a.training_points, b.training_points) << what;
  EXPECT_EQ(a.kernel_form, b.kernel_form) << what;
  EXPECT_EQ(a.optimizer, b.optimizer) << what;
  EXPECT_TRUE(bitwise_equal(a.learning_rate, b.learning_rate)) << what << " learning_rate";
  EXPECT_TRUE(bitwise_equal(a.loss, b.loss)) << what << " loss";
  EXPECT_TRUE(bitwise_equal(a.sharpness, b.sharpness)) << what << " sharpness";
  EXPECT_TRUE(bitwise_equal(a.df, b.df)) << what << " df";
  EXPECT_TRUE(bitwise_equal(a.first_order, b.first_order)) << what << " first_order";
  EXPECT_TRUE(bitwise_equal(a.second_order, b.second_order)) << what << " second_order";
  EXPECT_TRUE(bitwise_equal(a.exact_change, b.exact_change)) << what << " exact_change";
  EXPECT_TRUE(bitwise_equal(a.exact_error, b.exact_error)) << what << " exact_error";
  EXPECT_TRUE(bitwise_equal(a.attribution, b.attribution)) << what << " attribution";
  EXPECT_TRUE(bitwise_equal(a.path_kernel, b.path_kernel)) << what << " path_kernel";
  EXPECT_TRUE(bitwise_equal(a.attribution_regularizer, b.attribution_regularizer))
      << what << " attribution_regularizer";
  EXPECT_TRUE(bitwise_equal(a.stability_threshold, b.stability_threshold)) << what << " stability_threshold";
  EXPECT_TRUE(bitwise_equal(a.preconditioned_sharpness, b.preconditioned_sharpness))
      << what << " preconditioned_sharpness";
  EXPECT_EQ(a.exact_nodes, b.exact_nodes) << what;
  EXPECT_EQ(a.second_order_computed, b.second_order_computed) << what;
  EXPECT_EQ(a.complex, b.complex) << what;
  EXPECT_TRUE(bitwise_equal(std::vector<double>(a.f_initial.span().begin(), a.f_initial.span().end()),
                            std::vector<double>(b.f_initial.span().begin(), b.f_initial.span().end())))
      << what;
  EXPECT_TRUE(bitwise_equal(std::vector<double>(a.f_final.span().begin(), a.f_final.span().end()),
                            std::vector<double>(b.f_final.span().begin(), b.f_final.span().end())))
      << what;
  ASSERT_EQ(a.top_pairs.size(), b.top_pairs.size()) << what;
  for (std::size_t i = 0; i < a.top_pairs.size(); ++i) {
    EXPECT_EQ(a.top_pairs[i].m, b.top_pairs[i].m);
    EXPECT_EQ(a.top_pairs[i].n, b.top_pairs[i].n);
    EXPECT_EQ(a.top_pairs[i].output, b.top_pairs[i].output);
    EXPECT_TRUE(same_bits(a.top_pairs[i].value, b.top_pairs[i].value));
  }
  EXPECT_TRUE(same_bits(a.pair_total, b.pair_total)) << what;
}

TEST(Decomposition, OnlineEqualsOfflineInMemoryAndFromDisk) {
  const ScratchDir scratch;
  const pk::nn::Dataset data = regression_data(10, 2, 2, 63);
  const Tensor queries = query_points(3, 2, 64);
  struct Case {
    const char* name;
    pk::nn::Model model;
    pk::nn::TrainingConfig config;
  };
  const Case cases[] = {
      {"full batch",
       pk::nn::mlp("2-5-5-2", "tanh"),
       {.steps = 6, .schedule = Schedule::explicit_steps({0.2, 1.5, 0.1, 0.9, 0.05, 2.0})}},
      {"mini-batch",
       pk::nn::mlp("2-5-5-2", "tanh"),
       {.steps = 6, .schedule = Schedule::constant(0.7), .batches = {.batch_size = 4, .seed = 9}}},
      {"adam user model",
       custom_tanh_model(2),
       {.steps = 5,
        .schedule = Schedule::constant(0.05),
        .optimizer = {.kind = pk::nn::OptimizerKind::adam}}},
      {"nesterov with decay, mini-batch",
       pk::nn::mlp("2-5-5-2", "tanh"),
       {.steps = 6,
        .schedule = Schedule::constant(0.1),
        .optimizer = {.kind = pk::nn::OptimizerKind::momentum,
                      .momentum = 0.8,
                      .nesterov = true,
                      .weight_decay = 0.01},
        .batches = {.batch_size = 4, .seed = 9}}},
  };
  for (const Case& c : cases) {
    DecompositionOptions o;
    o.second_order = SecondOrderMode::complex_steps;
    o.tau = 0.02;
    o.sharpness_every = 2;
    o.pair_query = 1;
    o.pair_count = 5;
    pk::nn::Trainer trainer(c.model, pk::nn::Loss(LossKind::mse), data, c.config);
    DecompositionObserver online(c.model, pk::nn::Loss(LossKind::mse), queries, o);
    pk::nn::TrajectoryRecorder memory;
    const std::filesystem::path dir = scratch / c.name;
    pk::nn::DiskTrajectoryRecorder disk(dir);
    trainer.add_observer(online);
    trainer.add_observer(memory);
    trainer.add_observer(disk);
    EXPECT_THROW(online.report(), std::logic_error);  // not before the run
    const pk::nn::TrainingResult result = trainer.run(init(c.model, 21));
    ASSERT_EQ(result.status, pk::nn::TrainingStatus::completed) << c.name;
    const DecompositionReport& live = online.report();
    expect_report_consistent(live, c.name);
    const DecompositionReport from_memory = decompose(c.model, memory.trajectory(), queries, o);
    const DecompositionReport from_disk =
        decompose(c.model, pk::nn::read_trajectory(dir, c.model), queries, o);
    expect_same_report(live, from_memory, std::string(c.name) + " online vs memory");
    expect_same_report(live, from_disk, std::string(c.name) + " online vs disk");
    // The run exercised what it was meant to: some complex steps, some not; sharpness every
    // second step.
    std::int64_t flagged = 0;
    for (const auto v : live.second_order_computed) flagged += v;
    if (std::string(c.name) != "adam user model") {
      EXPECT_GT(flagged, 0) << c.name;
      EXPECT_FALSE(live.top_pairs.empty()) << c.name;
    }
    for (std::int64_t k = 0; k < live.steps; ++k)
      EXPECT_EQ(std::isnan(live.sharpness[static_cast<std::size_t>(k)]), k % 2 != 0)
          << c.name << " step " << k;
  }
}

TEST(Decomposition, ComplexModeEqualsEveryModeOnTheFlaggedSteps) {
  const pk::nn::Dataset data = regression_data(12, 2, 2, 65);
  const pk::nn::Model model = pk::nn::mlp("2-6-6-2", "tanh");
  const Tensor queries = query_points(4, 2, 66);
  // Small and large steps alternate, so some steps are far from linear and some are not.
  const TrainedRun run =
      train(model, LossKind::mse, data,
            {.steps = 10,
             .schedule = Schedule::explicit_steps({0.01, 1.5, 0.02, 0.8, 0.005, 2.0, 0.05, 1.0, 0.01, 1.2})},
            init(model, 22));
  ASSERT_EQ(run.result.status, pk::nn::TrainingStatus::completed);
  DecompositionOptions every = first_order_only();
  every.second_order = SecondOrderMode::every_step;
  const DecompositionReport all = decompose(model, run.trajectory, queries, every);
  expect_report_consistent(all);
  // tau: the median over steps of each step's largest |R1| / |df|, so about half the steps are
  // complex.
  std::vector<double> worst(static_cast<std::size_t>(all.steps), 0.0);
  for (std::int64_t k = 0; k < all.steps; ++k)
    for (std::int64_t i = 0; i < all.queries * all.outputs; ++i) {
      const std::size_t j = static_cast<std::size_t>(k * all.queries * all.outputs + i);
      worst[static_cast<std::size_t>(k)] =
          std::max(worst[static_cast<std::size_t>(k)], std::abs(all.remainder1(j)) / std::abs(all.df[j]));
    }
  std::vector<double> sorted = worst;
  std::sort(sorted.begin(), sorted.end());
  DecompositionOptions complex = every;
  complex.second_order = SecondOrderMode::complex_steps;
  complex.tau = 0.5 * (sorted[4] + sorted[5]);
  const DecompositionReport some = decompose(model, run.trajectory, queries, complex);
  expect_report_consistent(some);
  std::int64_t flagged = 0;
  for (std::int64_t k = 0; k < all.steps; ++k) {
    const auto ks = static_cast<std::size_t>(k);
    const bool is_complex = worst[ks] > complex.tau;
    bool any_flag = false;
    for (std::int64_t i = 0; i < all.queries * all.outputs; ++i)
      any_flag = any_flag || some.complex[static_cast<std::size_t>(k * all.queries * all.outputs + i)];
    EXPECT_EQ(any_flag, is_complex) << "step " << k;
    EXPECT_EQ(some.second_order_computed[ks] != 0, is_complex) << "step " << k;
    flagged += is_complex ? 1 : 0;
    for (std::int64_t q = 0; q < all.queries; ++q)
      for (std::int64_t c = 0; c < all.outputs; ++c) {
        const std::size_t i = all.index(k, q, c);
        EXPECT_TRUE(same_bits(some.df[i], all.df[i]));
        EXPECT_TRUE(same_bits(some.first_order[i], all.first_order[i]));
        // F2 belongs to the entries of T_c: a complex step's other points do not get it.
        if (some.complex[i]) {
          EXPECT_TRUE(same_bits(some.second_order[i], all.second_order[i])) << "step " << k;
        } else {
          EXPECT_TRUE(std::isnan(some.second_order[i])) << "step " << k;
        }
      }
  }
  EXPECT_EQ(flagged, 5);
  // The complex steps are the large-rate ones.
  for (std::int64_t k = 0; k < all.steps; ++k)
    EXPECT_EQ(some.second_order_computed[static_cast<std::size_t>(k)] != 0,
              all.learning_rate[static_cast<std::size_t>(k)] > 0.5)
        << k;
  // The statistics split R1's removal by complex and other steps.
  // The statistics, pooled over entries (step, query, output), by hand.
  std::int64_t complex_entries = 0;
  double df_complex = 0, df_all = 0, r1_c = 0, r2_c = 0, r1_o = 0, r2_o = 0;
  for (std::size_t i = 0; i < some.df.size(); ++i) {
    df_all += std::abs(some.df[i]);
    if (some.complex[i]) {
      ++complex_entries;
      df_complex += std::abs(some.df[i]);
      r1_c += std::abs(some.remainder1(i));
      r2_c += std::abs(some.remainder2(i));  // F2 was computed at every complex entry's step
    } else if (!std::isnan(some.second_order[i])) {
      r1_o += std::abs(some.remainder1(i));
      r2_o += std::abs(some.remainder2(i));
    }
  }
  const ComplexStepStats stats = some.complex_stats();
  EXPECT_EQ(stats.complex_steps, complex_entries);
  EXPECT_DOUBLE_EQ(stats.fraction,
                   static_cast<double>(complex_entries) / static_cast<double>(some.df.size()));
  EXPECT_DOUBLE_EQ(stats.change_share, df_complex / df_all);
  EXPECT_DOUBLE_EQ(stats.r1_removed_complex, 1.0 - r2_c / r1_c);
  EXPECT_EQ(r1_o, 0.0);  // no F2 outside T_c, so nothing to say about the other entries
  EXPECT_TRUE(std::isnan(stats.r1_removed_elsewhere));
  EXPECT_GT(stats.r1_removed_complex, 0.0);       // F2 removes part of R1 even at these rates
  EXPECT_GT(stats.change_share, stats.fraction);  // the complex steps carry more than their count
  // No second order at all: F2 is NaN everywhere and R2 = R1.
  const DecompositionReport none = decompose(model, run.trajectory, queries, first_order_only());
  for (std::size_t i = 0; i < none.df.size(); ++i) {
    EXPECT_TRUE(std::isnan(none.second_order[i]));
    EXPECT_EQ(none.remainder2(i), none.remainder1(i));
  }
}

TEST(Decomposition, SharpnessEqualsTheTopEigenvalueOfTheExplicitHessian) {
  const pk::nn::Dataset data = regression_data(10, 2, 1, 67);
  const pk::nn::Model model = pk::nn::mlp("2-3-1", "tanh");  // D = 13
  const Tensor queries = query_points(2, 2, 68);
  for (const std::int64_t batch : {0, 4}) {
    const TrainedRun run =
        train(model, LossKind::mse, data,
              {.steps = 5, .schedule = Schedule::constant(0.5), .batches = {.batch_size = batch, .seed = 1}},
              init(model, 23));
    DecompositionOptions o = first_order_only();
    o.sharpness_every = 2;
    const DecompositionReport r = decompose(model, run.trajectory, queries, o);
    expect_report_consistent(r);
    const pk::nn::Loss loss(LossKind::mse);
    for (std::int64_t k = 0; k < r.steps; ++k) {
      const double s = r.sharpness[static_cast<std::size_t>(k)];
      if (k % 2 != 0) {
        EXPECT_TRUE(std::isnan(s));
        continue;
      }
      // The training loss over the whole training set, at w_k.
      const Tensor h = pk::ad::hessian(
          [&](Var w) {
            return loss.value(model.forward(w.tape().constant(data.inputs()), w), data.targets());
          },
          run.trajectory.weights(k));
      const std::int64_t d = model.parameter_count();
      std::vector<double> sym(static_cast<std::size_t>(d * d));
      for (std::int64_t i = 0; i < d; ++i)
        for (std::int64_t j = 0; j < d; ++j)
          sym[static_cast<std::size_t>(i * d + j)] = 0.5 * (h(i, j) + h(j, i));
      const std::vector<double> eig = symmetric_eigenvalues(sym, d);
      // Lanczos stops when its estimate moves by less than 1e-6 relative; it converges much
      // faster than that suggests (errors of a few 1e-9 here). 1e-7 still separates w_k from w_{k+1}.
      EXPECT_NEAR(s, eig.back(), 1e-7 * std::abs(eig.back())) << "step " << k << " batch " << batch;
    }
  }
}

TEST(Decomposition, PairsOfTrainingPointsSumToTheSecondOrderTerm) {
  const pk::nn::Dataset data = regression_data(8, 2, 1, 69);
  const pk::nn::Model model = pk::nn::mlp("2-5-5-1", "tanh");
  const Tensor queries = query_points(3, 2, 70);
  const TrainedRun run =
      train(model, LossKind::mse, data, {.steps = 4, .schedule = Schedule::constant(0.8)}, init(model, 24));
  DecompositionOptions o = first_order_only();
  o.second_order = SecondOrderMode::every_step;
  o.pair_query = 2;
  o.pair_count = 6;
  const DecompositionReport r = decompose(model, run.trajectory, queries, o);
  expect_report_consistent(r);
  double f2 = 0.0;
  for (std::int64_t k = 0; k < r.steps; ++k) f2 += r.second_order[r.index(k, 2, 0)];
  EXPECT_NEAR(r.pair_total, f2, 1e-12 * std::max(1.0, std::abs(f2)));
  ASSERT_EQ(r.top_pairs.size(), 6u);
  for (std::size_t i = 1; i < r.top_pairs.size(); ++i)
    EXPECT_GE(std::abs(r.top_pairs[i - 1].value), std::abs(r.top_pairs[i].value));
  for (const F2Pair& p : r.top_pairs) EXPECT_LE(p.m, p.n);
}

TEST(Decomposition, RefusesStepsOutOfOrderAndBadOptions) {
  const pk::nn::Model model = pk::nn::mlp("2-3-1", "tanh");
  const pk::nn::Dataset data = regression_data(4, 2, 1, 71);
  const pk::nn::Loss loss(LossKind::mse);
  EXPECT_THROW(Decomposer(model, loss, query_points(2, 3, 1), data.inputs(), data.targets(),
                          pk::nn::OptimizerKind::gradient_descent, {}),
               pk::ad::ShapeError);
  DecompositionOptions bad;
  bad.tau = 0.0;
  EXPECT_THROW(Decomposer(model, loss, query_points(2, 2, 1), data.inputs(), data.targets(),
                          pk::nn::OptimizerKind::gradient_descent, bad),
               std::invalid_argument);
  DecompositionOptions pair;
  pair.pair_query = 2;
  EXPECT_THROW(Decomposer(model, loss, query_points(2, 2, 1), data.inputs(), data.targets(),
                          pk::nn::OptimizerKind::gradient_descent, pair),
               std::invalid_argument);
  const TrainedRun run =
      train(model, LossKind::mse, data, {.steps = 2, .schedule = Schedule::constant(0.1)}, init(model, 25));
  Decomposer d(model, loss, query_points(2, 2, 1), data.inputs(), data.targets(),
               pk::nn::OptimizerKind::gradient_descent, {});
  EXPECT_THROW(d.add_step(run.trajectory.step_view(1)), std::invalid_argument);  // step 1 before step 0
  EXPECT_EQ(parse_second_order_mode("none"), SecondOrderMode::none);
  EXPECT_EQ(parse_second_order_mode("complex"), SecondOrderMode::complex_steps);
  EXPECT_EQ(parse_second_order_mode("every"), SecondOrderMode::every_step);
  EXPECT_THROW(parse_second_order_mode("sometimes"), std::invalid_argument);
  for (const auto m : {SecondOrderMode::none, SecondOrderMode::complex_steps, SecondOrderMode::every_step})
    EXPECT_EQ(parse_second_order_mode(second_order_mode_name(m)), m);
}

TEST(Decomposition, AnEmptyRunReportsNoChange) {
  const pk::nn::Model model = pk::nn::mlp("2-3-1", "tanh");
  const pk::nn::Dataset data = regression_data(4, 2, 1, 72);
  const TrainedRun run =
      train(model, LossKind::mse, data, {.steps = 0, .schedule = Schedule::constant(0.1)}, init(model, 26));
  const DecompositionReport r = decompose(model, run.trajectory, query_points(2, 2, 2), {});
  EXPECT_EQ(r.steps, 0);
  EXPECT_EQ(r.run_identity_error(), 0.0);
  EXPECT_EQ(pk::ad::max_abs_diff(r.f_initial, r.f_final), 0.0);
}

}  // namespace
}  // namespace pk::kernel
