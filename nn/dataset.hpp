#pragma once
// Training data: inputs x_m and targets y*_m, row m being sample m (0-based, as every report
// numbers training points), plus standardisation and a seeded train/test split.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "autodiff/tensor.hpp"

namespace pk::nn {

/// Per-column affine map x -> (x - mean) / scale, fitted on one set and applied to others (fit on
/// the training part, apply to the test part and to query points).
struct Standardization {
  std::vector<double> mean;
  /// The population standard deviation, or 1 for a column that is constant (so it maps to 0
  /// instead of dividing by zero).
  std::vector<double> scale;

  /// The mean and scale of each column of x (M x F).
  static Standardization fit(ad::TensorView x);
  /// (x - mean) / scale for each row of x; throws SpecError on a column count mismatch.
  ad::Tensor apply(ad::TensorView x) const;
  /// x * scale + mean, the inverse of `apply`.
  ad::Tensor invert(ad::TensorView x) const;

  friend bool operator==(const Standardization&, const Standardization&) = default;
};

/// M samples: inputs (M x F) and targets (M x T), with column names.
class Dataset {
 public:
  /// Checks that both are matrices of the same M >= 1 rows holding finite numbers, and that the
  /// names (when given) number F and T; missing names become "x0", "x1", ... and "y0", ...
  /// Throws SpecError naming the first problem.
  Dataset(ad::Tensor inputs, ad::Tensor targets, std::vector<std::string> input_names = {},
          std::vector<std::string> target_names = {});

  const ad::Tensor& inputs() const { return inputs_; }
  const ad::Tensor& targets() const { return targets_; }
  const std::vector<std::string>& input_names() const { return input_names_; }
  const std::vector<std::string>& target_names() const { return target_names_; }
  /// M, the number of samples.
  std::int64_t size() const { return inputs_.shape().dim(0); }
  /// F, features per input.
  std::int64_t input_dim() const { return inputs_.shape().dim(1); }
  /// T, target columns.
  std::int64_t target_dim() const { return targets_.shape().dim(1); }
  /// The samples at `rows` (0-based, any order, repeats allowed), in that order.
  Dataset rows(std::span<const std::int64_t> rows) const;

  /// Where the data came from ("sine", a CSV file's path, ...): recorded with a run. Empty when
  /// unknown.
  const std::string& source() const { return source_; }
  void set_source(std::string source) { source_ = std::move(source); }
  /// The map `standardize_inputs` applied to the inputs, if any: a run records it so that query
  /// points are mapped the same way.
  const std::optional<Standardization>& standardization() const { return standardization_; }

 private:
  ad::Tensor inputs_;
  ad::Tensor targets_;
  std::vector<std::string> input_names_;
  std::vector<std::string> target_names_;
  std::string source_;
  std::optional<Standardization> standardization_;
  friend Dataset standardize_inputs(const Dataset& data, const Standardization& s);
};

/// The dataset with its inputs mapped by `s` (targets, names and source unchanged); the result
/// remembers `s`. Standardising twice is refused (SpecError): the second map would be lost.
Dataset standardize_inputs(const Dataset& data, const Standardization& s);

/// A partition of a dataset's rows into a training and a test part.
struct Split {
  Dataset train;
  Dataset test;
  std::vector<std::int64_t> train_rows;  // rows of the original, ascending
  std::vector<std::int64_t> test_rows;   // rows of the original, ascending
};

/// Puts round(test_fraction * M) randomly chosen rows (by a generator seeded with `seed`) in the
/// test part and the rest in the training part, each keeping the original row order. Throws
/// SpecError unless both parts are non-empty.
Split train_test_split(const Dataset& data, double test_fraction, std::uint64_t seed);

}  // namespace pk::nn
