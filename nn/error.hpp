#pragma once
// The exceptions nn throws. Every message says what was wrong and where: the file, line and
// column of a data file, the step of a run, the name of a parameter block or option.

#include <cstdint>
#include <stdexcept>
#include <string>

#include "io/error.hpp"

namespace pk::nn {

/// Base of every nn error.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A request that has no meaning: an unknown activation or loss name, a malformed model spec,
/// inputs or targets whose shapes do not fit the model, a schedule or optimiser parameter out of
/// range, a weight vector whose length does not match the layout.
class SpecError : public Error {
 public:
  using Error::Error;
};

// The file layer's errors are io's; nn names them as its own so that nn code reads naturally.
using io::CsvError;
using io::IoError;
using io::NpyError;

}  // namespace pk::nn
