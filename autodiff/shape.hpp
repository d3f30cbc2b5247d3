#pragma once
// The shape of a dense tensor of rank 0, 1 or 2, and NumPy's broadcasting rule between two shapes.

#include <array>
#include <cstddef>
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

  /// The most elements a tensor may hold: their byte count must fit in ptrdiff_t, so that no
  /// size or offset computed from a valid shape overflows.
  static constexpr std::int64_t kMaxSize = PTRDIFF_MAX / static_cast<std::int64_t>(sizeof(double));

  /// A scalar.
  static Shape scalar() { return {}; }
  /// A vector of n elements; throws `ShapeError` for n < 0 or n > kMaxSize.
  static Shape vector(std::int64_t n) {
    if (n < 0 || n > kMaxSize) [[unlikely]]
      invalid_extents("Shape::vector", 1, n, 1);
    return {1, {n, 1}};
  }
  /// A rows x cols matrix; throws `ShapeError` for a negative extent or more than kMaxSize
  /// elements (the check that keeps `size()` from overflowing).
  static Shape matrix(std::int64_t rows, std::int64_t cols) {
    std::int64_t n = 0;
    if (rows < 0 || cols < 0 || __builtin_mul_overflow(rows, cols, &n) || n > kMaxSize) [[unlikely]]
      invalid_extents("Shape::matrix", 2, rows, cols);
    return {2, {rows, cols}};
  }

  /// Throws `ShapeError` naming `op` unless this is a shape the factories could have made: rank
  /// 0 to 2, unused extents 1, no negative extent, at most kMaxSize elements. Shapes built by the
  /// factories always pass; the public entry points that accept a shape (Tensor, reshape,
  /// broadcast_to, sum_to, scatter_add, Tape::fill and the leaves) check it, because the
  /// members can be set directly.
  void validate(const char* op) const;

  /// Number of elements.
  std::int64_t size() const { return rank == 0 ? 1 : rank == 1 ? dims[0] : dims[0] * dims[1]; }
  /// Extent along an axis (0 or 1 for a matrix, 0 for a vector).
  std::int64_t dim(int axis) const { return dims[static_cast<std::size_t>(axis)]; }
  /// The shape seen as a matrix for elementwise loops: a vector is a row (1 x n), a scalar 1 x 1.
  std::int64_t as_rows() const { return rank == 2 ? dims[0] : 1; }
  std::int64_t as_cols() const { return rank == 2 ? dims[1] : rank == 1 ? dims[0] : 1; }

  // Unused extents are always 1, so member-wise equality is shape equality. Written out: the
  // defaulted form compares the array through a call to memcmp, and every recorded op and every
  // adjoint compares shapes (2% of a small network's gradient).
  friend bool operator==(const Shape& a, const Shape& b) {
    return a.rank == b.rank && a.dims[0] == b.dims[0] && a.dims[1] == b.dims[1];
  }

  /// "()", "(3)" or "(3, 4)": the form every error message uses.
  std::string str() const;

 private:
  // Out of line and cold, so the factories inline to two comparisons.
  [[noreturn]] static void invalid_extents(const char* op, int rank, std::int64_t a, std::int64_t b);
};

/// The shape NumPy broadcasting gives for an elementwise op between a and b; throws
/// `ShapeError` naming `op` and both shapes when they are incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

/// True when `from` broadcasts to exactly `to`.
bool broadcasts_to(const Shape& from, const Shape& to);

}  // namespace pk::ad
