#include "nn/step.hpp"

namespace pk::nn {

StepView StepRecord::view() const {
  const auto d = static_cast<std::int64_t>(weights_before.size());
  StepView s;
  s.step = step;
  s.weights_before = ad::TensorView(weights_before.data(), ad::Shape::vector(d));
  s.weights_after = ad::TensorView(weights_after.data(), ad::Shape::vector(d));
  s.learning_rate = learning_rate;
  s.batch = batch;
  s.output_derivatives = ad::TensorView(
      output_derivatives.data(), ad::Shape::matrix(static_cast<std::int64_t>(batch.size()), output_count));
  s.loss = loss;
  return s;
}

}  // namespace pk::nn
