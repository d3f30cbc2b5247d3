#include "nn/run_json.hpp"
// The run.json codec: the writer and the reader of every field sit together, so that each
// field's check on reading faces the code that wrote it. Members are read through io::JsonMember.

#include <cmath>
#include <limits>
#include <utility>

#include "io/error.hpp"
#include "io/file_bytes.hpp"
#include "io/internal/json_member.hpp"
#include "nn/error.hpp"

namespace pk::nn {

namespace {

using io::Json;
using Member = io::JsonMember;

constexpr const char* kFormat = "pathkernel-run";
// Nesting deeper than this is no run.json: refused before the parser builds it.
constexpr int kMaxDepth = 32;
constexpr std::int64_t kMaxManifestBytes = std::int64_t{64} << 20;
// Sizes a run.json may claim. Each is far beyond a run this library can train, and small enough
// that products of two of them cannot overflow an int64.
constexpr std::int64_t kMaxExtent = std::int64_t{1} << 31;

const char* recreate_hint() {
  return "re-create the run directory with `pathkernel train` of this version (the same options "
         "give the same run)";
}

// --- writing ---------------------------------------------------------------------------------

Json schedule_json(const ScheduleSpec& s) {
  Json j;
  j["kind"] = s.kind;
  if (s.kind == "explicit") {
    j["rates"] = s.rates;
  } else if (s.kind == "warmup") {
    j["warmup_steps"] = s.length;
    j["after"] = s.after ? schedule_json(*s.after) : Json();
  } else {
    j["alpha"] = s.alpha;
    if (s.kind == "step" || s.kind == "exponential") j["factor"] = s.factor;
    if (s.kind == "step") j["every"] = s.length;
    if (s.kind == "cosine") {
      j["steps"] = s.length;
      j["final_alpha"] = s.final_alpha;
    }
  }
  return j;
}

Json layers_json(const MlpSpec& spec) {
  Json layers = Json::array();
  for (std::size_t l = 0; l + 1 < spec.widths.size(); ++l) {
    layers.push_back({{"type", "linear"}, {"in", spec.widths[l]}, {"out", spec.widths[l + 1]}});
    if (l + 2 < spec.widths.size())
      layers.push_back({{"type", std::string(activation_name(spec.activation))}});
  }
  return layers;
}

// --- reading ---------------------------------------------------------------------------------

// Line and column (1-based) of byte `offset` of `text`.
std::string position(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

// Refuses nesting deeper than kMaxDepth, counted outside strings, before the parser allocates for it.
void check_depth(std::string_view text, const std::string& file) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth)
        throw io::JsonError(
            file, "nesting deeper than " + std::to_string(kMaxDepth) + " levels at " + position(text, i));
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

ScheduleSpec parse_schedule(const Member& m) {
  ScheduleSpec s;
  s.kind = m["kind"].str();
  if (s.kind == "explicit") {
    s.rates = m["rates"].numbers();
  } else if (s.kind == "warmup") {
    s.length = m["warmup_steps"].integer(1, kMaxExtent);
    s.after = std::make_shared<const ScheduleSpec>(parse_schedule(m["after"]));
  } else if (s.kind == "constant" || s.kind == "step" || s.kind == "exponential" || s.kind == "cosine") {
    s.alpha = m["alpha"].number();
    if (s.kind == "step" || s.kind == "exponential") s.factor = m["factor"].number();
    if (s.kind == "step") s.length = m["every"].integer(1, kMaxExtent);
    if (s.kind == "cosine") {
      s.length = m["steps"].integer(1, kMaxExtent);
      s.final_alpha = m["final_alpha"].number();
    }
  } else {
    m["kind"].fail("is \"" + s.kind +
                   "\", not a schedule (constant, step, exponential, cosine, warmup, explicit)");
  }
  try {
    (void)Schedule::from_spec(s);
  } catch (const SpecError& e) {
    m.fail(std::string("is not a valid schedule: ") + e.what());
  }
  return s;
}

// --- layered models (model.input_shape and model.layers) ------------------------------------

Json architecture_json(const Architecture& arch) {
  Json layers = Json::array();
  for (const LayerSpec& l : arch.layers) {
    Json j{{"type", l.type_name()}};
    if (l.kind == LayerKind::linear || l.kind == LayerKind::conv2d) {
      j["in"] = l.in;
      j["out"] = l.out;
    }
    if (l.kind == LayerKind::conv2d || l.kind == LayerKind::avg_pool2d || l.kind == LayerKind::max_pool2d) {
      j["kernel"] = l.kernel;
      j["stride"] = l.stride;
    }
    if (l.kind == LayerKind::conv2d) j["padding"] = l.padding;
    layers.push_back(j);
  }
  return layers;
}

// Any layer list the library builds; every constant a type has is required, none other allowed,
// and the whole list is checked against the input shape (infer_shapes).
Architecture parse_layers(const Member& layers, std::vector<std::int64_t> input_shape) {
  Architecture arch;
  arch.input_shape = std::move(input_shape);
  const std::size_t n = layers.size();
  if (n == 0) layers.fail("is empty");
  for (std::size_t i = 0; i < n; ++i) {
    const Member layer = layers.at(i);
    LayerSpec l;
    const std::string type = layer["type"].str();
    std::vector<const char*> keys;
    if (type == "linear") {
      l.kind = LayerKind::linear;
      keys = {"in", "out"};
    } else if (type == "conv2d") {
      l.kind = LayerKind::conv2d;
      keys = {"in", "out", "kernel", "stride", "padding"};
    } else if (type == "avg_pool2d" || type == "max_pool2d") {
      l.kind = type == "avg_pool2d" ? LayerKind::avg_pool2d : LayerKind::max_pool2d;
      keys = {"kernel", "stride"};
    } else if (type == "flatten") {
      l.kind = LayerKind::flatten;
    } else {
      try {
        l.activation = parse_activation(type);
      } catch (const SpecError&) {
        layer["type"].fail("is \"" + type +
                           "\", not a layer type this version knows (linear, conv2d, avg_pool2d, "
                           "max_pool2d, flatten, or an activation)");
      }
      l.kind = LayerKind::activation;
    }
    for (const auto& [key, value] : layer.json().items()) {
      bool known = key == "type";
      for (const char* k : keys) known = known || key == k;
      if (!known) layer.fail("has a member \"" + key + "\" that a " + type + " layer does not take");
    }
    for (const char* k : keys) {
      const std::int64_t v = layer[k].integer(std::string_view(k) == "padding" ? 0 : 1, kMaxExtent);
      if (std::string_view(k) == "in")
        l.in = v;
      else if (std::string_view(k) == "out")
        l.out = v;
      else if (std::string_view(k) == "kernel")
        l.kernel = v;
      else if (std::string_view(k) == "stride")
        l.stride = v;
      else
        l.padding = v;
    }
    if (i > 0 && l.kind == LayerKind::linear && arch.layers.back().kind == LayerKind::linear)
      layer["in"].fail("follows a linear layer directly");
    arch.layers.push_back(l);
  }
  try {
    (void)infer_shapes(static_cast<const Architecture&>(arch));
  } catch (const SpecError& e) {
    layers.fail(std::string("do not fit model.input_shape: ") + e.what());
  }
  return arch;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

std::map<std::string, std::vector<std::int64_t>> RunManifest::array_shapes(std::int64_t n) const {
  const RunFacts& f = facts;
  return {{run_files::weights, {n + 1, f.parameter_count}},
          {run_files::learning_rates, {n}},
          {run_files::losses, {n}},
          {run_files::batches, {n, f.batch_capacity}},
          {run_files::output_derivatives, {n, f.batch_capacity, f.output_count}},
          {run_files::training_inputs, {f.sample_count, f.input_dim}},
          {run_files::training_targets, {f.sample_count, f.target_dim}}};
}

std::string run_json_text(const RunManifest& m) {
  const RunFacts& f = m.facts;
  Json j;
  j["format"] = kFormat;
  j["version"] = kRunFormatVersion;
  j["status"] = m.status;
  j["steps"] = m.steps;
  j["message"] = m.message;
  j["final_loss"] = m.final_loss ? Json(*m.final_loss) : Json();
  Json model;
  model["name"] = f.model;
  if (f.architecture) {
    model["input_shape"] = f.architecture->input_shape;
    model["layers"] = architecture_json(*f.architecture);
  } else {
    model["input_shape"] = {f.input_dim};
    model["layers"] = f.mlp ? layers_json(*f.mlp) : Json();
  }
  j["model"] = model;
  j["loss"] = std::string(Loss(f.loss).name());
  j["optimizer"] = {{"name", std::string(optimizer_name(f.optimizer.kind))},
                    {"momentum", f.optimizer.momentum},
                    {"nesterov", f.optimizer.nesterov},
                    {"weight_decay", f.optimizer.weight_decay},
                    {"beta1", f.optimizer.beta1},
                    {"beta2", f.optimizer.beta2},
                    {"eps", f.optimizer.epsilon}};
  j["schedule"] = schedule_json(f.schedule);
  j["batches"] = {{"size", f.batches.batch_size},
                  {"seed", f.batches.seed},
                  {"drop_last", f.batches.drop_last},
                  {"full_batch", f.full_batch},
                  {"capacity", f.batch_capacity}};
  j["planned_steps"] = f.planned_steps;
  Json data;
  data["source"] = f.data.source;
  data["input_columns"] = f.data.input_names;
  data["target_columns"] = f.data.target_names;
  data["standardization"] = f.data.standardization ? Json{{"mean", f.data.standardization->mean},
                                                          {"std", f.data.standardization->scale}}
                                                   : Json();
  j["data"] = data;
  j["sizes"] = {{"D", f.parameter_count}, {"M", f.sample_count}, {"C", f.output_count},
                {"F", f.input_dim},       {"T", f.target_dim},   {"N", m.steps}};
  Json arrays;
  for (const auto& [name, shape] : m.array_shapes(m.steps)) arrays[name] = shape;
  j["arrays"] = arrays;
  // Invalid UTF-8 (a file name in another encoding) is replaced rather than refused: the run is
  // still worth recording.
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

RunManifest parse_run_json(std::string_view text, const std::string& file) {
  check_depth(text, file);
  Json doc;
  try {
    doc = Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    throw io::JsonError(file, "not valid JSON at " + position(text, e.byte > 0 ? e.byte - 1 : 0) + ": " +
                                  std::string(e.what()).substr(std::string(e.what()).find(':') + 1));
  } catch (const Json::exception& e) {
    // Not a syntax error but still the text's fault: a number beyond a double ("1e999") is
    // nlohmann's out_of_range.406.
    const std::string what = e.what();
    const std::size_t tag_end = what.find("] ");
    throw io::JsonError(
        file, "not valid JSON: " + (tag_end == std::string::npos ? what : what.substr(tag_end + 2)));
  }
  const Member root(file, doc, "");
  if (!doc.is_object()) throw io::JsonError(file, "is not a JSON object");
  if (!root.has("format") || !doc["format"].is_string() ||
      (doc["format"] != kFormat && doc["format"] != "pathkernel-trajectory"))
    throw io::JsonError(
        file, "is not the run.json of a pathkernel run directory (no \"format\": \"pathkernel-run\")");
  if (!root.has("version") || doc["format"] == "pathkernel-trajectory")
    throw io::JsonError(file,
                        std::string("was written by an earlier pathkernel whose run directories this version "
                                    "does not read; ") +
                            recreate_hint());
  const std::int64_t version = root["version"].integer(0, std::numeric_limits<std::int64_t>::max());
  if (version != kRunFormatVersion)
    throw io::JsonError(file, "is run format version " + std::to_string(version) +
                                  "; this pathkernel reads version " + std::to_string(kRunFormatVersion) +
                                  ": " + recreate_hint());

  RunManifest m;
  RunFacts& f = m.facts;
  m.status = root["status"].str();
  if (m.status != "running" && m.status != "completed" && m.status != "diverged" && m.status != "stopped")
    root["status"].fail("is \"" + m.status + "\", not running, completed, diverged or stopped");
  m.steps = root["steps"].integer(0, kMaxExtent);
  m.message = root["message"].str();
  if (!root["final_loss"].is_null()) m.final_loss = root["final_loss"].number();

  const Member model = root["model"];
  f.model = model["name"].str();
  const Member input_shape = model["input_shape"];
  const std::size_t rank = input_shape.size();
  if (rank != 1 && rank != 3) input_shape.fail("must be [F] for vectors or [C, H, W] for images");
  std::vector<std::int64_t> shape;
  for (std::size_t i = 0; i < rank; ++i) shape.push_back(input_shape.at(i).integer(1, kMaxExtent));
  f.input_dim = 1;
  for (const std::int64_t v : shape) {
    if (f.input_dim > kMaxExtent / v)
      input_shape.fail("holds more than " + std::to_string(kMaxExtent) + " values");
    f.input_dim *= v;
  }
  const Member layers = model["layers"];
  // null: the model was a user's function, which the reader must be given to rebuild the run.
  std::optional<ArchitectureShapes> structure;
  if (!layers.is_null()) {
    Architecture arch = parse_layers(layers, shape);
    structure = infer_shapes(static_cast<const Architecture&>(arch));
    if (const std::optional<MlpSpec> spec = arch.as_mlp())
      f.mlp = *spec;
    else
      f.architecture = std::move(arch);
  } else if (rank != 1) {
    input_shape.fail("is an image shape but model.layers is null");
  }
  try {
    f.loss = parse_loss(root["loss"].str());
  } catch (const SpecError& e) {
    root["loss"].fail(std::string("is not a loss: ") + e.what());
  }
  const Member opt = root["optimizer"];
  try {
    f.optimizer.kind = parse_optimizer(opt["name"].str());
  } catch (const SpecError& e) {
    opt["name"].fail(std::string("is not an optimizer: ") + e.what());
  }
  f.optimizer.momentum = opt["momentum"].number();
  f.optimizer.nesterov = opt["nesterov"].boolean();
  f.optimizer.weight_decay = opt["weight_decay"].number();
  f.optimizer.beta1 = opt["beta1"].number();
  f.optimizer.beta2 = opt["beta2"].number();
  f.optimizer.epsilon = opt["eps"].number();
  try {
    Optimizer check(f.optimizer, 1);
  } catch (const SpecError& e) {
    opt.fail(std::string("holds constants out of range: ") + e.what());
  }
  f.schedule = parse_schedule(root["schedule"]);
  const Member batches = root["batches"];
  f.batches.batch_size = batches["size"].integer(0, kMaxExtent);
  f.batches.seed = batches["seed"].unsigned_integer();
  f.batches.drop_last = batches["drop_last"].boolean();
  f.full_batch = batches["full_batch"].boolean();
  f.batch_capacity = batches["capacity"].integer(1, kMaxExtent);
  f.planned_steps = root["planned_steps"].integer(0, kMaxExtent);

  const Member data = root["data"];
  f.data.source = data["source"].str();
  f.data.input_names = data["input_columns"].strings();
  f.data.target_names = data["target_columns"].strings();
  const Member standardization = data["standardization"];
  if (!standardization.is_null()) {
    Standardization s;
    s.mean = standardization["mean"].numbers();
    s.scale = standardization["std"].numbers();
    for (std::size_t i = 0; i < s.scale.size(); ++i)
      if (!(s.scale[i] > 0.0)) standardization["std"].at(i).fail("is not positive");
    f.data.standardization = std::move(s);
  }

  const Member sizes = root["sizes"];
  f.parameter_count = sizes["D"].integer(1, kMaxExtent);
  f.sample_count = sizes["M"].integer(1, kMaxExtent);
  f.output_count = sizes["C"].integer(1, kMaxExtent);
  const std::int64_t features = sizes["F"].integer(1, kMaxExtent);
  f.target_dim = sizes["T"].integer(1, kMaxExtent);
  const std::int64_t n = sizes["N"].integer(0, kMaxExtent);

  // Every size against the structure that implies it.
  if (features != f.input_dim)
    sizes["F"].fail("is " + std::to_string(features) + " but model.input_shape is [" +
                    std::to_string(f.input_dim) + "]");
  if (structure && structure->parameter_count != f.parameter_count)
    sizes["D"].fail("is " + std::to_string(f.parameter_count) + " but the model's layers have " +
                    std::to_string(structure->parameter_count) + " parameters");
  if (structure && structure->output_size != f.output_count)
    sizes["C"].fail("is " + std::to_string(f.output_count) + " but the model's last layer has " +
                    std::to_string(structure->output_size) + " outputs");
  if (Loss(f.loss).target_dim(f.output_count) != f.target_dim)
    sizes["T"].fail("is " + std::to_string(f.target_dim) + " but the loss " +
                    std::string(Loss(f.loss).name()) + " with " + std::to_string(f.output_count) +
                    " outputs takes " + std::to_string(Loss(f.loss).target_dim(f.output_count)) +
                    " target columns");
  if (static_cast<std::int64_t>(f.data.input_names.size()) != f.input_dim)
    data["input_columns"].fail("names " + std::to_string(f.data.input_names.size()) + " columns for " +
                               std::to_string(f.input_dim) + " inputs");
  if (static_cast<std::int64_t>(f.data.target_names.size()) != f.target_dim)
    data["target_columns"].fail("names " + std::to_string(f.data.target_names.size()) + " columns for " +
                                std::to_string(f.target_dim) + " targets");
  if (f.data.standardization &&
      (static_cast<std::int64_t>(f.data.standardization->mean.size()) != f.input_dim ||
       static_cast<std::int64_t>(f.data.standardization->scale.size()) != f.input_dim))
    standardization.fail("does not hold one mean and one std per input column (" +
                         std::to_string(f.input_dim) + ")");
  const bool full = f.batches.batch_size == 0 || f.batches.batch_size >= f.sample_count;
  const std::int64_t capacity = full ? f.sample_count : f.batches.batch_size;
  if (f.full_batch != full)
    batches["full_batch"].fail(full ? "is false but the batch size covers every sample"
                                    : "is true but the batch size is smaller than M");
  if (f.batch_capacity != capacity)
    batches["capacity"].fail("is " + std::to_string(f.batch_capacity) + " but the batch size and M give " +
                             std::to_string(capacity));
  if (n != m.steps)
    sizes["N"].fail("is " + std::to_string(n) + " but \"steps\" is " + std::to_string(m.steps));
  if (m.steps > f.planned_steps)
    root["steps"].fail("is more than the planned " + std::to_string(f.planned_steps));
  if (f.schedule.kind == "explicit" && static_cast<std::int64_t>(f.schedule.rates.size()) < f.planned_steps)
    root["schedule"]["rates"].fail("holds fewer rates than the planned steps");

  const Member arrays = root["arrays"];
  for (const auto& [name, shape] : m.array_shapes(m.steps)) {
    const std::vector<std::int64_t> stated = arrays[name.c_str()].integers(0, kMaxExtent);
    if (stated != shape)
      arrays[name.c_str()].fail("is " + shape_text(stated) + " but the sizes give " + shape_text(shape));
  }
  return m;
}

RunManifest read_run_json(const std::filesystem::path& path) {
  return parse_run_json(io::read_file_bytes(path, kMaxManifestBytes), path.string());
}

}  // namespace pk::nn
