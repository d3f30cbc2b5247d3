#pragma once
// The layers built-in models are made of, as functions of a recorded batch and the recorded flat
// parameter vector. A user's model can call them too.

#include "autodiff/tape.hpp"
#include "nn/activation.hpp"
#include "nn/layout.hpp"

namespace pk::nn {

/// nn.Linear: y = x W^T + b for x of batch x in, with W (out x in) and b (out) the blocks
/// `weight` and `bias` of w. dy/dW = G^T x, dy/db = column sums of G, dy/dx = G W for the
/// adjoint G of y; the transpose is never formed.
ad::Var linear(ad::Var x, ad::Var w, const ParameterBlock& weight, const ParameterBlock& bias);

}  // namespace pk::nn
