#pragma once
// Layered models: a stated input shape and a sequence of typed layers (linear, conv2d, pooling,
// flatten, activations), every output shape inferred and checked when the model is built. The
// parameters are laid out as torch.nn.utils.parameters_to_vector of the equivalent
// torch.nn.Sequential. An MLP is the case of linear layers joined by one activation.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nn/activation.hpp"
#include "nn/mlp.hpp"
#include "nn/model.hpp"

namespace pk::nn {

/// The kinds of layer a layered model is made of.
enum class LayerKind { linear, conv2d, avg_pool2d, max_pool2d, flatten, activation };

/// One layer and its constants. `in` is inferred from the layer before when a spec is parsed
/// (features for linear, channels for conv2d); unused constants stay 0.
struct LayerSpec {
  LayerKind kind = LayerKind::linear;
  std::int64_t in = 0;
  std::int64_t out = 0;      // linear: features; conv2d: channels
  std::int64_t kernel = 0;   // conv2d and pooling: square kernel
  std::int64_t stride = 0;   // conv2d: default 1; pooling: default the kernel
  std::int64_t padding = 0;  // conv2d only
  Activation activation = Activation::identity;

  /// The text `parse_architecture` reads back, e.g. "conv2d(4,3,padding=1)" or "tanh".
  std::string str() const;
  /// The layer's type name as run.json stores it ("linear", "conv2d", ..., or the activation).
  std::string type_name() const;

  friend bool operator==(const LayerSpec&, const LayerSpec&) = default;
};

/// A layered model's structure: the shape of one input ([F] for vectors, [C, H, W] for images,
/// which a batch holds as rows of C*H*W values, channel-major) and its layers in order.
struct Architecture {
  std::vector<std::int64_t> input_shape;
  std::vector<LayerSpec> layers;

  /// "1x8x8 conv2d(4,3,padding=1),tanh,...,linear(10)".
  std::string str() const;
  /// The widths and activation when this is a dense MLP (linear layers joined by one and the same
  /// activation, none after the last, vector input), which structure-exploiting algorithms (the
  /// dense tangent kernel, Taylor-mode F2) can use.
  std::optional<MlpSpec> as_mlp() const;

  friend bool operator==(const Architecture&, const Architecture&) = default;
};

/// The shape of an input, each layer's output and the parameter count, as inferred from an
/// architecture.
struct ArchitectureShapes {
  std::vector<std::vector<std::int64_t>> outputs;  // one per layer
  std::int64_t parameter_count = 0;
  std::int64_t input_size = 0;   // F = product of the input shape
  std::int64_t output_size = 0;  // C
};

/// Infers and checks every layer's output shape; fills in each layer's `in` when it is 0 and
/// checks it otherwise. Throws SpecError naming the layer (index and text) that does not fit its
/// input, has a non-positive constant, or a kernel larger than its input.
ArchitectureShapes infer_shapes(Architecture& arch);
/// The same for a complete architecture (every `in` stated).
ArchitectureShapes infer_shapes(const Architecture& arch);

/// Parses "1x8x8" (C x H x W) or "64" (F): positive integers joined by 'x'. Throws SpecError.
std::vector<std::int64_t> parse_input_shape(std::string_view text);
/// Parses a layer list such as "conv2d(4,3,padding=1),tanh,avg_pool2d(2),flatten,linear(10)"
/// over inputs of `input_shape` and checks it (infer_shapes). Grammar: layers joined by ',';
/// linear(out); conv2d(out, kernel, stride=1, padding=0); avg_pool2d(kernel, stride=kernel);
/// max_pool2d(kernel, stride=kernel); flatten; an activation name. Constants are positional in
/// that order or named (kernel=, stride=, padding=). Throws SpecError naming the layer.
Architecture parse_architecture(std::string_view layers, std::vector<std::int64_t> input_shape);

/// The layer list of an MLP.
Architecture mlp_architecture(const MlpSpec& spec);

/// The model of `arch`: layers with parameters are named "layer0", "layer1", ... in order, each
/// contributing `layerI.weight` then `layerI.bias`; a conv2d weight is out x (in*k*k), PyTorch's
/// weight.view(out, -1). Named "mlp <widths> <activation>" when `arch.as_mlp()` is one, else
/// "net <arch.str()>".
Model sequential(const Architecture& arch);
/// The same model under `name`.
Model sequential(const Architecture& arch, std::string name);

}  // namespace pk::nn
