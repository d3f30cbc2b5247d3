#pragma once
// Multilayer perceptrons from a width spec such as "2-16-16-1": Linear layers in PyTorch's
// layout with an activation between them and none after the last.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nn/activation.hpp"
#include "nn/model.hpp"

namespace pk::nn {

/// The widths of an MLP (input, hidden..., output) and its hidden activation.
struct MlpSpec {
  std::vector<std::int64_t> widths;
  Activation activation = Activation::tanh;

  /// "2-16-16-1 tanh".
  std::string str() const;

  friend bool operator==(const MlpSpec&, const MlpSpec&) = default;
};

/// Parses "2-16-16-1" (at least two positive widths joined by '-') and an activation name;
/// throws SpecError pointing at the offending part.
MlpSpec parse_mlp_spec(std::string_view widths, std::string_view activation);

/// The MLP of `spec`, the layered model of `mlp_architecture(spec)` (nn/architecture.hpp) named
/// "mlp <spec>": layers named "layer0", "layer1", ... each contributing `layerI.weight`
/// (out x in) then `layerI.bias` (out) to w, as torch.nn.Sequential(Linear, act, Linear, act,
/// ..., Linear) would with parameters_to_vector.
Model mlp(const MlpSpec& spec);
/// `mlp(parse_mlp_spec(widths, activation))`.
Model mlp(std::string_view widths, std::string_view activation);

}  // namespace pk::nn
