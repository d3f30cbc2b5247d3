#pragma once
// The shape of a dense tensor of rank 0, 1 or 2, and NumPy's broadcasting rule between two shapes.

#include <array>
#include <cstdint>
#include <string>

namespace pk::ad {

/// Shape of a rank-0 (scalar), rank-1 (vector of n) or rank-2 (rows x cols, row-major) tensor.
/// For broadcasting and matrix products a vector behaves as NumPy's 1-D arrays do: it lines up
/// with the last axis of a matrix (a row), and `matmul` treats it as a row on the left and a
/// column on the right.
struct Shape {
  int rank = 0;
  std::array<std::int64_t, 2> dims{1, 1};

  /// A scalar.
  static Shape scalar() { return {}; }
  /// A vector of n elements.
  static Shape vector(std::int64_t n) { return {1, {n, 1}}; }
  /// A rows x cols matrix.
  static Shape matrix(std::int64_t rows, std::int64_t cols) { return {2, {rows, cols}}; }

  /// Number of elements.
  std::int64_t size() const {
    return rank == 0 ? 1 : rank == 1 ? dims[0] : dims[0] * dims[1];
  }
  /// Extent along an axis (0 or 1 for a matrix, 0 for a vector).
  std::int64_t dim(int axis) const { return dims[static_cast<std::size_t>(axis)]; }
  /// The shape seen as a matrix for elementwise loops: a vector is a row (1 x n), a scalar 1 x 1.
  std::int64_t as_rows() const { return rank == 2 ? dims[0] : 1; }
  std::int64_t as_cols() const { return rank == 2 ? dims[1] : rank == 1 ? dims[0] : 1; }

  // Unused extents are always 1, so member-wise equality is shape equality.
  friend bool operator==(const Shape& a, const Shape& b) = default;

  /// "()", "(3)" or "(3, 4)": the form every error message uses.
  std::string str() const;
};

/// The shape NumPy broadcasting gives for an elementwise op between a and b; throws
/// `ShapeError` naming `op` and both shapes when they are incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

/// True when `from` broadcasts to exactly `to`.
bool broadcasts_to(const Shape& from, const Shape& to);

}  // namespace pk::ad
