#pragma once
// The tape: an explicit record of operations in execution order, swept backward in a plain loop.

#include <array>
#include <cstdint>
#include <initializer_list>
#include <new>
#include <span>
#include <type_traits>
#include <vector>

#include "autodiff/arena.hpp"
#include "autodiff/shape.hpp"
#include "autodiff/tensor.hpp"

namespace pk::ad {

class Tape;
struct OpRule;

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
  Var(Tape* tape, std::uint32_t index, std::uint64_t stamp)
      : tape_(tape), index_(index), stamp_(stamp) {}
  Tape* tape_ = nullptr;
  std::uint32_t index_ = 0;
  std::uint64_t stamp_ = 0;
};

/// Non-tensor arguments of an op (a scalar, an exponent, slice bounds, an axis).
struct OpParams {
  double scalar = 0.0;
  std::array<std::int64_t, 4> ints{};
  /// Arguments that do not fit in `ints` (a convolution's geometry): a record the op placed in
  /// the tape's arena with `Tape::store` before recording, so it lives exactly as long as the
  /// values recorded after it. Null for most ops.
  const void* record = nullptr;
};

/// One recorded operation and its result. Values live in the tape's arena and are immutable
/// once recorded, which is what lets reshapes and contiguous slices alias their input.
struct Node {
  const OpRule* op = nullptr;  // null for a leaf
  Shape shape;
  double* value = nullptr;
  double* tangent = nullptr;  // null means a zero tangent
  std::array<std::uint32_t, 3> inputs{};
  std::uint8_t arity = 0;
  bool requires_grad = false;
  OpParams params;
  std::uint64_t stamp = 0;
};

class BackwardContext;

/// The derivative rules of one op, declared together in the op's own file
/// (`autodiff/ops/<name>.cpp`).
struct OpRule {
  const char* name;
  /// Computes the value: sets `out.value`, allocating from the tape or aliasing an input.
  void (*forward)(Tape& tape, Node& out);
  /// Forward-mode rule: sets `out.tangent` from the inputs' tangents (a null one is zero).
  /// Called only when some input carries a tangent.
  void (*tangent)(Tape& tape, Node& out);
  /// Reverse-mode rule: adds each needed input's adjoint contribution through
  /// `BackwardContext::accumulate`, written in recorded ops so it can be differentiated again.
  void (*backward)(BackwardContext& ctx);
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
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;
  /// Moving a tape invalidates the handles to its values (they name the old tape).
  Tape(Tape&&) noexcept = default;
  Tape& operator=(Tape&&) noexcept = default;

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
  std::size_t size() const { return nodes_.size(); }
  /// Heap bytes held by the tape (arena blocks and node storage), for footprint checks.
  std::size_t reserved_bytes() const;

  // --- for op implementations -------------------------------------------------------------
  /// Records `rule` applied to `inputs`, producing a value of `shape`.
  Var record(const OpRule& rule, std::initializer_list<Var> inputs, Shape shape,
             OpParams params = {});
  /// The node behind a handle, after checking the handle belongs to this tape and is alive.
  const Node& node(const Var& v) const;
  const Node& node_at(std::uint32_t index) const { return nodes_[index]; }
  /// A handle to the value at `index`.
  Var handle(std::uint32_t index) { return {this, index, nodes_[index].stamp}; }
  /// An uninitialised buffer for n doubles, valid until the tape is cleared or rewound.
  double* allocate(std::int64_t n) { return arena_.allocate(n); }
  /// A copy of `record` in the arena, valid until the tape is cleared or rewound past this
  /// point: where an op keeps arguments too large for `OpParams::ints` (see OpParams::record).
  template <class T>
  const T* store(const T& record) {
    static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T> &&
                  alignof(T) <= 64);
    void* p = arena_.allocate(static_cast<std::int64_t>((sizeof(T) + sizeof(double) - 1) / sizeof(double)));
    return ::new (p) T(record);
  }
  /// Throws `TapeError` unless `v` is alive on this tape; `what` names the caller.
  void check(const Var& v, const char* what) const;
  /// True once some leaf carried a tangent since the last clear.
  bool tangents_seen() const { return tangents_seen_; }

  /// Propagates `seed`, the adjoint of the value at `output`, backward through the values
  /// recorded before it, running each op's backward rule (which records new values). With
  /// `targets`, only values on a path from a target to `output` are visited: adjoints that cannot
  /// reach a target are never computed. Afterwards `adjoint(i)` holds the adjoint of value i (for
  /// the targets, complete), until the next sweep.
  void sweep(std::uint32_t output, Var seed, std::span<const std::uint32_t> targets = {});
  /// The adjoint the last sweep left at `index`; undefined when no gradient reached it.
  Var adjoint(std::uint32_t index);

 private:
  friend class BackwardContext;
  Var leaf(TensorView value, const double* tangent, bool requires_grad);

  Arena arena_;
  std::vector<Node> nodes_;
  std::uint64_t next_stamp_ = 1;
  bool tangents_seen_ = false;
  // Adjoint of value i as (node index + 1), 0 when none reached it; kept between sweeps so a
  // training loop reuses its capacity.
  std::vector<std::uint32_t> adjoint_;
  // For the current sweep: whether value i lies on a path from a target (empty: every value).
  std::vector<std::uint8_t> leads_to_target_;
};

/// What an op's backward rule sees: its output, inputs, parameters and the output's adjoint.
class BackwardContext {
 public:
  BackwardContext(Tape& tape, std::uint32_t node, Var grad_output)
      : tape_(tape), node_(node), grad_output_(grad_output) {}

  Tape& tape() const { return tape_; }
  /// The op's result as a recorded value.
  Var output() const { return tape_.handle(node_); }
  Var input(int i) const { return tape_.handle(tape_.nodes_[node_].inputs[static_cast<std::size_t>(i)]); }
  /// The adjoint of the output (same shape as the output).
  Var grad_output() const { return grad_output_; }
  const OpParams& params() const { return tape_.nodes_[node_].params; }
  /// By value, like Var::shape: the rule records ops that may move the tape's storage.
  Shape input_shape(int i) const {
    return tape_.nodes_[tape_.nodes_[node_].inputs[static_cast<std::size_t>(i)]].shape;
  }
  /// True when input i needs an adjoint: it depends on a variable leaf and lies on a path from
  /// one of the values the gradient is taken with respect to.
  bool needs(int i) const {
    const std::uint32_t in = tape_.nodes_[node_].inputs[static_cast<std::size_t>(i)];
    return tape_.nodes_[in].requires_grad &&
           (tape_.leads_to_target_.empty() || tape_.leads_to_target_[in] != 0);
  }
  /// Adds `g` (which must have input i's shape) to input i's adjoint.
  void accumulate(int i, Var g);

 private:
  Tape& tape_;
  std::uint32_t node_;
  Var grad_output_;
};

}  // namespace pk::ad
