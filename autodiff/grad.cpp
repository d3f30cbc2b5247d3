#include "autodiff/grad.hpp"

#include <algorithm>
#include <array>
#include <string>

#include "autodiff/error.hpp"
#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"

namespace pk::ad {

namespace {
void copy_into(const Node& from, const Node& to) {
  std::copy_n(from.value, from.shape.size(), to.value);
  if (to.tangent && from.tangent) std::copy_n(from.tangent, from.shape.size(), to.tangent);
}
}  // namespace

void grad(Var y, std::span<const Var> wrt, std::span<Var> out, const GradOptions& options) {
  if (!y.defined()) throw GradError("grad: output is an undefined value");
  Tape& t = y.tape();
  check(t, y, "grad (output)");
  for (const Var& w : wrt) check(t, w, "grad (with respect to)");
  if (out.size() != wrt.size())
    throw GradError("grad: " + std::to_string(out.size()) + " result slots for " +
                    std::to_string(wrt.size()) + " values");
  const Shape ys = y.shape();
  if (options.seed.defined()) {
    check(t, options.seed, "grad (seed)");
    if (options.seed.shape() != ys)
      throw GradError("grad: seed of shape " + options.seed.shape().str() + " for an output of shape " +
                      ys.str());
  } else if (ys.size() != 1) {
    throw GradError("grad: output has shape " + ys.str() +
                    "; a backward from a non-scalar needs a seed of that shape (GradOptions::seed)");
  }

  // The values the sweep must reach; a handful, so a small fixed buffer avoids an allocation.
  std::array<std::uint32_t, 8> few{};
  std::vector<std::uint32_t> many;
  std::span<const std::uint32_t> targets;
  if (wrt.size() <= few.size()) {
    for (std::size_t k = 0; k < wrt.size(); ++k) few[k] = wrt[k].index();
    targets = std::span<const std::uint32_t>(few.data(), wrt.size());
  } else {
    for (const Var& w : wrt) many.push_back(w.index());
    targets = many;
  }

  if (options.create_graph) {
    const Var seed = options.seed.defined() ? options.seed : t.fill(ys, 1.0);
    sweep(t, y.index(), seed, targets);
    for (std::size_t k = 0; k < wrt.size(); ++k) {
      const Var a = adjoint(t, wrt[k].index());
      out[k] = a.defined() ? a : t.fill(wrt[k].shape(), 0.0);
    }
    return;
  }

  // The results are made before the mark, so rewinding the backward pass keeps them.
  for (std::size_t k = 0; k < wrt.size(); ++k) out[k] = t.fill(wrt[k].shape(), 0.0, tangents_seen(t));
  const Tape::Mark before_backward = t.mark();
  const Var seed = options.seed.defined() ? options.seed : t.fill(ys, 1.0);
  sweep(t, y.index(), seed, targets);
  for (std::size_t k = 0; k < wrt.size(); ++k) {
    const Var a = adjoint(t, wrt[k].index());
    if (a.defined()) copy_into(node(t, a), node(t, out[k]));
  }
  t.rewind(before_backward);
}

std::vector<Var> grad(Var y, std::span<const Var> wrt, const GradOptions& options) {
  std::vector<Var> out(wrt.size());
  grad(y, wrt, out, options);
  return out;
}

Var grad(Var y, Var wrt, const GradOptions& options) {
  Var out;
  grad(y, std::span<const Var>(&wrt, 1), std::span<Var>(&out, 1), options);
  return out;
}

}  // namespace pk::ad
