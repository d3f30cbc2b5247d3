#pragma once
// The training loss as a function of the weights, w -> L(f(X; w), Y): the one function whose
// gradient, Hessian-vector products and sharpness the trainer's checks, the decomposition, the
// sweep and the sharpness command differentiate.

#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"
#include "nn/loss.hpp"
#include "nn/model.hpp"

namespace pk::nn {

/// w -> loss(model(inputs; w), targets), callable wherever an `ad::Function` is taken. It keeps
/// references: the model, loss, inputs and targets must outlive it.
class TrainingLoss {
 public:
  TrainingLoss(const Model& model, const Loss& loss, ad::TensorView inputs, ad::TensorView targets)
      : model_(model), loss_(loss), inputs_(inputs), targets_(targets) {}

  /// The recorded loss at the recorded weights `w` (the inputs recorded as constants on w's tape).
  ad::Var operator()(ad::Var w) const;

 private:
  const Model& model_;
  const Loss& loss_;
  ad::TensorView inputs_, targets_;
};

}  // namespace pk::nn
