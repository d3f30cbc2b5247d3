#pragma once
// The structure that fast algorithms (the dense tangent kernel, Taylor-mode second-order terms)
// exploit, read off a model's layer list: a chain of dense layers with pointwise activations.

#include <cstdint>
#include <optional>
#include <vector>

#include "nn/activation.hpp"
#include "nn/layout.hpp"
#include "nn/model.hpp"

namespace pk::nn {

/// One dense layer z = h W^T + b of a chain, and the pointwise activations applied to z after
/// it, in order (none, one, or several; the last layer may have some too).
struct DenseLayer {
  ParameterBlock weight;  // W, out x in, in the model's flat parameter vector
  ParameterBlock bias;    // b, out
  std::vector<Activation> activations;

  std::int64_t in() const { return weight.shape.dim(1); }
  std::int64_t out() const { return weight.shape.dim(0); }
};

/// A model that is f(x; w) = a_L(... a_1(x W_1^T + b_1) ... W_L^T + b_L) on rows x of
/// `input_dim` features, with every a_l a composition of pointwise activations.
struct DenseChain {
  std::int64_t input_dim = 0;
  std::vector<DenseLayer> layers;
};

/// The dense chain a layered model is, read from its layer list (Model::architecture) and its
/// layout: linear layers, activations and flatten (which moves no value: a batch holds each
/// input as one channel-major row), in any order that starts with a linear layer after at most
/// a flatten. Each layer's blocks are the layout's blocks in order (weight, then bias: PyTorch's
/// parameters_to_vector), checked against the layer's sizes. Empty for a model given as a user's
/// function, a layer list with convolution or pooling, an activation before the first linear
/// layer, or a layout that does not match the layer list.
std::optional<DenseChain> dense_chain(const Model& model);

}  // namespace pk::nn
