#include "nn/dense_chain.hpp"

#include "nn/architecture.hpp"

namespace pk::nn {

std::optional<DenseChain> dense_chain(const Model& model) {
  const Architecture* arch = model.architecture();
  if (arch == nullptr) return std::nullopt;
  const std::vector<ParameterBlock>& blocks = model.layout().blocks();
  DenseChain chain;
  chain.input_dim = model.input_dim();
  std::size_t next_block = 0;
  for (const LayerSpec& l : arch->layers) {
    switch (l.kind) {
      case LayerKind::linear: {
        if (next_block + 2 > blocks.size()) return std::nullopt;
        const ParameterBlock& weight = blocks[next_block];
        const ParameterBlock& bias = blocks[next_block + 1];
        const std::int64_t in = chain.layers.empty() ? chain.input_dim : chain.layers.back().out();
        if (weight.shape != ad::Shape::matrix(l.out, in) || bias.shape != ad::Shape::vector(l.out))
          return std::nullopt;
        chain.layers.push_back({weight, bias, {}});
        next_block += 2;
        break;
      }
      case LayerKind::activation:
        // An activation of the inputs would need its own place in the chain; no fast route is
        // worth that.
        if (chain.layers.empty()) return std::nullopt;
        if (l.activation != Activation::identity) chain.layers.back().activations.push_back(l.activation);
        break;
      case LayerKind::flatten:
        break;
      case LayerKind::conv2d:
      case LayerKind::avg_pool2d:
      case LayerKind::max_pool2d:
        return std::nullopt;
    }
  }
  if (chain.layers.empty() || next_block != blocks.size() || chain.layers.back().out() != model.output_dim())
    return std::nullopt;
  return chain;
}

}  // namespace pk::nn
