#include "nn/mlp.hpp"

#include <charconv>
#include <utility>

#include "nn/architecture.hpp"
#include "nn/error.hpp"
#include "nn/layers.hpp"

namespace pk::nn {

std::string MlpSpec::str() const {
  std::string s;
  for (std::size_t i = 0; i < widths.size(); ++i) {
    if (i) s += '-';
    s += std::to_string(widths[i]);
  }
  s += ' ';
  s += activation_name(activation);
  return s;
}

MlpSpec parse_mlp_spec(std::string_view widths, std::string_view activation) {
  MlpSpec spec;
  spec.activation = parse_activation(activation);
  std::size_t start = 0;
  for (;;) {
    const std::size_t dash = widths.find('-', start);
    const std::string_view part = widths.substr(start, dash == std::string_view::npos ? dash : dash - start);
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size() || v <= 0)
      throw SpecError("MLP spec '" + std::string(widths) + "': width " +
                      std::to_string(spec.widths.size() + 1) + " ('" + std::string(part) +
                      "') is not a positive integer");
    spec.widths.push_back(v);
    if (dash == std::string_view::npos) break;
    start = dash + 1;
  }
  if (spec.widths.size() < 2)
    throw SpecError("MLP spec '" + std::string(widths) +
                    "': needs at least an input and an output width, as in 2-16-1");
  return spec;
}

Model mlp(const MlpSpec& spec) {
  if (spec.widths.size() < 2) throw SpecError("mlp: a spec needs at least two widths");
  for (const std::int64_t w : spec.widths)
    if (w <= 0) throw SpecError("mlp: widths must be positive in " + spec.str());
  Layout layout;
  const std::size_t layers = spec.widths.size() - 1;
  for (std::size_t i = 0; i < layers; ++i)
    layout.add_linear("layer" + std::to_string(i), spec.widths[i], spec.widths[i + 1]);
  std::vector<std::pair<ParameterBlock, ParameterBlock>> blocks;
  for (std::size_t i = 0; i < layers; ++i)
    blocks.emplace_back(layout.blocks()[2 * i], layout.blocks()[2 * i + 1]);
  const Activation act = spec.activation;
  ForwardFunction f = [blocks = std::move(blocks), act](ad::Var x, ad::Var w) {
    ad::Var h = x;
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      h = linear(h, w, blocks[i].first, blocks[i].second);
      if (i + 1 < blocks.size()) h = activate(act, h);
    }
    return h;
  };
  return Model("mlp " + spec.str(), spec.widths.front(), spec.widths.back(), std::move(layout),
               std::move(f))
      .with_mlp_spec(spec)
      .with_architecture(mlp_architecture(spec));
}

Model mlp(std::string_view widths, std::string_view activation) {
  return mlp(parse_mlp_spec(widths, activation));
}

}  // namespace pk::nn
