#include "nn/layers.hpp"

#include <string>

#include "autodiff/ops.hpp"
#include "nn/error.hpp"

namespace pk::nn {

ad::Var linear(ad::Var x, ad::Var w, const ParameterBlock& weight, const ParameterBlock& bias) {
  if (weight.shape.rank != 2 || bias.shape.rank != 1 || bias.shape.dim(0) != weight.shape.dim(0))
    throw SpecError("linear: blocks '" + weight.name + "' " + weight.shape.str() + " and '" + bias.name +
                    "' " + bias.shape.str() + " are not a weight (out, in) and bias (out)");
  if (x.shape().rank == 2) return ad::linear(x, weight.view(w), bias.view(w));
  return ad::add(ad::matmul(x, weight.view(w), false, true), bias.view(w));
}

}  // namespace pk::nn
