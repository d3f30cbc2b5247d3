#include "nn/model.hpp"

#include <cmath>
#include <utility>

#include "autodiff/functional.hpp"
#include "autodiff/ops.hpp"
#include "nn/architecture.hpp"
#include "nn/error.hpp"

namespace pk::nn {

Model::Model(std::string name, std::int64_t input_dim, std::int64_t output_dim, Layout layout,
             ForwardFunction forward)
    : name_(std::move(name)),
      input_dim_(input_dim),
      output_dim_(output_dim),
      layout_(std::move(layout)),
      forward_(std::make_shared<const ForwardFunction>(std::move(forward))) {
  if (input_dim_ <= 0 || output_dim_ <= 0)
    throw SpecError("model '" + name_ + "': input and output dimensions must be positive, got " +
                    std::to_string(input_dim_) + " and " + std::to_string(output_dim_));
  if (layout_.parameter_count() <= 0) throw SpecError("model '" + name_ + "': the layout has no parameters");
  if (!*forward_) throw SpecError("model '" + name_ + "': no forward function");
}

Model Model::with_architecture(const Architecture& arch) const {
  Model m = *this;
  m.architecture_ = std::make_shared<const Architecture>(arch);
  return m;
}

ad::Var Model::forward(ad::Var x_batch, ad::Var w) const {
  const ad::Shape& xs = x_batch.shape();
  if (xs.rank != 2 || xs.dim(1) != input_dim_)
    throw SpecError("model '" + name_ + "': input batch of shape " + xs.str() + ", expected (batch, " +
                    std::to_string(input_dim_) + ")");
  const ad::Shape& ws = w.shape();
  if (ws.rank != 1 || ws.dim(0) != parameter_count())
    throw SpecError("model '" + name_ + "': parameters of shape " + ws.str() + ", expected (" +
                    std::to_string(parameter_count()) + ")");
  const ad::Var y = (*forward_)(x_batch, w);
  if (!y.defined()) throw SpecError("model '" + name_ + "': forward returned an undefined value");
  if (&y.tape() != &w.tape())
    throw SpecError("model '" + name_ + "': forward returned a value on another tape");
  const ad::Shape& ys = y.shape();
  if (ys.rank != 2 || ys.dim(0) != xs.dim(0) || ys.dim(1) != output_dim_)
    throw SpecError("model '" + name_ + "': forward returned shape " + ys.str() + " for a batch of " +
                    std::to_string(xs.dim(0)) + ", expected (" + std::to_string(xs.dim(0)) + ", " +
                    std::to_string(output_dim_) + ")");
  return y;
}

ad::Tensor evaluate(const Model& model, ad::TensorView inputs, ad::TensorView w, ad::Tape* workspace) {
  check_parameters(model, w, "evaluate");
  ad::Tape own;
  ad::Tape& t = workspace ? *workspace : own;
  t.clear();
  return ad::Tensor(model.forward(t.constant(inputs), t.constant(w)).value());
}

ad::Var forward_sample(const Model& model, ad::Var x, ad::Var w) {
  const ad::Shape& xs = x.shape();
  if (xs.rank != 1 || xs.dim(0) != model.input_dim())
    throw SpecError("model '" + model.name() + "': one input of shape " + xs.str() + ", expected (" +
                    std::to_string(model.input_dim()) + ")");
  const ad::Var y = model.forward(ad::reshape(x, ad::Shape::matrix(1, xs.dim(0))), w);
  return ad::reshape(y, ad::Shape::vector(model.output_dim()));
}

ad::Tensor sample_jacobian(const Model& model, ad::TensorView x, ad::TensorView w, ad::Tape* workspace) {
  check_parameters(model, w, "sample_jacobian");
  return ad::jacobian([&](ad::Var wv) { return forward_sample(model, wv.tape().constant(x), wv); }, w,
                      workspace);
}

void check_parameters(const Model& model, ad::TensorView w, const char* what) {
  if (w.shape().rank != 1 || w.size() != model.parameter_count())
    throw SpecError(std::string(what) + ": parameters of shape " + w.shape().str() + " for model '" +
                    model.name() + "', which has " + std::to_string(model.parameter_count()) + " parameters");
  for (std::int64_t i = 0; i < w.size(); ++i)
    if (!std::isfinite(w[i]))
      throw SpecError(std::string(what) + ": parameter " + std::to_string(i) + " is " + std::to_string(w[i]));
}

}  // namespace pk::nn
