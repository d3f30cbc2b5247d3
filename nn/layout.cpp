#include "nn/layout.hpp"

#include "autodiff/ops.hpp"
#include "nn/error.hpp"

namespace pk::nn {

ad::Var ParameterBlock::view(ad::Var w) const {
  const ad::Var piece = ad::slice(w, offset, offset + size());
  return shape.rank == 1 ? piece : ad::reshape(piece, shape);
}

Layout Layout::flat(std::int64_t parameter_count, std::int64_t fan_in, std::int64_t fan_out) {
  if (parameter_count <= 0)
    throw SpecError("Layout::flat: parameter count must be positive, got " + std::to_string(parameter_count));
  Layout l;
  l.add("w", ad::Shape::vector(parameter_count), BlockRole::weight, fan_in > 0 ? fan_in : parameter_count,
        fan_out > 0 ? fan_out : parameter_count);
  return l;
}

ParameterBlock Layout::add(std::string name, ad::Shape shape, BlockRole role, std::int64_t fan_in,
                           std::int64_t fan_out) {
  if (name.empty()) throw SpecError("Layout::add: a block needs a name");
  for (const ParameterBlock& b : blocks_)
    if (b.name == name) throw SpecError("Layout::add: block '" + name + "' appears twice");
  if (shape.size() <= 0)
    throw SpecError("Layout::add: block '" + name + "' has no elements (shape " + shape.str() + ")");
  if (fan_in <= 0 || fan_out <= 0)
    throw SpecError("Layout::add: block '" + name + "' needs positive fans, got fan_in " +
                    std::to_string(fan_in) + ", fan_out " + std::to_string(fan_out));
  ParameterBlock b{std::move(name), size_, shape, role, fan_in, fan_out};
  size_ += shape.size();
  blocks_.push_back(b);
  return b;
}

void Layout::add_linear(const std::string& name, std::int64_t in, std::int64_t out) {
  if (in <= 0 || out <= 0)
    throw SpecError("Layout::add_linear: layer '" + name + "' needs positive widths, got " +
                    std::to_string(in) + " -> " + std::to_string(out));
  add(name + ".weight", ad::Shape::matrix(out, in), BlockRole::weight, in, out);
  add(name + ".bias", ad::Shape::vector(out), BlockRole::bias, in, out);
}

const ParameterBlock& Layout::block(std::string_view name) const {
  for (const ParameterBlock& b : blocks_)
    if (b.name == name) return b;
  throw SpecError("Layout: no block named '" + std::string(name) + "'");
}

std::string Layout::describe() const {
  std::string s;
  for (const ParameterBlock& b : blocks_)
    s += b.name + " " + b.shape.str() + " at [" + std::to_string(b.offset) + ", " +
         std::to_string(b.offset + b.size()) + ")\n";
  return s;
}

}  // namespace pk::nn
