// What a model's layer list says about its structure: which layered models are chains of dense
// layers with pointwise activations, and where each layer's blocks sit in the flat vector.
#include "nn/dense_chain.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "autodiff/ops.hpp"
#include "nn/architecture.hpp"
#include "nn/layers.hpp"
#include "nn/mlp.hpp"

namespace pk::nn {
namespace {

TEST(DenseChain, AnMlpIsOneWithItsBlocksInOrder) {
  const Model m = mlp("3-5-4-2", "softplus");
  const std::optional<DenseChain> c = dense_chain(m);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->input_dim, 3);
  ASSERT_EQ(c->layers.size(), 3u);
  // The blocks follow parameters_to_vector: weight (out x in) then bias, layer by layer.
  EXPECT_EQ(c->layers[0].weight.offset, 0);
  EXPECT_EQ(c->layers[0].weight.shape, ad::Shape::matrix(5, 3));
  EXPECT_EQ(c->layers[0].bias.offset, 15);
  EXPECT_EQ(c->layers[1].weight.offset, 20);
  EXPECT_EQ(c->layers[1].weight.shape, ad::Shape::matrix(4, 5));
  EXPECT_EQ(c->layers[2].bias.offset, 20 + 20 + 4 + 8);
  EXPECT_EQ(c->layers[2].bias.offset + 2, m.parameter_count());
  EXPECT_EQ(c->layers[0].activations, std::vector<Activation>{Activation::softplus});
  EXPECT_EQ(c->layers[1].activations, std::vector<Activation>{Activation::softplus});
  EXPECT_TRUE(c->layers[2].activations.empty());
  EXPECT_EQ(c->layers[1].in(), 5);
  EXPECT_EQ(c->layers[1].out(), 4);
}

TEST(DenseChain, LayerListsBeyondMlpsAndTheirActivations) {
  const Model m = sequential(
      parse_architecture("flatten,linear(6),tanh,relu,linear(5),identity,linear(2),sigmoid", {1, 2, 2}));
  const std::optional<DenseChain> c = dense_chain(m);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->input_dim, 4);
  ASSERT_EQ(c->layers.size(), 3u);
  EXPECT_EQ(c->layers[0].activations, (std::vector<Activation>{Activation::tanh, Activation::relu}));
  EXPECT_TRUE(c->layers[1].activations.empty());  // identity moves nothing
  EXPECT_EQ(c->layers[2].activations, std::vector<Activation>{Activation::sigmoid});
  // The chain computes what the model computes.
  ad::Tape t;
  const ad::Tensor x = ad::Tensor::matrix(2, 4, {0.1, -0.4, 0.7, 0.2, -1.0, 0.5, 0.3, 0.9});
  ad::Tensor w(ad::Shape::vector(m.parameter_count()));
  for (std::int64_t i = 0; i < w.size(); ++i) w[i] = 0.3 * std::sin(1.7 * static_cast<double>(i));
  const ad::Var wv = t.constant(w);
  ad::Var h = t.constant(x);
  for (const DenseLayer& l : c->layers) {
    h = linear(h, wv, l.weight, l.bias);
    for (const Activation a : l.activations) h = activate(a, h);
  }
  EXPECT_EQ(ad::max_abs_diff(h.value(), evaluate(m, x, w)), 0.0);
}

TEST(DenseChain, OtherModelsAreNone) {
  EXPECT_FALSE(dense_chain(sequential(parse_architecture("conv2d(2,2),tanh,flatten,linear(2)", {1, 3, 3}))));
  EXPECT_FALSE(dense_chain(sequential(parse_architecture("avg_pool2d(2),flatten,linear(2)", {1, 4, 4}))));
  EXPECT_FALSE(dense_chain(sequential(parse_architecture("max_pool2d(2),flatten,linear(2)", {1, 4, 4}))));
  // An activation of the inputs has no place in the chain.
  EXPECT_FALSE(dense_chain(sequential(parse_architecture("tanh,linear(2)", {3}))));
  // A user's function, with or without a layer list that does not match its layout.
  Layout layout = Layout::flat(8);
  const Model user("user", 3, 2, layout, [](ad::Var x, ad::Var w) {
    return ad::matmul(x, ad::reshape(ad::slice(w, 0, 6), ad::Shape::matrix(3, 2)));
  });
  EXPECT_FALSE(dense_chain(user));
  EXPECT_FALSE(dense_chain(user.with_architecture(parse_architecture("linear(2)", {3}))));
}

}  // namespace
}  // namespace pk::nn
