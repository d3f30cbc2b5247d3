#include "nn/activation.hpp"

#include <array>
#include <string>
#include <utility>

#include "autodiff/ops.hpp"
#include "nn/error.hpp"

namespace pk::nn {

namespace {
constexpr std::array<std::pair<std::string_view, Activation>, 6> kNames{{
    {"identity", Activation::identity},
    {"tanh", Activation::tanh},
    {"relu", Activation::relu},
    {"sigmoid", Activation::sigmoid},
    {"softplus", Activation::softplus},
    {"gelu", Activation::gelu},
}};
}  // namespace

Activation parse_activation(std::string_view name) {
  for (const auto& [n, a] : kNames)
    if (n == name) return a;
  std::string known;
  for (const auto& entry : kNames) known += (known.empty() ? "" : ", ") + std::string(entry.first);
  throw SpecError("unknown activation '" + std::string(name) + "' (known: " + known + ")");
}

std::string_view activation_name(Activation a) {
  for (const auto& [n, act] : kNames)
    if (act == a) return n;
  return "?";
}

ad::Var activate(Activation a, ad::Var x) {
  switch (a) {
    case Activation::identity:
      return x;
    case Activation::tanh:
      return ad::tanh(x);
    case Activation::relu:
      return ad::relu(x);
    case Activation::sigmoid:
      return ad::sigmoid(x);
    case Activation::softplus:
      return ad::softplus(x);
    case Activation::gelu:
      return ad::gelu(x);
  }
  throw SpecError("activate: invalid activation value");
}

}  // namespace pk::nn
