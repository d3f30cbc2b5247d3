#include "nn/trajectory.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "nn/error.hpp"
#include "io/file_bytes.hpp"

namespace pk::nn {

// --- Trajectory ----------------------------------------------------------------------------

void Trajectory::check_step(std::int64_t k, const char* what) const {
  if (k < 0 || k >= steps())
    throw SpecError(std::string("trajectory ") + what + ": step " + std::to_string(k) +
                    " outside [0, " + std::to_string(steps()) + ")");
}

ad::TensorView Trajectory::weights(std::int64_t k) const {
  if (k < 0 || k > steps())
    throw SpecError("trajectory weights: index " + std::to_string(k) + " outside [0, " +
                    std::to_string(steps()) + "]");
  return {weights_.data() + k * parameter_count, ad::Shape::vector(parameter_count)};
}

ad::Tensor Trajectory::step(std::int64_t k) const {
  check_step(k, "step");
  ad::Tensor dw(ad::Shape::vector(parameter_count));
  const double* a = weights_.data() + k * parameter_count;
  const double* b = a + parameter_count;
  for (std::int64_t i = 0; i < parameter_count; ++i) dw[i] = b[i] - a[i];
  return dw;
}

double Trajectory::learning_rate(std::int64_t k) const {
  check_step(k, "learning_rate");
  return learning_rates_[static_cast<std::size_t>(k)];
}

double Trajectory::loss_value(std::int64_t k) const {
  check_step(k, "loss_value");
  return losses_[static_cast<std::size_t>(k)];
}

std::span<const std::int64_t> Trajectory::batch(std::int64_t k) const {
  check_step(k, "batch");
  const auto begin = static_cast<std::size_t>(batch_offsets_[static_cast<std::size_t>(k)]);
  const auto end = static_cast<std::size_t>(batch_offsets_[static_cast<std::size_t>(k) + 1]);
  return std::span<const std::int64_t>(batch_rows_).subspan(begin, end - begin);
}

ad::TensorView Trajectory::output_derivatives(std::int64_t k) const {
  check_step(k, "output_derivatives");
  const std::int64_t begin = batch_offsets_[static_cast<std::size_t>(k)];
  const std::int64_t n = batch_offsets_[static_cast<std::size_t>(k) + 1] - begin;
  return {output_derivatives_.data() + begin * output_count, ad::Shape::matrix(n, output_count)};
}

ad::Tensor Trajectory::dense_output_derivatives(std::int64_t k) const {
  const ad::TensorView d = output_derivatives(k);
  const std::span<const std::int64_t> rows = batch(k);
  ad::Tensor dense(ad::Shape::matrix(sample_count, output_count));
  for (std::size_t i = 0; i < rows.size(); ++i)
    std::copy_n(d.data() + static_cast<std::int64_t>(i) * output_count, output_count,
                dense.data() + rows[i] * output_count);
  return dense;
}

void Trajectory::start(const RunInfo& info) {
  model = info.model;
  parameter_count = info.parameter_count;
  sample_count = info.sample_count;
  output_count = info.output_count;
  batch_capacity = info.batch_capacity;
  full_batch = info.full_batch;
  loss = info.loss;
  optimizer = info.optimizer;
  schedule = info.schedule;
  batch_seed = info.batch_seed;
  planned_steps = info.planned_steps;
  status = TrainingStatus::interrupted;
  message.clear();
  if (info.initial_weights.size() != parameter_count)
    throw SpecError("trajectory: initial weights of " + std::to_string(info.initial_weights.size()) +
                    " for " + std::to_string(parameter_count) + " parameters");
  if (info.training_inputs.shape().rank != 2 || info.training_targets.shape().rank != 2 ||
      info.training_inputs.shape().dim(0) != sample_count ||
      info.training_targets.shape().dim(0) != sample_count)
    throw SpecError("trajectory: training data of shapes " + info.training_inputs.shape().str() +
                    " and " + info.training_targets.shape().str() + " for " +
                    std::to_string(sample_count) + " samples");
  input_dim_ = info.training_inputs.shape().dim(1);
  target_dim_ = info.training_targets.shape().dim(1);
  inputs_.assign(info.training_inputs.span().begin(), info.training_inputs.span().end());
  targets_.assign(info.training_targets.span().begin(), info.training_targets.span().end());
  weights_.assign(info.initial_weights.span().begin(), info.initial_weights.span().end());
  learning_rates_.clear();
  losses_.clear();
  batch_offsets_.assign(1, 0);
  batch_rows_.clear();
  output_derivatives_.clear();
}

void Trajectory::append(std::span<const double> weights_after, double learning_rate,
                        std::span<const std::int64_t> batch, std::span<const double> derivatives,
                        double loss_value) {
  if (static_cast<std::int64_t>(weights_after.size()) != parameter_count ||
      derivatives.size() != batch.size() * static_cast<std::size_t>(output_count))
    throw SpecError("trajectory append: sizes do not match the run (D = " +
                    std::to_string(parameter_count) + ", C = " + std::to_string(output_count) + ")");
  weights_.insert(weights_.end(), weights_after.begin(), weights_after.end());
  learning_rates_.push_back(learning_rate);
  losses_.push_back(loss_value);
  batch_rows_.insert(batch_rows_.end(), batch.begin(), batch.end());
  batch_offsets_.push_back(static_cast<std::int64_t>(batch_rows_.size()));
  output_derivatives_.insert(output_derivatives_.end(), derivatives.begin(), derivatives.end());
}

void Trajectory::append(const StepView& step) {
  append(step.weights_after.span(), step.learning_rate, step.batch,
         step.output_derivatives.span(), step.loss);
}

void TrajectoryRecorder::on_start(const RunInfo& info) { trajectory_.start(info); }

void TrajectoryRecorder::on_step(const StepView& step) { trajectory_.append(step); }

void TrajectoryRecorder::on_finish(const TrainingResult& result) {
  trajectory_.status = result.status;
  trajectory_.message = result.message;
}

// --- run.json ------------------------------------------------------------------------------

namespace {

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(ch));
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

// A value of a flat JSON object: the decoded text of a string, or the raw token of a number,
// true, false or null.
struct JsonValue {
  bool is_string = false;
  std::string text;
};

// Parses the flat object run.json holds (no nesting is needed or accepted).
std::map<std::string, JsonValue> parse_flat_json(const std::string& file, std::string_view s) {
  std::size_t i = 0;
  auto fail = [&](const std::string& why) -> void {
    throw IoError(file + ": malformed JSON at character " + std::to_string(i + 1) + ": " + why);
  };
  auto space = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
  };
  auto string = [&] {
    std::string out;
    if (i >= s.size() || s[i] != '"') fail("expected a string");
    ++i;
    for (;;) {
      if (i >= s.size()) fail("unterminated string");
      const char ch = s[i++];
      if (ch == '"') break;
      if (ch != '\\') {
        out += ch;
        continue;
      }
      if (i >= s.size()) fail("unterminated escape");
      const char e = s[i++];
      switch (e) {
        case '"': case '\\': case '/': out += e; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': {
          if (i + 4 > s.size()) fail("short \\u escape");
          const unsigned code = static_cast<unsigned>(std::stoul(std::string(s.substr(i, 4)), nullptr, 16));
          i += 4;
          if (code < 0x80) out += static_cast<char>(code);
          else out += '?';  // run.json writes only ASCII escapes
          break;
        }
        default: fail("unknown escape");
      }
    }
    return out;
  };
  std::map<std::string, JsonValue> values;
  space();
  if (i >= s.size() || s[i] != '{') fail("expected '{'");
  ++i;
  space();
  if (i < s.size() && s[i] == '}') {
    ++i;
  } else {
    for (;;) {
      space();
      const std::string key = string();
      space();
      if (i >= s.size() || s[i] != ':') fail("expected ':'");
      ++i;
      space();
      JsonValue v;
      if (i < s.size() && s[i] == '"') {
        v.is_string = true;
        v.text = string();
      } else {
        const std::size_t start = i;
        while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ' ' && s[i] != '\n' && s[i] != '\r' && s[i] != '\t') ++i;
        v.text = std::string(s.substr(start, i - start));
        if (v.text.empty()) fail("expected a value");
      }
      values[key] = v;
      space();
      if (i < s.size() && s[i] == ',') {
        ++i;
        continue;
      }
      if (i < s.size() && s[i] == '}') {
        ++i;
        break;
      }
      fail("expected ',' or '}'");
    }
  }
  space();
  if (i != s.size()) fail("text after the object");
  return values;
}

class RunJson {
 public:
  RunJson(std::string file, std::map<std::string, JsonValue> values)
      : file_(std::move(file)), values_(std::move(values)) {}
  const std::string& str(const std::string& key) const {
    const JsonValue& v = get(key);
    if (!v.is_string) throw IoError(file_ + ": \"" + key + "\" is not a string");
    return v.text;
  }
  std::int64_t integer(const std::string& key) const {
    const JsonValue& v = get(key);
    try {
      std::size_t used = 0;
      const long long n = std::stoll(v.text, &used);
      if (used == v.text.size() && !v.is_string) return n;
    } catch (const std::exception&) {
    }
    throw IoError(file_ + ": \"" + key + "\" is not an integer: " + v.text);
  }
  std::uint64_t unsigned_integer(const std::string& key) const {
    const JsonValue& v = get(key);
    try {
      std::size_t used = 0;
      const unsigned long long n = std::stoull(v.text, &used);
      if (used == v.text.size() && !v.is_string && v.text.front() != '-') return n;
    } catch (const std::exception&) {
    }
    throw IoError(file_ + ": \"" + key + "\" is not a non-negative integer: " + v.text);
  }
  bool boolean(const std::string& key) const {
    const JsonValue& v = get(key);
    if (!v.is_string && v.text == "true") return true;
    if (!v.is_string && v.text == "false") return false;
    throw IoError(file_ + ": \"" + key + "\" is not true or false: " + v.text);
  }

 private:
  const JsonValue& get(const std::string& key) const {
    const auto it = values_.find(key);
    if (it == values_.end()) throw IoError(file_ + ": no \"" + key + "\"");
    return it->second;
  }
  std::string file_;
  std::map<std::string, JsonValue> values_;
};

constexpr const char* kFormat = "pathkernel-trajectory";
constexpr const char* kWeights = "weights.npy";
constexpr const char* kRates = "learning_rates.npy";
constexpr const char* kLosses = "losses.npy";
constexpr const char* kBatches = "batches.npy";
constexpr const char* kDerivatives = "output_derivatives.npy";
constexpr const char* kRunJson = "run.json";
constexpr const char* kInputs = "training_inputs.npy";
constexpr const char* kTargets = "training_targets.npy";

TrainingStatus parse_status(const std::string& file, const std::string& s) {
  for (const TrainingStatus t : {TrainingStatus::completed, TrainingStatus::diverged,
                                 TrainingStatus::stopped, TrainingStatus::interrupted})
    if (status_name(t) == s) return t;
  if (s == "running") return TrainingStatus::interrupted;
  throw IoError(file + ": unknown status \"" + s + "\"");
}

}  // namespace

// --- disk recorder -------------------------------------------------------------------------

struct DiskTrajectoryRecorder::Files {
  io::NpyRowWriter weights, rates, losses, batches, derivatives;
};

DiskTrajectoryRecorder::DiskTrajectoryRecorder(std::filesystem::path directory,
                                               DiskRecorderOptions options)
    : directory_(std::move(directory)), options_(options) {
  if (options_.flush_every < 1)
    throw SpecError("disk recorder: flush_every must be at least 1, got " +
                    std::to_string(options_.flush_every));
}

DiskTrajectoryRecorder::~DiskTrajectoryRecorder() = default;

void DiskTrajectoryRecorder::write_run_json(std::string_view status, std::int64_t steps,
                                            const std::string& message) {
  std::ostringstream j;
  j << "{\n"
    << "  \"format\": " << json_string(kFormat) << ",\n"
    << "  \"version\": 1,\n"
    << "  \"model\": " << json_string(info_.model) << ",\n"
    << "  \"parameter_count\": " << info_.parameter_count << ",\n"
    << "  \"sample_count\": " << info_.sample_count << ",\n"
    << "  \"output_count\": " << info_.output_count << ",\n"
    << "  \"batch_capacity\": " << info_.batch_capacity << ",\n"
    << "  \"full_batch\": " << (info_.full_batch ? "true" : "false") << ",\n"
    << "  \"loss\": " << json_string(Loss(info_.loss).name()) << ",\n"
    << "  \"optimizer\": " << json_string(optimizer_name(info_.optimizer)) << ",\n"
    << "  \"kernel_form\": " << (has_kernel_form(info_.optimizer) ? "true" : "false") << ",\n"
    << "  \"schedule\": " << json_string(info_.schedule) << ",\n"
    << "  \"batch_seed\": " << info_.batch_seed << ",\n"
    << "  \"planned_steps\": " << info_.planned_steps << ",\n"
    << "  \"status\": " << json_string(status) << ",\n"
    << "  \"steps\": " << steps << ",\n"
    << "  \"message\": " << json_string(message) << "\n"
    << "}\n";
  // Written aside and renamed, so a reader never sees half of it.
  const std::filesystem::path final_path = directory_ / kRunJson;
  const std::filesystem::path temp = directory_ / "run.json.tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw IoError(temp.string() + ": cannot open for writing: " + std::strerror(errno));
    out << j.str();
    out.flush();
    if (!out) throw IoError(temp.string() + ": write failed");
  }
  std::error_code ec;
  std::filesystem::rename(temp, final_path, ec);
  if (ec) throw IoError(final_path.string() + ": cannot replace: " + ec.message());
}

void DiskTrajectoryRecorder::on_start(const RunInfo& info) {
  std::error_code ec;
  std::filesystem::create_directories(directory_, ec);
  if (ec) throw IoError(directory_.string() + ": cannot create directory: " + ec.message());
  files_.reset();
  info_ = info;
  info_.initial_weights = {};
  info_.training_inputs = {};
  info_.training_targets = {};
  io::write_npy(directory_ / kInputs, info.training_inputs);
  io::write_npy(directory_ / kTargets, info.training_targets);
  steps_ = 0;
  const std::int64_t bmax = info.batch_capacity, c = info.output_count;
  files_ = std::make_unique<Files>(Files{
      io::NpyRowWriter(directory_ / kWeights, {info.parameter_count}),
      io::NpyRowWriter(directory_ / kRates, {}),
      io::NpyRowWriter(directory_ / kLosses, {}),
      io::NpyRowWriter(directory_ / kBatches, {bmax}),
      io::NpyRowWriter(directory_ / kDerivatives, {bmax, c}),
  });
  batch_row_.assign(static_cast<std::size_t>(bmax), -1.0);
  derivative_row_.assign(static_cast<std::size_t>(bmax * c), 0.0);
  files_->weights.append(info.initial_weights.span());
  files_->weights.flush();
  write_run_json("running", 0, "");
}

void DiskTrajectoryRecorder::on_step(const StepView& step) {
  if (!files_) throw SpecError("disk recorder: on_step before on_start");
  const std::size_t b = step.batch.size();
  const std::span<const double> d = step.output_derivatives.span();
  std::fill(batch_row_.begin(), batch_row_.end(), -1.0);
  std::fill(derivative_row_.begin(), derivative_row_.end(), 0.0);
  for (std::size_t i = 0; i < b; ++i) batch_row_[i] = static_cast<double>(step.batch[i]);
  std::copy(d.begin(), d.end(), derivative_row_.begin());
  // The step's scalars and L' before its w_{k+1}: weights are the last file a step reaches.
  files_->rates.append(std::span(&step.learning_rate, 1));
  files_->losses.append(std::span(&step.loss, 1));
  files_->batches.append(batch_row_);
  files_->derivatives.append(derivative_row_);
  files_->weights.append(step.weights_after.span());
  ++steps_;
  if (steps_ % options_.flush_every == 0) {
    files_->rates.flush();
    files_->losses.flush();
    files_->batches.flush();
    files_->derivatives.flush();
    files_->weights.flush();
  }
}

void DiskTrajectoryRecorder::on_finish(const TrainingResult& result) {
  if (!files_) return;
  files_->rates.close();
  files_->losses.close();
  files_->batches.close();
  files_->derivatives.close();
  files_->weights.close();
  files_.reset();
  write_run_json(status_name(result.status), steps_, result.message);
}

// --- reader --------------------------------------------------------------------------------

namespace {
// run.json's facts, checked; `status_text` and the declared step count are kept for the caller.
struct RunHeader {
  RunInfo info;
  TrainingStatus status = TrainingStatus::interrupted;
  bool finished = false;
  std::int64_t declared_steps = 0;
  std::string message;
};

RunHeader read_run_header(const std::filesystem::path& directory) {
  const std::filesystem::path json_path = directory / kRunJson;
  const std::string text = io::read_file_bytes(json_path);
  const std::string file = json_path.string();
  const RunJson j(file, parse_flat_json(file, text));
  if (j.str("format") != kFormat) throw IoError(file + ": not a pathkernel trajectory");
  if (j.integer("version") != 1)
    throw IoError(file + ": trajectory format version " + std::to_string(j.integer("version")) +
                  " is not supported (1 is)");
  RunHeader h;
  RunInfo& info = h.info;
  info.model = j.str("model");
  info.parameter_count = j.integer("parameter_count");
  info.sample_count = j.integer("sample_count");
  info.output_count = j.integer("output_count");
  info.batch_capacity = j.integer("batch_capacity");
  info.full_batch = j.boolean("full_batch");
  info.loss = parse_loss(j.str("loss"));
  info.optimizer = parse_optimizer(j.str("optimizer"));
  info.schedule = j.str("schedule");
  info.batch_seed = j.unsigned_integer("batch_seed");
  info.planned_steps = j.integer("planned_steps");
  const std::string status_text = j.str("status");
  h.status = parse_status(file, status_text);
  h.finished = status_text != "running";
  if (h.finished) {
    h.declared_steps = j.integer("steps");
    h.message = j.str("message");
  }
  const std::int64_t d = info.parameter_count, c = info.output_count, bmax = info.batch_capacity;
  if (d <= 0 || c <= 0 || bmax <= 0 || info.sample_count <= 0 || bmax > info.sample_count)
    throw IoError(file + ": inconsistent sizes (D, M, C, Bmax) = (" + std::to_string(d) + ", " +
                  std::to_string(info.sample_count) + ", " + std::to_string(c) + ", " +
                  std::to_string(bmax) + ")");
  return h;
}

// Opens `name` for row reads and checks its row shape against run.json.
io::NpyRowReader open_rows(const std::filesystem::path& directory, const char* name,
                       const std::vector<std::int64_t>& row_shape) {
  io::NpyRowReader r(directory / name);
  if (r.row_shape() != row_shape) {
    std::string want = "(N";
    for (const std::int64_t e : row_shape) want += ", " + std::to_string(e);
    want += row_shape.empty() ? ",)" : ")";
    std::string got = "(" + std::to_string(r.rows());
    for (const std::int64_t e : r.row_shape()) got += ", " + std::to_string(e);
    got += r.row_shape().empty() ? ",)" : ")";
    throw NpyError(r.path().string(), "shape " + got + " does not fit run.json (" + want + " expected)");
  }
  return r;
}
}  // namespace

TrajectoryReader::TrajectoryReader(const std::filesystem::path& directory) : directory_(directory) {
  RunHeader h = read_run_header(directory);
  RunInfo& info = h.info;
  const std::int64_t d = info.parameter_count, c = info.output_count, bmax = info.batch_capacity;
  weights_ = open_rows(directory, kWeights, {d});
  rates_ = open_rows(directory, kRates, {});
  losses_ = open_rows(directory, kLosses, {});
  batches_ = open_rows(directory, kBatches, {bmax});
  derivatives_ = open_rows(directory, kDerivatives, {bmax, c});
  if (weights_.rows() < 1) throw NpyError((directory / kWeights).string(), "holds no rows: w_0 is missing");
  steps_ = std::min({weights_.rows() - 1, rates_.rows(), losses_.rows(), batches_.rows(), derivatives_.rows()});
  if (h.finished && steps_ != h.declared_steps)
    throw IoError((directory / kRunJson).string() + ": the run finished after " +
                  std::to_string(h.declared_steps) + " steps, but the .npy files hold " + std::to_string(steps_));

  const ad::Tensor inputs = io::read_npy_tensor(directory / kInputs);
  const ad::Tensor targets = io::read_npy_tensor(directory / kTargets);
  for (const auto& [tensor, name] : {std::pair{&inputs, kInputs}, std::pair{&targets, kTargets}})
    if (tensor->shape().rank != 2 || tensor->shape().dim(0) != info.sample_count)
      throw NpyError((directory / name).string(), "shape " + tensor->shape().str() + " does not fit run.json (" +
                                                      std::to_string(info.sample_count) + " rows expected)");
  std::vector<double> w0(static_cast<std::size_t>(d));
  weights_.read_row(0, w0);
  info.initial_weights = ad::TensorView(w0.data(), ad::Shape::vector(d));
  info.training_inputs = inputs;
  info.training_targets = targets;
  facts_.start(info);
  facts_.status = h.status;
  facts_.message = h.finished ? h.message
                              : "interrupted: the files hold the first " + std::to_string(steps_) + " steps";
}

void TrajectoryReader::read_weights(std::int64_t k, std::span<double> out) const {
  if (k < 0 || k > steps_)
    throw IoError(directory_.string() + ": weights w_" + std::to_string(k) + " asked for, the run has w_0 ... w_" +
                  std::to_string(steps_));
  weights_.read_row(k, out);
}

void TrajectoryReader::read_step(std::int64_t k, StepRecord& out) const {
  if (k < 0 || k >= steps_)
    throw IoError(directory_.string() + ": step " + std::to_string(k) + " asked for, the run has " +
                  std::to_string(steps_));
  const std::int64_t d = facts_.parameter_count, c = facts_.output_count, bmax = facts_.batch_capacity;
  const std::int64_t m = facts_.sample_count;
  out.weights_before.resize(static_cast<std::size_t>(d));
  out.weights_after.resize(static_cast<std::size_t>(d));
  weights_.read_row(k, out.weights_before);
  weights_.read_row(k + 1, out.weights_after);
  double scalar = 0.0;
  rates_.read_row(k, std::span(&scalar, 1));
  out.learning_rate = scalar;
  losses_.read_row(k, std::span(&scalar, 1));
  out.loss = scalar;
  std::vector<double> brow(static_cast<std::size_t>(bmax));
  batches_.read_row(k, brow);
  const std::string batches_file = (directory_ / kBatches).string();
  out.batch.clear();
  for (std::int64_t i = 0; i < bmax && brow[static_cast<std::size_t>(i)] >= 0.0; ++i) {
    const double v = brow[static_cast<std::size_t>(i)];
    if (v != std::floor(v) || v >= static_cast<double>(m) ||
        (!out.batch.empty() && static_cast<std::int64_t>(v) <= out.batch.back()))
      throw NpyError(batches_file, "step " + std::to_string(k) + ": entry " + std::to_string(i) + " (" +
                                       std::to_string(v) + ") is not an ascending row number in [0, " +
                                       std::to_string(m) + ")");
    out.batch.push_back(static_cast<std::int64_t>(v));
  }
  for (std::int64_t i = static_cast<std::int64_t>(out.batch.size()); i < bmax; ++i)
    if (brow[static_cast<std::size_t>(i)] != -1.0)
      throw NpyError(batches_file, "step " + std::to_string(k) + ": entry " + std::to_string(i) +
                                       " follows the padding but is not -1");
  if (out.batch.empty()) throw NpyError(batches_file, "step " + std::to_string(k) + " has an empty batch");
  out.output_derivatives.resize(static_cast<std::size_t>(bmax * c));
  derivatives_.read_row(k, out.output_derivatives);
  out.output_derivatives.resize(out.batch.size() * static_cast<std::size_t>(c));
}

Trajectory read_trajectory(const std::filesystem::path& directory) {
  const TrajectoryReader reader(directory);
  Trajectory t = reader.facts();
  StepRecord step;
  for (std::int64_t k = 0; k < reader.steps(); ++k) {
    reader.read_step(k, step);
    t.append(step.weights_after, step.learning_rate, step.batch, step.output_derivatives, step.loss);
  }
  t.status = reader.facts().status;
  t.message = reader.facts().message;
  return t;
}

}  // namespace pk::nn
