#include "autodiff/tape.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <string>

#include "autodiff/error.hpp"
#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"

namespace pk::ad {

Tape& Var::tape() const {
  if (!tape_) throw TapeError("Var: use of an undefined value (default-constructed handle)");
  return *tape_;
}

Shape Var::shape() const { return node(tape(), *this).shape; }

TensorView Var::value() const {
  const Node& n = node(tape(), *this);
  return {n.value, n.shape};
}

bool Var::has_tangent() const { return node(tape(), *this).tangent != nullptr; }

Tensor Var::tangent() const {
  const Node& n = node(tape(), *this);
  if (!n.tangent) return Tensor(n.shape, 0.0);
  return Tensor(TensorView(n.tangent, n.shape));
}

bool Var::requires_grad() const { return node(tape(), *this).requires_grad; }

Tape::Tape() { nodes_.reserve(256); }
Tape::~Tape() = default;
Tape::Tape(Tape&&) noexcept = default;
Tape& Tape::operator=(Tape&&) noexcept = default;

std::size_t Tape::size() const { return nodes_.size(); }

void detail::check_failed(const Tape& tape, const Var& v, const char* what) {
  using A = detail::TapeAccess;
  if (A::tape(v) == nullptr)
    throw TapeError(std::string(what) + ": operand is an undefined value (default-constructed)");
  if (A::tape(v) != &tape) throw TapeError(std::string(what) + ": operand belongs to another tape");
  throw TapeError(std::string(what) + ": operand #" + std::to_string(A::index(v)) +
                  " was recorded before its tape was cleared or rewound; it no longer exists");
}

Var Tape::leaf(TensorView value, const double* tangent, bool requires_grad) {
  if (nodes_.size() >= std::numeric_limits<std::uint32_t>::max())
    throw TapeError("tape: more than 2^32 - 1 recorded values");
  value.shape().validate("Tape: leaf");
  Node n;
  n.shape = value.shape();
  n.value = arena_.allocate(n.shape.size());
  std::copy_n(value.data(), n.shape.size(), n.value);
  if (tangent) {
    n.tangent = arena_.allocate(n.shape.size());
    std::copy_n(tangent, n.shape.size(), n.tangent);
    tangents_seen_ = true;
  }
  n.requires_grad = requires_grad;
  n.stamp = next_stamp_++;
  nodes_.push_back(n);
  return {this, static_cast<std::uint32_t>(nodes_.size() - 1), n.stamp};
}

Var Tape::variable(TensorView value) { return leaf(value, nullptr, true); }

Var Tape::variable(TensorView value, TensorView tangent) {
  if (tangent.shape() != value.shape())
    throw ShapeError("variable: tangent of shape " + tangent.shape().str() + " for a value of shape " +
                     value.shape().str());
  return leaf(value, tangent.data(), true);
}

Var Tape::constant(TensorView value) { return leaf(value, nullptr, false); }

Var Tape::scalar(double v) { return leaf(TensorView(&v, Shape::scalar()), nullptr, false); }

Var Tape::fill(Shape shape, double v, bool zero_tangent) {
  shape.validate("Tape::fill");
  Node n;
  n.shape = shape;
  n.value = arena_.allocate(shape.size());
  std::fill_n(n.value, shape.size(), v);
  if (zero_tangent) {
    n.tangent = arena_.allocate(shape.size());
    std::fill_n(n.tangent, shape.size(), 0.0);
  }
  n.stamp = next_stamp_++;
  nodes_.push_back(n);
  return {this, static_cast<std::uint32_t>(nodes_.size() - 1), n.stamp};
}

void Tape::clear() {
  nodes_.clear();
  arena_.clear();
  tangents_seen_ = false;
}

Tape::Mark Tape::mark() const { return {nodes_.size(), arena_.mark()}; }

void Tape::rewind(Mark m) {
  if (m.nodes > nodes_.size())
    throw TapeError("rewind: mark lies beyond the end of the tape (was the tape cleared?)");
  nodes_.resize(m.nodes);
  arena_.rewind(m.arena);
}

std::size_t Tape::reserved_bytes() const {
  return arena_.reserved_bytes() + nodes_.capacity() * sizeof(Node) +
         adjoint_.capacity() * sizeof(std::uint32_t) + adjoint_exclusive_.capacity() +
         leads_to_target_.capacity();
}

Var record(Tape& tape, const OpRule& rule, std::initializer_list<Var> inputs, Shape shape, OpParams params) {
  using A = detail::TapeAccess;
  std::vector<Node>& nodes = A::nodes(tape);
  if (nodes.size() >= std::numeric_limits<std::uint32_t>::max())
    throw TapeError("tape: more than 2^32 - 1 recorded values");
  bool any_tangent = false, requires_grad = false;
  std::array<std::uint32_t, 3> operands{};
  std::uint8_t arity = 0;
  for (const Var& v : inputs) {
    check(tape, v, rule.name);
    const Node& in = nodes[A::index(v)];
    operands[arity++] = A::index(v);
    requires_grad = requires_grad || in.requires_grad;
    any_tangent = any_tangent || in.tangent != nullptr;
  }
  // Built where it will stay rather than on the stack and copied in: for a small op, moving the
  // record costs about as much as computing it. Until its stamp is set it is unreachable from
  // any handle, and a rule that throws leaves nothing behind.
  Node& n = nodes.emplace_back();
  n.op = &rule;
  n.shape = shape;
  n.params = params;
  n.inputs = operands;
  n.arity = arity;
  n.requires_grad = requires_grad;
  try {
    rule.forward(tape, n);
    if (any_tangent) rule.tangent(tape, n);
  } catch (...) {
    nodes.pop_back();
    throw;
  }
  n.stamp = A::next_stamp(tape)++;
  return A::make(tape, static_cast<std::uint32_t>(nodes.size() - 1), n.stamp);
}

namespace {
// The index of input i of the node, after checking that `g` has that input's shape.
std::uint32_t adjoint_target(Tape& tape, std::uint32_t node_index, int i, const Var& g) {
  const Node& n = node_at(tape, node_index);
  const std::uint32_t target = n.inputs[static_cast<std::size_t>(i)];
  const Shape& want = node_at(tape, target).shape;
  if (node(tape, g).shape != want)
    throw GradError(std::string("backward of ") + n.op->name + ": adjoint of input " + std::to_string(i) +
                    " has shape " + g.shape().str() + ", expected " + want.str());
  return target;
}
}  // namespace

void BackwardContext::accumulate(int i, Var g) {
  using A = detail::TapeAccess;
  const std::uint32_t target = adjoint_target(tape_, node_, i, g);
  // `g` may be held elsewhere too (add's rule hands one adjoint to both inputs), and so may the
  // sum once a later rule reads it: neither is the slot's alone.
  A::adjoint_exclusive(tape_)[target] = 0;
  std::uint32_t& slot = A::adjoint(tape_)[target];
  if (slot == 0) {
    slot = g.index() + 1;
  } else {
    slot = add(handle(tape_, slot - 1), g).index() + 1;
  }
}

BackwardContext::Partial BackwardContext::partial(int i) const {
  const std::uint32_t target = node_at(tape_, node_).inputs[static_cast<std::size_t>(i)];
  const std::uint32_t slot = detail::TapeAccess::adjoint(tape_)[target];
  if (slot == 0) return {};
  return {handle(tape_, slot - 1), detail::TapeAccess::adjoint_exclusive(tape_)[target] != 0};
}

void BackwardContext::assign(int i, Var total, bool exclusive) {
  const std::uint32_t target = adjoint_target(tape_, node_, i, total);
  detail::TapeAccess::adjoint(tape_)[target] = total.index() + 1;
  detail::TapeAccess::adjoint_exclusive(tape_)[target] = exclusive ? 1 : 0;
}

void sweep(Tape& tape, std::uint32_t output, Var seed, std::span<const std::uint32_t> targets) {
  using A = detail::TapeAccess;
  const std::vector<Node>& nodes = A::nodes(tape);
  std::vector<std::uint32_t>& adjoints = A::adjoint(tape);
  std::vector<std::uint8_t>& leads = A::leads_to_target(tape);
  check(tape, seed, "backward seed");
  adjoints.assign(static_cast<std::size_t>(output) + 1, 0);
  adjoints[output] = seed.index() + 1;
  A::adjoint_exclusive(tape).assign(static_cast<std::size_t>(output) + 1, 0);  // the seed is the caller's
  leads.clear();
  if (!targets.empty()) {
    // One forward scan marks the values downstream of a target: only through them can an
    // adjoint reach a target, so the sweep skips the rest (in a second-order pass, most of the
    // forward graph).
    leads.assign(static_cast<std::size_t>(output) + 1, 0);
    for (const std::uint32_t t : targets)
      if (t <= output) leads[t] = 1;
    for (std::uint32_t i = 0; i <= output; ++i) {
      const Node& n = nodes[i];
      for (std::uint8_t a = 0; a < n.arity && !leads[i]; ++a)
        if (leads[n.inputs[a]]) leads[i] = 1;
    }
  }
  // A plain loop in reverse recording order: every consumer of a value was recorded after it,
  // so a value's adjoint is complete when the loop reaches it, and depth costs no stack.
  for (std::uint32_t i = output + 1; i-- > 0;) {
    const std::uint32_t slot = adjoints[i];
    if (slot == 0) continue;
    const OpRule* op = nodes[i].op;
    if (op == nullptr || !nodes[i].requires_grad) continue;
    if (!leads.empty() && !leads[i]) continue;
    BackwardContext ctx(tape, i, handle(tape, slot - 1));
    op->backward(ctx);
  }
}

Var adjoint(Tape& tape, std::uint32_t index) {
  const std::vector<std::uint32_t>& adjoints = detail::TapeAccess::adjoint(tape);
  if (index >= adjoints.size() || adjoints[index] == 0) return {};
  return handle(tape, adjoints[index] - 1);
}

}  // namespace pk::ad
