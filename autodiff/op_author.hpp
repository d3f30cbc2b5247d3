#pragma once
// For the engine's own code, not for users of the library: what an op's implementation
// (autodiff/ops/<name>.cpp) and the sweeps of grad.cpp need from a tape. The node record behind
// each handle, an op's rules, recording an op, the arena, and the backward sweep. A user's API is
// autodiff/autodiff.hpp; nothing there includes this header.

#include <array>
#include <cstdint>
#include <initializer_list>
#include <new>
#include <span>
#include <type_traits>
#include <vector>

#include "autodiff/arena.hpp"
#include "autodiff/shape.hpp"
#include "autodiff/tape.hpp"

namespace pk::ad {

struct OpRule;

/// Non-tensor arguments of an op (a scalar, an exponent, slice bounds, an axis).
struct OpParams {
  double scalar = 0.0;
  std::array<std::int64_t, 4> ints{};
  /// Arguments that do not fit in `ints` (a convolution's geometry): a record the op placed in
  /// the tape's arena with `store` before recording, so it lives exactly as long as the
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

namespace detail {
/// The one way into a tape's storage, for the functions below: keeps the user's `Tape` free of
/// op-author members.
struct TapeAccess {
  static std::vector<Node>& nodes(Tape& t) { return t.nodes_; }
  static const std::vector<Node>& nodes(const Tape& t) { return t.nodes_; }
  static Arena& arena(Tape& t) { return t.arena_; }
  static std::uint64_t& next_stamp(Tape& t) { return t.next_stamp_; }
  static bool tangents_seen(const Tape& t) { return t.tangents_seen_; }
  static std::vector<std::uint32_t>& adjoint(Tape& t) { return t.adjoint_; }
  static std::vector<std::uint8_t>& adjoint_exclusive(Tape& t) { return t.adjoint_exclusive_; }
  static std::vector<std::uint8_t>& leads_to_target(Tape& t) { return t.leads_to_target_; }
  static const std::vector<std::uint8_t>& leads_to_target(const Tape& t) { return t.leads_to_target_; }
  static Var make(Tape& t, std::uint32_t index, std::uint64_t stamp) { return {&t, index, stamp}; }
  static std::uint32_t index(const Var& v) { return v.index_; }
  static std::uint64_t stamp(const Var& v) { return v.stamp_; }
  static const Tape* tape(const Var& v) { return v.tape_; }
};
}  // namespace detail

/// Records `rule` applied to `inputs`, producing a value of `shape`: checks the inputs are alive
/// on `tape`, runs the rule's forward (and, when an input carries a tangent, its tangent rule).
Var record(Tape& tape, const OpRule& rule, std::initializer_list<Var> inputs, Shape shape,
           OpParams params = {});
namespace detail {
/// Throws the `TapeError` that says why `v` is not alive on `tape`.
[[noreturn, gnu::cold]] void check_failed(const Tape& tape, const Var& v, const char* what);
}  // namespace detail
/// Throws `TapeError` unless `v` is alive on `tape`; `what` names the caller. Inline, with the
/// message built out of line: every recorded op checks each operand, and a small network's
/// gradient is hundreds of ops.
inline void check(const Tape& tape, const Var& v, const char* what) {
  using A = detail::TapeAccess;
  const std::vector<Node>& nodes = A::nodes(tape);
  if (A::tape(v) == &tape && A::index(v) < nodes.size() && nodes[A::index(v)].stamp == A::stamp(v)) [[likely]]
    return;
  detail::check_failed(tape, v, what);
}
/// The node behind a handle, after checking the handle belongs to `tape` and is alive.
inline const Node& node(const Tape& tape, const Var& v) {
  check(tape, v, "value access");
  return detail::TapeAccess::nodes(tape)[detail::TapeAccess::index(v)];
}
/// The node at `index`, unchecked (indices an op reads from its own node's inputs).
inline const Node& node_at(const Tape& tape, std::uint32_t index) {
  return detail::TapeAccess::nodes(tape)[index];
}
/// A handle to the value at `index`.
inline Var handle(Tape& tape, std::uint32_t index) {
  return detail::TapeAccess::make(tape, index, detail::TapeAccess::nodes(tape)[index].stamp);
}
/// An uninitialised buffer for n doubles, valid until the tape is cleared or rewound.
inline double* allocate(Tape& tape, std::int64_t n) { return detail::TapeAccess::arena(tape).allocate(n); }
/// A copy of `record` in the arena, valid until the tape is cleared or rewound past this
/// point: where an op keeps arguments too large for `OpParams::ints` (see OpParams::record).
template <class T>
const T* store(Tape& tape, const T& record) {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T> && alignof(T) <= 64);
  void* p = allocate(tape, static_cast<std::int64_t>((sizeof(T) + sizeof(double) - 1) / sizeof(double)));
  return ::new (p) T(record);
}
/// True once some leaf carried a tangent since the last clear.
inline bool tangents_seen(const Tape& tape) { return detail::TapeAccess::tangents_seen(tape); }

/// Propagates `seed`, the adjoint of the value at `output`, backward through the values
/// recorded before it, running each op's backward rule (which records new values). With
/// `targets`, only values on a path from a target to `output` are visited: adjoints that cannot
/// reach a target are never computed. Afterwards `adjoint(tape, i)` holds the adjoint of value i
/// (for the targets, complete), until the next sweep.
void sweep(Tape& tape, std::uint32_t output, Var seed, std::span<const std::uint32_t> targets = {});
/// The adjoint the last sweep left at `index`; undefined when no gradient reached it.
Var adjoint(Tape& tape, std::uint32_t index);

/// What an op's backward rule sees: its output, inputs, parameters and the output's adjoint.
class BackwardContext {
 public:
  BackwardContext(Tape& tape, std::uint32_t node, Var grad_output)
      : tape_(tape), node_(node), grad_output_(grad_output) {}

  Tape& tape() const { return tape_; }
  /// The op's result as a recorded value.
  Var output() const { return handle(tape_, node_); }
  Var input(int i) const { return handle(tape_, node_at(tape_, node_).inputs[static_cast<std::size_t>(i)]); }
  /// The adjoint of the output (same shape as the output).
  Var grad_output() const { return grad_output_; }
  const OpParams& params() const { return node_at(tape_, node_).params; }
  /// By value, like Var::shape: the rule records ops that may move the tape's storage.
  Shape input_shape(int i) const {
    return node_at(tape_, node_at(tape_, node_).inputs[static_cast<std::size_t>(i)]).shape;
  }
  /// True when input i needs an adjoint: it depends on a variable leaf and lies on a path from
  /// one of the values the gradient is taken with respect to.
  bool needs(int i) const {
    const std::uint32_t in = node_at(tape_, node_).inputs[static_cast<std::size_t>(i)];
    const std::vector<std::uint8_t>& leads = detail::TapeAccess::leads_to_target(tape_);
    return node_at(tape_, in).requires_grad && (leads.empty() || leads[in] != 0);
  }
  /// Adds `g` (which must have input i's shape) to input i's adjoint.
  void accumulate(int i, Var g);
  /// Input i's adjoint as accumulated so far (undefined when nothing reached it yet), and
  /// whether the slot alone holds it. With `assign`, lets a rule fold its contribution into the
  /// sum in one op (a slice's adjoint added into a region, instead of padded with zeros and
  /// added whole); when `exclusive`, the fold may write into the sum's storage instead of
  /// copying it, because no other value, rule or caller can see that storage.
  struct Partial {
    Var value;
    bool exclusive = false;
  };
  Partial partial(int i) const;
  /// Makes `total` (input i's shape, already including `partial(i)`) input i's adjoint. Pass
  /// `exclusive` only for a value this rule recorded for the slot and kept from everything
  /// else (neither an input, nor the output's adjoint, nor aliasing either), so a later fold
  /// may take over its storage.
  void assign(int i, Var total, bool exclusive = false);

 private:
  Tape& tape_;
  std::uint32_t node_;
  Var grad_output_;
};

}  // namespace pk::ad
