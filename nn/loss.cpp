#include "nn/loss.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "autodiff/ops.hpp"
#include "nn/error.hpp"

namespace pk::nn {

namespace {
double softplus(double z) { return std::max(z, 0.0) + std::log1p(std::exp(-std::abs(z))); }

double sigmoid(double z) {
  if (z >= 0.0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

// The per-sample loss of one row, with dl/dy scaled by `scale` written to `d` when it is given.
double row_loss(LossKind kind, const double* y, const double* t, std::int64_t c, double scale, double* d) {
  switch (kind) {
    case LossKind::mse: {
      double l = 0.0;
      for (std::int64_t j = 0; j < c; ++j) {
        const double r = y[j] - t[j];
        l += r * r;
        if (d) d[j] = scale * r;
      }
      return 0.5 * l;
    }
    case LossKind::binary_cross_entropy: {
      double l = 0.0;
      for (std::int64_t j = 0; j < c; ++j) {
        l += softplus(y[j]) - t[j] * y[j];
        if (d) d[j] = scale * (sigmoid(y[j]) - t[j]);
      }
      return l;
    }
    case LossKind::softmax_cross_entropy: {
      if (!(t[0] >= 0.0 && t[0] < static_cast<double>(c)) || t[0] != std::floor(t[0]))
        throw SpecError("softmax_cross_entropy: target " + std::to_string(t[0]) +
                        " is not a class index in [0, " + std::to_string(c) + ")");
      const auto target = static_cast<std::int64_t>(t[0]);
      const double m = *std::max_element(y, y + c);
      double s = 0.0;
      for (std::int64_t j = 0; j < c; ++j) s += std::exp(y[j] - m);
      const double lse = m + std::log(s);
      if (d)
        for (std::int64_t j = 0; j < c; ++j)
          d[j] = scale * (std::exp(y[j] - lse) - (j == target ? 1.0 : 0.0));
      return lse - y[target];
    }
  }
  return 0.0;
}
}  // namespace

LossKind parse_loss(std::string_view name) {
  if (name == "mse") return LossKind::mse;
  if (name == "binary_cross_entropy" || name == "bce") return LossKind::binary_cross_entropy;
  if (name == "softmax_cross_entropy" || name == "cross_entropy") return LossKind::softmax_cross_entropy;
  throw SpecError("unknown loss '" + std::string(name) +
                  "' (known: mse, binary_cross_entropy or bce, softmax_cross_entropy or "
                  "cross_entropy)");
}

std::string_view Loss::name() const {
  switch (kind_) {
    case LossKind::mse:
      return "mse";
    case LossKind::binary_cross_entropy:
      return "binary_cross_entropy";
    case LossKind::softmax_cross_entropy:
      return "softmax_cross_entropy";
  }
  return "?";
}

std::int64_t Loss::target_dim(std::int64_t outputs) const {
  return kind_ == LossKind::softmax_cross_entropy ? 1 : outputs;
}

void Loss::check_targets(ad::TensorView targets, std::int64_t outputs) const {
  const std::string who = std::string(name()) + ": ";
  const ad::Shape& s = targets.shape();
  if (s.rank != 2 || s.dim(1) != target_dim(outputs))
    throw SpecError(who + "targets of shape " + s.str() + " for " + std::to_string(outputs) +
                    " model outputs; expected (rows, " + std::to_string(target_dim(outputs)) + ")");
  if (kind_ == LossKind::softmax_cross_entropy && outputs < 2)
    throw SpecError(who + "needs at least 2 model outputs (one logit per class), got " +
                    std::to_string(outputs));
  for (std::int64_t r = 0; r < s.dim(0); ++r)
    for (std::int64_t c = 0; c < s.dim(1); ++c) {
      const double v = targets(r, c);
      const std::string where = "target row " + std::to_string(r) + ", column " + std::to_string(c);
      if (!std::isfinite(v)) throw SpecError(who + where + " is not finite");
      if (kind_ == LossKind::binary_cross_entropy && (v < 0.0 || v > 1.0))
        throw SpecError(who + where + " is " + std::to_string(v) + ", outside [0, 1]");
      if (kind_ == LossKind::softmax_cross_entropy &&
          (v != std::floor(v) || v < 0.0 || v >= static_cast<double>(outputs)))
        throw SpecError(who + where + " is " + std::to_string(v) + ", not a class index in [0, " +
                        std::to_string(outputs) + ")");
    }
}

void Loss::check_shapes(const ad::Shape& outputs, const ad::Shape& targets, const char* what) const {
  if (outputs.rank != 2 || targets.rank != 2 || targets.dim(0) != outputs.dim(0) ||
      targets.dim(1) != target_dim(outputs.dim(1)))
    throw SpecError(std::string(name()) + " " + what + ": outputs " + outputs.str() + " and targets " +
                    targets.str() + " do not match (targets need " +
                    std::to_string(outputs.rank == 2 ? target_dim(outputs.dim(1)) : 0) +
                    " columns and one row per output row)");
  if (outputs.dim(0) == 0) throw SpecError(std::string(name()) + " " + what + ": empty batch");
}

ad::Tensor Loss::sample_losses(ad::TensorView outputs, ad::TensorView targets) const {
  check_shapes(outputs.shape(), targets.shape(), "sample_losses");
  const std::int64_t n = outputs.shape().dim(0), c = outputs.shape().dim(1);
  const std::int64_t tc = targets.shape().dim(1);
  ad::Tensor l(ad::Shape::vector(n));
  for (std::int64_t m = 0; m < n; ++m)
    l[m] = row_loss(kind_, outputs.data() + m * c, targets.data() + m * tc, c, 0.0, nullptr);
  return l;
}

double Loss::value(ad::TensorView outputs, ad::TensorView targets) const {
  check_shapes(outputs.shape(), targets.shape(), "value");
  const std::int64_t n = outputs.shape().dim(0), c = outputs.shape().dim(1);
  const std::int64_t tc = targets.shape().dim(1);
  double total = 0.0;
  for (std::int64_t m = 0; m < n; ++m)
    total += row_loss(kind_, outputs.data() + m * c, targets.data() + m * tc, c, 0.0, nullptr);
  return total / static_cast<double>(n);
}

double Loss::value_and_derivative(ad::TensorView outputs, ad::TensorView targets,
                                  std::span<double> derivative) const {
  check_shapes(outputs.shape(), targets.shape(), "value_and_derivative");
  const std::int64_t n = outputs.shape().dim(0), c = outputs.shape().dim(1);
  const std::int64_t tc = targets.shape().dim(1);
  if (static_cast<std::int64_t>(derivative.size()) != n * c)
    throw SpecError(std::string(name()) + " value_and_derivative: derivative buffer of " +
                    std::to_string(derivative.size()) + " for " + std::to_string(n * c) + " outputs");
  const double scale = 1.0 / static_cast<double>(n);
  double total = 0.0;
  for (std::int64_t m = 0; m < n; ++m)
    total +=
        row_loss(kind_, outputs.data() + m * c, targets.data() + m * tc, c, scale, derivative.data() + m * c);
  return total / static_cast<double>(n);
}

ad::Tensor Loss::output_derivative(ad::TensorView outputs, ad::TensorView targets) const {
  ad::Tensor d(outputs.shape());
  value_and_derivative(outputs, targets, d.span());
  return d;
}

ad::Var Loss::value(ad::Var outputs, ad::TensorView targets) const {
  check_shapes(outputs.shape(), targets.shape(), "value");
  ad::Tape& t = outputs.tape();
  const std::int64_t n = outputs.shape().dim(0), c = outputs.shape().dim(1);
  const double inv_n = 1.0 / static_cast<double>(n);
  switch (kind_) {
    case LossKind::mse:
      return ad::mul_scalar(ad::sum(ad::square(ad::sub(outputs, t.constant(targets)))), 0.5 * inv_n);
    case LossKind::binary_cross_entropy:
      return ad::mul_scalar(ad::sum(ad::sub(ad::softplus(outputs), ad::mul(outputs, t.constant(targets)))),
                            inv_n);
    case LossKind::softmax_cross_entropy: {
      check_targets(targets, c);
      ad::Tensor one_hot(ad::Shape::matrix(n, c));
      for (std::int64_t m = 0; m < n; ++m) one_hot(m, static_cast<std::int64_t>(targets(m, 0))) = 1.0;
      const ad::Var picked = ad::sum(ad::mul(outputs, t.constant(one_hot)));
      return ad::mul_scalar(ad::sub(ad::sum(ad::logsumexp(outputs, 1)), picked), inv_n);
    }
  }
  throw SpecError("Loss::value: invalid loss kind");
}

}  // namespace pk::nn
