#include "autodiff/tensor.hpp"

#include <algorithm>
#include <cmath>

#include "autodiff/error.hpp"

namespace pk::ad {

double TensorView::item() const {
  if (shape_.size() != 1)
    throw ShapeError("item: tensor of shape " + shape_.str() + " has more than one element");
  return data_[0];
}

namespace {
// The element count of a shape checked first, so that a shape whose members were set by hand to a
// negative or overflowing extent throws ShapeError instead of std::length_error from the vector.
std::size_t checked_count(const Shape& shape) {
  shape.validate("Tensor");
  return static_cast<std::size_t>(shape.size());
}
}  // namespace

Tensor::Tensor(Shape shape, double fill) : shape_(shape), data_(checked_count(shape), fill) {}

Tensor::Tensor(Shape shape, std::vector<double> values) : shape_(shape), data_(std::move(values)) {
  shape.validate("Tensor");
  if (static_cast<std::int64_t>(data_.size()) != shape.size())
    throw ShapeError("Tensor: " + std::to_string(data_.size()) + " values for shape " + shape.str());
}

Tensor::Tensor(TensorView view) : shape_(view.shape()), data_(view.span().begin(), view.span().end()) {}

Tensor Tensor::vector(std::vector<double> values) {
  const auto n = static_cast<std::int64_t>(values.size());
  return Tensor(Shape::vector(n), std::move(values));
}

Tensor Tensor::matrix(std::int64_t rows, std::int64_t cols, std::vector<double> values) {
  return Tensor(Shape::matrix(rows, cols), std::move(values));
}

Tensor Tensor::reshaped(Shape shape) const {
  shape.validate("reshape");
  if (shape.size() != shape_.size())
    throw ShapeError("reshape: cannot view " + shape_.str() + " as " + shape.str());
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

double max_abs_diff(TensorView a, TensorView b) {
  if (a.shape() != b.shape())
    throw ShapeError("max_abs_diff: shapes " + a.shape().str() + " and " + b.shape().str() + " differ");
  double m = 0.0;
  for (std::int64_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

}  // namespace pk::ad
