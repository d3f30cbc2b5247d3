#include "autodiff/tape.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "autodiff/error.hpp"
#include "autodiff/ops.hpp"

namespace pk::ad {

Tape& Var::tape() const {
  if (!tape_) throw TapeError("Var: use of an undefined value (default-constructed handle)");
  return *tape_;
}

Shape Var::shape() const { return tape().node(*this).shape; }

TensorView Var::value() const {
  const Node& n = tape().node(*this);
  return {n.value, n.shape};
}

bool Var::has_tangent() const { return tape().node(*this).tangent != nullptr; }

Tensor Var::tangent() const {
  const Node& n = tape().node(*this);
  if (!n.tangent) return Tensor(n.shape, 0.0);
  return Tensor(TensorView(n.tangent, n.shape));
}

bool Var::requires_grad() const { return tape().node(*this).requires_grad; }

Tape::Tape() { nodes_.reserve(256); }

void Tape::check(const Var& v, const char* what) const {
  if (v.tape_ == nullptr)
    throw TapeError(std::string(what) + ": operand is an undefined value (default-constructed)");
  if (v.tape_ != this)
    throw TapeError(std::string(what) + ": operand belongs to another tape");
  if (v.index_ >= nodes_.size() || nodes_[v.index_].stamp != v.stamp_)
    throw TapeError(std::string(what) + ": operand #" + std::to_string(v.index_) +
                    " was recorded before its tape was cleared or rewound; it no longer exists");
}

const Node& Tape::node(const Var& v) const {
  check(v, "value access");
  return nodes_[v.index_];
}

Var Tape::leaf(TensorView value, const double* tangent, bool requires_grad) {
  if (nodes_.size() >= std::numeric_limits<std::uint32_t>::max())
    throw TapeError("tape: more than 2^32 - 1 recorded values");
  value.shape().validate("Tape: leaf");
  Node n;
  n.shape = value.shape();
  n.value = allocate(n.shape.size());
  std::copy_n(value.data(), n.shape.size(), n.value);
  if (tangent) {
    n.tangent = allocate(n.shape.size());
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
    throw ShapeError("variable: tangent of shape " + tangent.shape().str() +
                     " for a value of shape " + value.shape().str());
  return leaf(value, tangent.data(), true);
}

Var Tape::constant(TensorView value) { return leaf(value, nullptr, false); }

Var Tape::scalar(double v) { return leaf(TensorView(&v, Shape::scalar()), nullptr, false); }

Var Tape::fill(Shape shape, double v, bool zero_tangent) {
  shape.validate("Tape::fill");
  Node n;
  n.shape = shape;
  n.value = allocate(shape.size());
  std::fill_n(n.value, shape.size(), v);
  if (zero_tangent) {
    n.tangent = allocate(shape.size());
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
         adjoint_.capacity() * sizeof(std::uint32_t) + leads_to_target_.capacity();
}

Var Tape::record(const OpRule& rule, std::initializer_list<Var> inputs, Shape shape,
                 OpParams params) {
  if (nodes_.size() >= std::numeric_limits<std::uint32_t>::max())
    throw TapeError("tape: more than 2^32 - 1 recorded values");
  Node n;
  n.op = &rule;
  n.shape = shape;
  n.params = params;
  bool any_tangent = false;
  for (const Var& v : inputs) {
    check(v, rule.name);
    const Node& in = nodes_[v.index_];
    n.inputs[n.arity++] = v.index_;
    n.requires_grad = n.requires_grad || in.requires_grad;
    any_tangent = any_tangent || in.tangent != nullptr;
  }
  rule.forward(*this, n);
  if (any_tangent) rule.tangent(*this, n);
  n.stamp = next_stamp_++;
  nodes_.push_back(n);
  return {this, static_cast<std::uint32_t>(nodes_.size() - 1), n.stamp};
}

void BackwardContext::accumulate(int i, Var g) {
  const std::uint32_t target = tape_.nodes_[node_].inputs[static_cast<std::size_t>(i)];
  const Shape& want = tape_.nodes_[target].shape;
  if (g.shape() != want)
    throw GradError(std::string("backward of ") + tape_.nodes_[node_].op->name +
                    ": adjoint of input " + std::to_string(i) + " has shape " +
                    g.shape().str() + ", expected " + want.str());
  std::uint32_t& slot = tape_.adjoint_[target];
  if (slot == 0) {
    slot = g.index() + 1;
  } else {
    slot = add(tape_.handle(slot - 1), g).index() + 1;
  }
}

void Tape::sweep(std::uint32_t output, Var seed, std::span<const std::uint32_t> targets) {
  check(seed, "backward seed");
  adjoint_.assign(static_cast<std::size_t>(output) + 1, 0);
  adjoint_[output] = seed.index_ + 1;
  leads_to_target_.clear();
  if (!targets.empty()) {
    // One forward scan marks the values downstream of a target: only through them can an
    // adjoint reach a target, so the sweep skips the rest (in a second-order pass, most of the
    // forward graph).
    leads_to_target_.assign(static_cast<std::size_t>(output) + 1, 0);
    for (const std::uint32_t t : targets)
      if (t <= output) leads_to_target_[t] = 1;
    for (std::uint32_t i = 0; i <= output; ++i) {
      const Node& n = nodes_[i];
      for (std::uint8_t a = 0; a < n.arity && !leads_to_target_[i]; ++a)
        if (leads_to_target_[n.inputs[a]]) leads_to_target_[i] = 1;
    }
  }
  // A plain loop in reverse recording order: every consumer of a value was recorded after it,
  // so a value's adjoint is complete when the loop reaches it, and depth costs no stack.
  for (std::uint32_t i = output + 1; i-- > 0;) {
    const std::uint32_t slot = adjoint_[i];
    if (slot == 0) continue;
    const OpRule* op = nodes_[i].op;
    if (op == nullptr || !nodes_[i].requires_grad) continue;
    if (!leads_to_target_.empty() && !leads_to_target_[i]) continue;
    BackwardContext ctx(*this, i, handle(slot - 1));
    op->backward(ctx);
  }
}

Var Tape::adjoint(std::uint32_t index) {
  if (index >= adjoint_.size() || adjoint_[index] == 0) return {};
  return handle(adjoint_[index] - 1);
}

}  // namespace pk::ad
