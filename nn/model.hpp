#pragma once
// A model: a layout of the flat parameter vector w plus a pure function f(x; w) over a batch.
// Built-in models (nn/mlp.hpp) are made with the same constructor a user calls with a lambda
// of their own, so nothing downstream can tell them apart.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"
#include "nn/layout.hpp"

namespace pk::nn {

struct Architecture;

/// f(x; w): a recorded batch x (batch x input_dim) and recorded flat parameters w (D) to
/// recorded outputs (batch x output_dim), written with autodiff ops. It must be pure: the same
/// inputs give the same outputs, and it keeps no state between calls.
using ForwardFunction = std::function<ad::Var(ad::Var x_batch, ad::Var w)>;

/// A model as a layout plus a pure function. Cheap to copy (the function is shared).
class Model {
 public:
  /// A model of `input_dim` features and `output_dim` outputs (C) whose parameters are laid out
  /// by `layout` (D = layout.parameter_count()).
  Model(std::string name, std::int64_t input_dim, std::int64_t output_dim, Layout layout,
        ForwardFunction forward);

  /// f(x; w) for a batch: x is batch x input_dim and w a vector of D on the same tape; the result
  /// is batch x output_dim. Throws SpecError naming the model when a shape is wrong, including
  /// a result of the wrong shape from a user's function.
  ad::Var forward(ad::Var x_batch, ad::Var w) const;
  /// D, the length of w.
  std::int64_t parameter_count() const { return layout_.parameter_count(); }
  /// Features per input.
  std::int64_t input_dim() const { return input_dim_; }
  /// C, outputs per input.
  std::int64_t output_dim() const { return output_dim_; }
  const Layout& layout() const { return layout_; }
  /// A short description, e.g. "mlp 2-16-16-1 tanh".
  const std::string& name() const { return name_; }
  /// The layer list when this is a layered model (nn/architecture.hpp, MLPs included), else null
  /// (a user's function). run.json stores it, and the reader rebuilds the model from it;
  /// algorithms that exploit structure ask it what the model is (nn/dense_chain.hpp). The
  /// model's behaviour is its forward function either way.
  const Architecture* architecture() const { return architecture_.get(); }
  /// The same model, marked as built from `arch` (what `sequential` and `mlp` do).
  Model with_architecture(const Architecture& arch) const;

 private:
  std::string name_;
  std::int64_t input_dim_;
  std::int64_t output_dim_;
  Layout layout_;
  std::shared_ptr<const ForwardFunction> forward_;
  std::shared_ptr<const Architecture> architecture_;
};

/// f(x_m; w) for every row of `inputs` (M x input_dim), as plain numbers (M x C). Records on
/// `workspace` (cleared first) when given.
ad::Tensor evaluate(const Model& model, ad::TensorView inputs, ad::TensorView w,
                    ad::Tape* workspace = nullptr);

/// f(x; w) of one input: x a vector of input_dim, the result a vector of C. The form the
/// per-sample Jacobian J(x) = df(x; w)/dw is taken of.
ad::Var forward_sample(const Model& model, ad::Var x, ad::Var w);

/// J(x) = df(x; w)/dw at one input x (a vector of input_dim): a C x D matrix, one reverse sweep
/// per output.
ad::Tensor sample_jacobian(const Model& model, ad::TensorView x, ad::TensorView w,
                           ad::Tape* workspace = nullptr);

/// Throws SpecError unless `w` is a vector of the model's D finite numbers; `what` names the
/// caller in the message.
void check_parameters(const Model& model, ad::TensorView w, const char* what);

}  // namespace pk::nn
