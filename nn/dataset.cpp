#include "nn/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "nn/error.hpp"
#include "nn/random.hpp"

namespace pk::nn {

namespace {
std::vector<std::string> default_names(std::vector<std::string> names, std::int64_t n, const char* prefix,
                                       const char* what) {
  if (names.empty()) {
    for (std::int64_t i = 0; i < n; ++i) names.push_back(prefix + std::to_string(i));
  } else if (static_cast<std::int64_t>(names.size()) != n) {
    throw SpecError(std::string("dataset: ") + std::to_string(names.size()) + " " + what + " names for " +
                    std::to_string(n) + " columns");
  }
  return names;
}

void check_finite(const ad::Tensor& t, const char* what) {
  for (std::int64_t r = 0; r < t.shape().dim(0); ++r)
    for (std::int64_t c = 0; c < t.shape().dim(1); ++c)
      if (!std::isfinite(t(r, c)))
        throw SpecError(std::string("dataset: ") + what + " row " + std::to_string(r) + ", column " +
                        std::to_string(c) + " is not finite");
}

ad::Tensor gather(const ad::Tensor& t, std::span<const std::int64_t> rows) {
  const std::int64_t cols = t.shape().dim(1);
  ad::Tensor out(ad::Shape::matrix(static_cast<std::int64_t>(rows.size()), cols));
  for (std::size_t i = 0; i < rows.size(); ++i)
    std::copy_n(t.data() + rows[i] * cols, cols, out.data() + static_cast<std::int64_t>(i) * cols);
  return out;
}
}  // namespace

Dataset::Dataset(ad::Tensor inputs, ad::Tensor targets, std::vector<std::string> input_names,
                 std::vector<std::string> target_names)
    : inputs_(std::move(inputs)), targets_(std::move(targets)) {
  if (inputs_.shape().rank != 2 || targets_.shape().rank != 2)
    throw SpecError("dataset: inputs " + inputs_.shape().str() + " and targets " + targets_.shape().str() +
                    " must be matrices (one row per sample)");
  if (inputs_.shape().dim(0) != targets_.shape().dim(0))
    throw SpecError("dataset: " + std::to_string(inputs_.shape().dim(0)) + " input rows but " +
                    std::to_string(targets_.shape().dim(0)) + " target rows");
  if (inputs_.shape().dim(0) < 1) throw SpecError("dataset: no samples");
  if (inputs_.shape().dim(1) < 1) throw SpecError("dataset: no input columns");
  if (targets_.shape().dim(1) < 1) throw SpecError("dataset: no target columns");
  check_finite(inputs_, "input");
  check_finite(targets_, "target");
  input_names_ = default_names(std::move(input_names), inputs_.shape().dim(1), "x", "input");
  target_names_ = default_names(std::move(target_names), targets_.shape().dim(1), "y", "target");
}

Dataset Dataset::rows(std::span<const std::int64_t> rows) const {
  for (const std::int64_t r : rows)
    if (r < 0 || r >= size())
      throw SpecError("dataset: row " + std::to_string(r) + " outside [0, " + std::to_string(size()) + ")");
  Dataset part(gather(inputs_, rows), gather(targets_, rows), input_names_, target_names_);
  part.source_ = source_;
  part.standardization_ = standardization_;
  return part;
}

Standardization Standardization::fit(ad::TensorView x) {
  if (x.shape().rank != 2 || x.shape().dim(0) < 1)
    throw SpecError("standardization: needs a matrix with at least one row, got " + x.shape().str());
  const std::int64_t m = x.shape().dim(0), f = x.shape().dim(1);
  Standardization s;
  s.mean.assign(static_cast<std::size_t>(f), 0.0);
  s.scale.assign(static_cast<std::size_t>(f), 0.0);
  for (std::int64_t c = 0; c < f; ++c) {
    double sum = 0.0;
    for (std::int64_t r = 0; r < m; ++r) sum += x(r, c);
    const double mean = sum / static_cast<double>(m);
    double sq = 0.0;
    for (std::int64_t r = 0; r < m; ++r) sq += (x(r, c) - mean) * (x(r, c) - mean);
    const double sd = std::sqrt(sq / static_cast<double>(m));
    s.mean[static_cast<std::size_t>(c)] = mean;
    s.scale[static_cast<std::size_t>(c)] = sd > 0.0 ? sd : 1.0;
  }
  return s;
}

ad::Tensor Standardization::apply(ad::TensorView x) const {
  const auto f = static_cast<std::int64_t>(mean.size());
  if (x.shape().rank != 2 || x.shape().dim(1) != f)
    throw SpecError("standardization: fitted on " + std::to_string(f) + " columns, applied to " +
                    x.shape().str());
  ad::Tensor out(x.shape());
  for (std::int64_t r = 0; r < x.shape().dim(0); ++r)
    for (std::int64_t c = 0; c < f; ++c)
      out(r, c) = (x(r, c) - mean[static_cast<std::size_t>(c)]) / scale[static_cast<std::size_t>(c)];
  return out;
}

ad::Tensor Standardization::invert(ad::TensorView x) const {
  const auto f = static_cast<std::int64_t>(mean.size());
  if (x.shape().rank != 2 || x.shape().dim(1) != f)
    throw SpecError("standardization: fitted on " + std::to_string(f) + " columns, inverted on " +
                    x.shape().str());
  ad::Tensor out(x.shape());
  for (std::int64_t r = 0; r < x.shape().dim(0); ++r)
    for (std::int64_t c = 0; c < f; ++c)
      out(r, c) = x(r, c) * scale[static_cast<std::size_t>(c)] + mean[static_cast<std::size_t>(c)];
  return out;
}

Dataset standardize_inputs(const Dataset& data, const Standardization& s) {
  if (data.standardization()) throw SpecError("standardize_inputs: the inputs are standardised already");
  Dataset mapped(s.apply(data.inputs()), data.targets(), data.input_names(), data.target_names());
  mapped.source_ = data.source_;
  mapped.standardization_ = s;
  return mapped;
}

Split train_test_split(const Dataset& data, double test_fraction, std::uint64_t seed) {
  const std::int64_t m = data.size();
  if (!(test_fraction > 0.0 && test_fraction < 1.0))
    throw SpecError("train_test_split: test fraction must be in (0, 1), got " +
                    std::to_string(test_fraction));
  const auto n_test = static_cast<std::int64_t>(std::llround(test_fraction * static_cast<double>(m)));
  if (n_test < 1 || n_test >= m)
    throw SpecError("train_test_split: a test fraction of " + std::to_string(test_fraction) + " of " +
                    std::to_string(m) + " samples leaves a part empty");
  std::vector<std::int64_t> order(static_cast<std::size_t>(m));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  Rng rng(seed);
  rng.shuffle(order);
  std::vector<std::int64_t> test(order.begin(), order.begin() + n_test);
  std::vector<std::int64_t> train(order.begin() + n_test, order.end());
  std::sort(test.begin(), test.end());
  std::sort(train.begin(), train.end());
  Dataset train_data = data.rows(train), test_data = data.rows(test);
  return {std::move(train_data), std::move(test_data), std::move(train), std::move(test)};
}

}  // namespace pk::nn
