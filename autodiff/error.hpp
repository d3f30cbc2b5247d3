#pragma once
// The exceptions autodiff throws. Every message names the op and the shapes involved.

#include <stdexcept>
#include <string>

namespace pk::ad {

/// Base of every autodiff error.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Operands whose shapes an op cannot combine, or an index outside a shape.
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// A value used with a tape it does not belong to, or after its tape was cleared or rewound.
class TapeError : public Error {
 public:
  using Error::Error;
};

/// A derivative request that has no meaning: a backward from a non-scalar without a seed, a
/// gradient with respect to a value that is not a recorded leaf, a seed of the wrong shape.
class GradError : public Error {
 public:
  using Error::Error;
};

}  // namespace pk::ad
