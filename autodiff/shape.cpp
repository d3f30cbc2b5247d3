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

void Shape::invalid_extents(const char* op, int rank, std::int64_t a, std::int64_t b) {
  std::string dims = "(" + std::to_string(a);
  if (rank == 2) dims += ", " + std::to_string(b);
  dims += ')';
  const bool negative = a < 0 || (rank == 2 && b < 0);
  throw ShapeError(std::string(op) + ": extents " + dims +
                   (negative ? " include a negative extent"
                             : " hold more than " + std::to_string(kMaxSize) + " elements"));
}

void Shape::validate(const char* op) const {
  const bool rank_ok = rank >= 0 && rank <= 2;
  const bool unused_ok = rank_ok && (rank >= 2 || dims[1] == 1) && (rank >= 1 || dims[0] == 1);
  std::int64_t n = 0;
  const bool extents_ok =
      dims[0] >= 0 && dims[1] >= 0 && !__builtin_mul_overflow(dims[0], dims[1], &n) && n <= kMaxSize;
  if (rank_ok && unused_ok && extents_ok) return;
  throw ShapeError(std::string(op) + ": invalid shape (rank " + std::to_string(rank) + ", extents " +
                   std::to_string(dims[0]) + ", " + std::to_string(dims[1]) +
                   (!rank_ok                     ? "): the rank must be 0, 1 or 2"
                    : !unused_ok                 ? "): extents beyond the rank must be 1"
                    : dims[0] < 0 || dims[1] < 0 ? "): negative extent"
                                                 : "): more than " + std::to_string(kMaxSize) + " elements"));
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  if (a == b) return a;
  const int rank = a.rank > b.rank ? a.rank : b.rank;
  const std::int64_t ar = a.as_rows(), ac = a.as_cols(), br = b.as_rows(), bc = b.as_cols();
  auto join = [&](std::int64_t x, std::int64_t y) -> std::int64_t {
    if (x == y || y == 1) return x;
    if (x == 1) return y;
    throw ShapeError(std::string(op) + ": shapes " + a.str() + " and " + b.str() + " do not broadcast");
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
