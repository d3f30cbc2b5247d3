#include "nn/training_loss.hpp"

namespace pk::nn {

ad::Var TrainingLoss::operator()(ad::Var w) const {
  return loss_.value(model_.forward(w.tape().constant(inputs_), w), targets_);
}

}  // namespace pk::nn
