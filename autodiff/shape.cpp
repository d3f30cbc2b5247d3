#include "autodiff/shape.hpp"

#include "autodiff/error.hpp"

namespace pk::ad {

std::string Shape::str() const {
  // Appended piece by piece: GCC 12 at -O3 warns falsely (-Wrestrict) on "(" + to_string(...).
  std::string s = "(";
  for (int i = 0; i < rank; ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(dims[static_cast<std::size_t>(i)]);
  }
  s += ')';
  return s;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  if (a == b) return a;
  const int rank = a.rank > b.rank ? a.rank : b.rank;
  const std::int64_t ar = a.as_rows(), ac = a.as_cols(), br = b.as_rows(), bc = b.as_cols();
  auto join = [&](std::int64_t x, std::int64_t y) -> std::int64_t {
    if (x == y || y == 1) return x;
    if (x == 1) return y;
    throw ShapeError(std::string(op) + ": shapes " + a.str() + " and " + b.str() +
                     " do not broadcast");
  };
  const std::int64_t rows = join(ar, br), cols = join(ac, bc);
  if (rank == 0) return Shape::scalar();
  if (rank == 1) return Shape::vector(cols);
  return Shape::matrix(rows, cols);
}

bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.rank > to.rank) return false;
  const bool rows_ok = from.as_rows() == to.as_rows() || from.as_rows() == 1;
  const bool cols_ok = from.as_cols() == to.as_cols() || from.as_cols() == 1;
  return rows_ok && cols_ok;
}

}  // namespace pk::ad
