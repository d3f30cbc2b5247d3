// reshape: the same elements under another shape. Values on a tape never change once recorded,
// so the result aliases its input instead of copying. The adjoint is reshaped back.
#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops/elementwise.hpp"

namespace pk::ad {
namespace {
void forward(Tape& t, Node& out) { out.value = node_at(t, out.inputs[0]).value; }
void tangent(Tape& t, Node& out) { out.tangent = node_at(t, out.inputs[0]).tangent; }
void backward(BackwardContext& c) { c.accumulate(0, reshape(c.grad_output(), c.input_shape(0))); }
const OpRule rule{"reshape", forward, tangent, backward};
}  // namespace

Var reshape(Var x, Shape shape) {
  Tape& t = detail::tape_of("reshape", {x});
  shape.validate("reshape");
  if (x.shape() == shape) return x;
  if (x.size() != shape.size())
    throw ShapeError("reshape: cannot view " + x.shape().str() + " (" + std::to_string(x.size()) +
                     " elements) as " + shape.str());
  return record(t, rule, {x}, shape);
}
}  // namespace pk::ad
