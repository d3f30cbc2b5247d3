#pragma once
// The tape: an explicit record of operations in execution order, swept backward in a plain loop.
// This is the user's view of it: leaves, handles, clear and rewind. What an op's implementation
// needs (the node records, an op's rules, recording, the backward sweep) is in
// autodiff/op_author.hpp, which users never need to include.

#include <cstdint>
#include <vector>

#include "autodiff/arena.hpp"
#include "autodiff/shape.hpp"
#include "autodiff/tensor.hpp"

namespace pk::ad {

class Tape;
struct Node;
namespace detail {
struct TapeAccess;
}

/// A handle to a value recorded on a tape. Cheap to copy. Every access checks that the value
/// is still on its tape: after `Tape::clear` (or a rewind past it) using it throws `TapeError`.
class Var {
 public:
  Var() = default;

  /// False for a default-constructed handle.
  bool defined() const { return tape_ != nullptr; }
  Tape& tape() const;
  std::uint32_t index() const { return index_; }
  /// The shape, by value: a reference into the tape would dangle once recording grows it.
  Shape shape() const;
  std::int64_t size() const { return shape().size(); }
  /// The recorded value (valid while the value is on the tape).
  TensorView value() const;
  /// The single element of a one-element value.
  double item() const { return value().item(); }
  /// True when forward-mode tangents reached this value.
  bool has_tangent() const;
  /// The forward-mode tangent; zeros when no tangent reached this value.
  Tensor tangent() const;
  /// True when the value depends on a variable leaf, so gradients flow through it.
  bool requires_grad() const;

 private:
  friend class Tape;
  friend struct detail::TapeAccess;
  Var(Tape* tape, std::uint32_t index, std::uint64_t stamp) : tape_(tape), index_(index), stamp_(stamp) {}
  Tape* tape_ = nullptr;
  std::uint32_t index_ = 0;
  std::uint64_t stamp_ = 0;
};

/// Records operations and differentiates them. One tape per thread; there is no global state.
/// Memory for values comes from an arena that `clear` keeps, so re-recording the same
/// computation after `clear` makes no heap allocation.
class Tape {
 public:
  /// A position on the tape to return to with `rewind`.
  struct Mark {
    std::size_t nodes = 0;
    Arena::Mark arena;
  };

  Tape();
  ~Tape();
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;
  /// Moving a tape invalidates the handles to its values (they name the old tape).
  Tape(Tape&&) noexcept;
  Tape& operator=(Tape&&) noexcept;

  /// A leaf that gradients are taken with respect to.
  Var variable(TensorView value);
  /// A leaf carrying a forward-mode tangent: every value computed from it carries
  /// its directional derivative along `tangent`.
  Var variable(TensorView value, TensorView tangent);
  /// A leaf that gradients do not flow into (data, targets).
  Var constant(TensorView value);
  /// A constant scalar.
  Var scalar(double v);
  /// A constant filled with one value; with `zero_tangent` it also gets storage for a zero
  /// tangent (how `grad` makes result slots that a forward-over-reverse pass fills).
  Var fill(Shape shape, double v, bool zero_tangent = false);

  /// Forgets every recorded value; handles to them become invalid. Keeps the memory.
  void clear();
  Mark mark() const;
  /// Forgets every value recorded after `m`; handles to them become invalid.
  void rewind(Mark m);
  /// Number of recorded values.
  std::size_t size() const;
  /// Heap bytes held by the tape (arena blocks and node storage), for footprint checks.
  std::size_t reserved_bytes() const;

 private:
  friend struct detail::TapeAccess;
  Var leaf(TensorView value, const double* tangent, bool requires_grad);

  Arena arena_;
  std::vector<Node> nodes_;
  std::uint64_t next_stamp_ = 1;
  bool tangents_seen_ = false;
  // Adjoint of value i as (node index + 1), 0 when none reached it; kept between sweeps so a
  // training loop reuses its capacity.
  std::vector<std::uint32_t> adjoint_;
  // For the current sweep: whether value i's adjoint is a value made for that slot alone and
  // handed nowhere else, so a rule may add into its storage in place (see BackwardContext).
  std::vector<std::uint8_t> adjoint_exclusive_;
  // For the current sweep: whether value i lies on a path from a target (empty: every value).
  std::vector<std::uint8_t> leads_to_target_;
};

}  // namespace pk::ad
