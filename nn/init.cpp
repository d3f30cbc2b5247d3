#include "nn/init.hpp"

#include <array>
#include <cmath>
#include <string>
#include <utility>

#include "io/npy.hpp"
#include "nn/error.hpp"
#include "nn/random.hpp"

namespace pk::nn {

namespace {
constexpr std::array<std::pair<std::string_view, InitScheme>, 8> kNames{{
    {"pytorch_default", InitScheme::pytorch_default},
    {"xavier_uniform", InitScheme::xavier_uniform},
    {"xavier_normal", InitScheme::xavier_normal},
    {"he_uniform", InitScheme::he_uniform},
    {"he_normal", InitScheme::he_normal},
    {"pytorch", InitScheme::pytorch_default},
    {"xavier", InitScheme::xavier_uniform},
    {"he", InitScheme::he_normal},
}};
}  // namespace

InitScheme parse_init_scheme(std::string_view name) {
  for (const auto& [n, s] : kNames)
    if (n == name) return s;
  std::string known;
  for (const auto& entry : kNames) known += (known.empty() ? "" : ", ") + std::string(entry.first);
  throw SpecError("unknown initialisation '" + std::string(name) + "' (known: " + known + ")");
}

std::string_view init_scheme_name(InitScheme s) {
  for (const auto& [n, scheme] : kNames)
    if (scheme == s) return n;
  return "?";
}

ad::Tensor initialise(const Layout& layout, InitScheme scheme, std::uint64_t seed) {
  if (layout.parameter_count() <= 0) throw SpecError("initialise: the layout has no parameters");
  ad::Tensor w(ad::Shape::vector(layout.parameter_count()));
  Rng rng(seed);
  for (const ParameterBlock& b : layout.blocks()) {
    double* out = w.data() + b.offset;
    const auto fan_in = static_cast<double>(b.fan_in);
    const auto fan_sum = static_cast<double>(b.fan_in + b.fan_out);
    const bool bias = b.role == BlockRole::bias;
    for (std::int64_t i = 0; i < b.size(); ++i) {
      switch (scheme) {
        case InitScheme::pytorch_default: {
          const double a = 1.0 / std::sqrt(fan_in);
          out[i] = rng.uniform(-a, a);
          break;
        }
        case InitScheme::xavier_uniform: {
          const double a = std::sqrt(6.0 / fan_sum);
          out[i] = bias ? 0.0 : rng.uniform(-a, a);
          break;
        }
        case InitScheme::xavier_normal:
          out[i] = bias ? 0.0 : rng.normal(0.0, std::sqrt(2.0 / fan_sum));
          break;
        case InitScheme::he_uniform: {
          const double a = std::sqrt(6.0 / fan_in);
          out[i] = bias ? 0.0 : rng.uniform(-a, a);
          break;
        }
        case InitScheme::he_normal:
          out[i] = bias ? 0.0 : rng.normal(0.0, std::sqrt(2.0 / fan_in));
          break;
      }
    }
  }
  return w;
}

ad::Tensor load_parameters(const std::filesystem::path& path, const Layout& layout) {
  const io::NpyArray a = io::read_npy(path);
  const std::int64_t d = layout.parameter_count();
  if (a.shape.size() != 1)
    throw NpyError(path.string(), "initial parameters must be a flat vector of " + std::to_string(d) +
                                      " elements, got shape " + a.shape_str());
  if (a.shape[0] != d)
    throw NpyError(path.string(), "initial parameters have " + std::to_string(a.shape[0]) +
                                      " elements, the model's layout needs " + std::to_string(d));
  for (std::size_t i = 0; i < a.data.size(); ++i)
    if (!std::isfinite(a.data[i]))
      throw NpyError(path.string(), "initial parameter " + std::to_string(i) + " is not finite");
  return a.to_tensor();
}

}  // namespace pk::nn
