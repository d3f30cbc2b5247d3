#pragma once
// The elementwise activations a built-in model can use, by name.

#include <string_view>

#include "autodiff/tape.hpp"

namespace pk::nn {

/// An elementwise nonlinearity. Each maps to one autodiff op (autodiff/ops.hpp states its
/// derivative): tanh, relu (derivative 0 at 0), sigmoid, softplus ln(1 + e^x), gelu (exact,
/// x Phi(x)), identity.
enum class Activation { identity, tanh, relu, sigmoid, softplus, gelu };

/// The activation named `name` ("identity", "tanh", "relu", "sigmoid", "softplus", "gelu");
/// throws SpecError listing the names for any other.
Activation parse_activation(std::string_view name);
/// The name `parse_activation` accepts for `a`.
std::string_view activation_name(Activation a);
/// a(x) elementwise, recorded on x's tape (identity returns x itself).
ad::Var activate(Activation a, ad::Var x);

}  // namespace pk::nn
