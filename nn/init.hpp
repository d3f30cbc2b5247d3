#pragma once
// Initial parameter vectors: seeded and bit-identical across runs, compilers and platforms
// (nn/random.hpp), or loaded from a .npy flat vector.

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "autodiff/tensor.hpp"
#include "nn/layout.hpp"

namespace pk::nn {

/// How blocks are filled. Bounds and deviations use each block's fans (nn/layout.hpp):
///   pytorch_default  weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (nn.Linear.reset_parameters)
///   xavier_uniform   weights U(-a, a), a = sqrt(6 / (fan_in + fan_out)); biases 0
///   xavier_normal    weights N(0, 2 / (fan_in + fan_out)); biases 0
///   he_uniform       weights U(-a, a), a = sqrt(6 / fan_in); biases 0
///   he_normal        weights N(0, 2 / fan_in); biases 0
enum class InitScheme { pytorch_default, xavier_uniform, xavier_normal, he_uniform, he_normal };

/// The scheme named `name` (the enumerator's name; "pytorch", "xavier" and "he" are accepted as
/// pytorch_default, xavier_uniform and he_normal); throws SpecError listing the names otherwise.
InitScheme parse_init_scheme(std::string_view name);
/// The enumerator's name.
std::string_view init_scheme_name(InitScheme s);

/// A parameter vector for `layout` drawn with `scheme` from one generator seeded with `seed`,
/// block after block in layout order, elements in row-major order.
ad::Tensor initialise(const Layout& layout, InitScheme scheme, std::uint64_t seed);

/// A parameter vector read from a .npy file holding a flat float64 vector of the layout's
/// length D. Throws NpyError for an unreadable file, and for an array that is not a vector of
/// D finite numbers (the message gives both lengths).
ad::Tensor load_parameters(const std::filesystem::path& path, const Layout& layout);

}  // namespace pk::nn
