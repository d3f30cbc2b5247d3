#pragma once
// Dense float64 values outside a tape: `Tensor` owns its elements, `TensorView` borrows them.

#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "autodiff/shape.hpp"

namespace pk::ad {

/// A read-only view of row-major float64 elements with a shape. It does not own the elements;
/// a view of a recorded value is valid until its tape is cleared or rewound past it.
class TensorView {
 public:
  TensorView() = default;
  TensorView(const double* data, Shape shape) : data_(data), shape_(shape) {}

  const Shape& shape() const { return shape_; }
  std::int64_t size() const { return shape_.size(); }
  const double* data() const { return data_; }
  std::span<const double> span() const { return {data_, static_cast<std::size_t>(shape_.size())}; }
  /// Element i of the flattened (row-major) tensor.
  double operator[](std::int64_t i) const { return data_[i]; }
  /// Element (r, c) of a matrix; for a vector r must be 0.
  double operator()(std::int64_t r, std::int64_t c) const { return data_[r * shape_.as_cols() + c]; }
  /// The single element of a scalar (or any one-element tensor).
  double item() const;

 private:
  const double* data_ = nullptr;
  Shape shape_;
};

/// An owning dense float64 tensor of rank 0 to 2, row-major. Used for inputs and results that
/// outlive a tape; recorded values on a tape live in the tape's arena instead.
class Tensor {
 public:
  Tensor() : data_(1, 0.0) {}
  /// A tensor of the given shape filled with `fill`.
  explicit Tensor(Shape shape, double fill = 0.0);
  /// A tensor of the given shape holding `values` (row-major); throws if the count differs.
  Tensor(Shape shape, std::vector<double> values);
  /// Copies a view.
  explicit Tensor(TensorView view);

  static Tensor scalar(double v) { return Tensor(Shape::scalar(), v); }
  static Tensor vector(std::vector<double> values);
  static Tensor vector(std::initializer_list<double> values) { return vector(std::vector<double>(values)); }
  static Tensor matrix(std::int64_t rows, std::int64_t cols, std::vector<double> values);
  static Tensor zeros(Shape shape) { return Tensor(shape, 0.0); }

  const Shape& shape() const { return shape_; }
  std::int64_t size() const { return shape_.size(); }
  double* data() { return data_.data(); }
  const double* data() const { return data_.data(); }
  std::span<double> span() { return data_; }
  std::span<const double> span() const { return data_; }
  double& operator[](std::int64_t i) { return data_[static_cast<std::size_t>(i)]; }
  double operator[](std::int64_t i) const { return data_[static_cast<std::size_t>(i)]; }
  double& operator()(std::int64_t r, std::int64_t c) {
    return data_[static_cast<std::size_t>(r * shape_.as_cols() + c)];
  }
  double operator()(std::int64_t r, std::int64_t c) const {
    return data_[static_cast<std::size_t>(r * shape_.as_cols() + c)];
  }
  double item() const { return view().item(); }
  TensorView view() const { return {data_.data(), shape_}; }
  operator TensorView() const { return view(); }  // NOLINT: a tensor is usable wherever a view is

  /// The same elements under another shape of equal size.
  Tensor reshaped(Shape shape) const;

 private:
  Shape shape_;
  std::vector<double> data_;
};

/// Largest absolute elementwise difference; throws on a shape mismatch.
double max_abs_diff(TensorView a, TensorView b);

}  // namespace pk::ad
