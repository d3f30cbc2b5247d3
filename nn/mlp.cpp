#include "nn/mlp.hpp"

#include <charconv>

#include "nn/architecture.hpp"
#include "nn/error.hpp"

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
  return sequential(mlp_architecture(spec), "mlp " + spec.str());
}

Model mlp(std::string_view widths, std::string_view activation) {
  return mlp(parse_mlp_spec(widths, activation));
}

}  // namespace pk::nn
