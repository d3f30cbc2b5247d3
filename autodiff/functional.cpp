#include "autodiff/functional.hpp"

#include <algorithm>
#include <memory>
#include <optional>

#include "autodiff/error.hpp"
#include "autodiff/grad.hpp"
#include "autodiff/op_author.hpp"
#include "autodiff/ops.hpp"

namespace pk::ad {

namespace {
// The caller's workspace, cleared, or a tape owned for the length of one call.
class Workspace {
 public:
  explicit Workspace(Tape* given) : tape_(given) {
    if (tape_) {
      tape_->clear();
    } else {
      own_.emplace();
      tape_ = &*own_;
    }
  }
  Tape& operator*() { return *tape_; }
  Tape* operator->() { return tape_; }

 private:
  std::optional<Tape> own_;
  Tape* tape_;
};

Var call(Function f, Var w, const char* who) {
  const Var y = f(w);
  if (!y.defined()) throw GradError(std::string(who) + ": the function returned an undefined value");
  check(w.tape(), y, who);
  return y;
}

Var call_scalar(Function f, Var w, const char* who) {
  const Var y = call(f, w, who);
  if (y.size() != 1)
    throw GradError(std::string(who) + ": needs a scalar function, got output of shape " + y.shape().str());
  return y;
}

void same_shape(TensorView a, TensorView b, const char* who, const char* what) {
  if (a.shape() != b.shape())
    throw ShapeError(std::string(who) + ": " + what + " of shape " + b.shape().str() +
                     " for a point of shape " + a.shape().str());
}
}  // namespace

double value(Function f, TensorView w, Tape* workspace) {
  Workspace t(workspace);
  return call_scalar(f, t->constant(w), "value").item();
}

Tensor grad(Function f, TensorView w, Tape* workspace) {
  Workspace t(workspace);
  const Var x = t->variable(w);
  return Tensor(grad(call_scalar(f, x, "grad"), x).value());
}

Tensor hvp(Function f, TensorView w, TensorView v, Tensor* gradient, HvpMethod method, Tape* workspace) {
  same_shape(w, v, "hvp", "direction");
  Workspace t(workspace);
  if (method == HvpMethod::forward_over_reverse) {
    const Var x = t->variable(w, v);
    const Var g = grad(call_scalar(f, x, "hvp"), x);
    if (gradient) *gradient = Tensor(g.value());
    return g.tangent();
  }
  const Var x = t->variable(w);
  const Var g = grad(call_scalar(f, x, "hvp"), x, {.create_graph = true, .seed = {}});
  if (gradient) *gradient = Tensor(g.value());
  const Var gv = sum(mul(g, t->constant(v)));
  return Tensor(grad(gv, x).value());
}

Tensor hessian(Function f, TensorView w, Tape* workspace) {
  Workspace t(workspace);
  const Var x = t->variable(w);
  const Var g = grad(call_scalar(f, x, "hessian"), x, {.create_graph = true, .seed = {}});
  const std::int64_t d = w.size();
  Tensor h(Shape::matrix(d, d));
  Tensor unit(w.shape(), 0.0);
  for (std::int64_t i = 0; i < d; ++i) {
    const Tape::Mark m = t->mark();
    unit[i] = 1.0;
    const Var row = grad(g, x, {.seed = t->constant(unit)});
    unit[i] = 0.0;
    std::copy_n(row.value().data(), d, h.data() + i * d);
    t->rewind(m);
  }
  return h;
}

Tensor jacobian(Function f, TensorView w, Tape* workspace) {
  Workspace t(workspace);
  const Var x = t->variable(w);
  const Var y = call(f, x, "jacobian");
  const std::int64_t c = y.size(), d = w.size();
  Tensor jac(Shape::matrix(c, d));
  Tensor unit(y.shape(), 0.0);
  for (std::int64_t i = 0; i < c; ++i) {
    const Tape::Mark m = t->mark();
    unit[i] = 1.0;
    const Var row = grad(y, x, {.seed = t->constant(unit)});
    unit[i] = 0.0;
    std::copy_n(row.value().data(), d, jac.data() + i * d);
    t->rewind(m);
  }
  return jac;
}

Tensor jvp(Function f, TensorView w, TensorView v, Tape* workspace) {
  same_shape(w, v, "jvp", "direction");
  Workspace t(workspace);
  return call(f, t->variable(w, v), "jvp").tangent();
}

Tensor vjp(Function f, TensorView w, TensorView u, Tape* workspace) {
  Workspace t(workspace);
  const Var x = t->variable(w);
  const Var y = call(f, x, "vjp");
  if (y.shape() != u.shape())
    throw ShapeError("vjp: cotangent of shape " + u.shape().str() + " for an output of shape " +
                     y.shape().str());
  return Tensor(grad(y, x, {.seed = t->constant(u)}).value());
}

}  // namespace pk::ad
