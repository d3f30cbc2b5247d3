#pragma once
// The exceptions autodiff throws. Every message names the op or function that refused, and the
// shapes when shapes are the problem.

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

/// A derivative request that has no meaning: `grad` from an undefined output, from a non-scalar
/// output without a seed, with a seed whose shape is not the output's, or with a number of result
/// slots unlike the number of values; a function handed to the functional API (grad, hvp,
/// hessian, ...) that returns an undefined value, or a non-scalar where a scalar is needed; a
/// backward rule whose adjoint has the wrong shape. A gradient may be taken with respect to any
/// recorded value, leaf or not (zeros where the output does not depend on it); one with respect
/// to an undefined value, a value of another tape or one no longer alive is a TapeError.
class GradError : public Error {
 public:
  using Error::Error;
};

}  // namespace pk::ad
