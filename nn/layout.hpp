#pragma once
// Which slice of the flat parameter vector w is which tensor. A model owns no parameters: it
// describes w and computes with the slices of whatever w it is handed (docs/conventions.md). The
// built-in layers follow PyTorch's nn.Linear, so that
// torch.nn.utils.parameters_to_vector(model.parameters()) is a valid w and back.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "autodiff/shape.hpp"
#include "autodiff/tape.hpp"

namespace pk::nn {

/// What a block is for, which decides how the initialisers fill it.
enum class BlockRole {
  weight,  // a weight matrix or any block initialised from its fans
  bias,    // a bias vector: PyTorch's default draws it like the weights, Xavier and He zero it
};

/// One named tensor inside w: elements [offset, offset + shape.size()) in row-major order.
struct ParameterBlock {
  std::string name;
  std::int64_t offset = 0;
  ad::Shape shape;
  BlockRole role = BlockRole::weight;
  /// Inputs and outputs of the unit the block belongs to, used by the initialisers
  /// (nn.Linear: fan_in = in, fan_out = out, for both the weight and the bias).
  std::int64_t fan_in = 1;
  std::int64_t fan_out = 1;

  std::int64_t size() const { return shape.size(); }
  /// The block cut out of the recorded flat vector w, in its shape. Aliases w's storage, and its
  /// adjoint flows back into w's.
  ad::Var view(ad::Var w) const;
};

/// The ordered blocks that make up w; their concatenation is all of w.
class Layout {
 public:
  Layout() = default;
  /// A layout of one block "w" holding all `parameter_count` elements (for a user's model that
  /// slices w itself); its fans are both `parameter_count` unless given.
  static Layout flat(std::int64_t parameter_count, std::int64_t fan_in = 0, std::int64_t fan_out = 0);

  /// Appends a block after the last one and returns it; throws SpecError for a duplicate name,
  /// an empty name or a non-positive fan.
  ParameterBlock add(std::string name, ad::Shape shape, BlockRole role, std::int64_t fan_in,
                     std::int64_t fan_out);
  /// Appends the blocks of nn.Linear(in, out): `<name>.weight` (out x in) then `<name>.bias`
  /// (out).
  void add_linear(const std::string& name, std::int64_t in, std::int64_t out);

  const std::vector<ParameterBlock>& blocks() const { return blocks_; }
  /// The block called `name`; throws SpecError when there is none.
  const ParameterBlock& block(std::string_view name) const;
  /// D, the length of w.
  std::int64_t parameter_count() const { return size_; }
  /// One line per block: "layer0.weight (16, 2) at [0, 32)".
  std::string describe() const;

 private:
  std::vector<ParameterBlock> blocks_;
  std::int64_t size_ = 0;
};

}  // namespace pk::nn
