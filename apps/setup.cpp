#include "apps/setup.hpp"

#include <charconv>
#include <sstream>
#include <system_error>

#include "apps/builtin_data.hpp"
#include "apps/resources.hpp"

namespace pk::app {

using pk::ad::Tensor;

void declare_data_options(Options& o) {
  o.value("data", "FILE|NAME",
          "training data: a CSV file, or sine, moons, spirals, xor, iris, digits (8x8 images, --input-shape "
          "1x8x8)",
          "sine");
  o.value("targets", "COLS", "target columns of a CSV file, by name or 0-based index, comma-separated", "");
  o.value("header", "auto|yes|no", "whether the CSV file's first row is a header", "auto");
  o.value("samples", "M", "points in a built-in synthetic set", "64");
  o.flag("standardize", "map each input column to mean 0 and standard deviation 1");
}

void declare_model_options(Options& o) {
  o.value("arch", "SPEC",
          "MLP widths from inputs to outputs, e.g. 1-32-32-1 (with --activation), or layers joined by ',': "
          "linear(out), conv2d(out,k,stride=1,padding=0), avg_pool2d(k,stride=k), max_pool2d(k,stride=k), "
          "flatten, and activations by name, e.g. --input-shape 1x8x8 --arch \"conv2d(4,3,padding=1),tanh,"
          "avg_pool2d(2),conv2d(8,3,padding=1),tanh,avg_pool2d(2),flatten,linear(10)\"",
          "1-32-32-1");
  o.value("input-shape", "CxHxW|F",
          "shape of one input of a layered --arch: images C x H x W (a CSV row's pixel "
          "columns in that order) or a width F; default: the data's input columns",
          "");
  o.value("activation", "NAME",
          "tanh, relu, sigmoid, softplus, gelu or identity (hidden activation of an MLP given by widths)",
          "tanh");
  o.value("loss", "NAME", "mse, bce (binary cross-entropy with logits) or cross_entropy", "mse");
  o.value("init", "SCHEME", "pytorch_default, xavier_uniform, xavier_normal, he_uniform, he_normal",
          "pytorch_default");
  o.value("init-weights", "FILE.npy", "initial weights as a flat float64 vector (overrides --init)");
  o.value("seed", "N", "seed of the initial weights and of mini-batch shuffling", "1");
}

void declare_training_options(Options& o) {
  o.value("lr", "ALPHA", "learning rate", "0.05");
  o.value("schedule", "NAME", "constant, cosine, exponential or step", "constant");
  o.value("decay", "RATE", "decay of exponential (per step) and step (factor every 100 steps) schedules",
          "0.99");
  o.value("steps", "N", "training steps", "200");
  o.value("batch-size", "B", "mini-batch size; 0 for full-batch descent", "0");
  declare_optimizer_options(o);
}

void declare_optimizer_options(Options& o) {
  o.value("optimizer", "NAME", "gd, momentum, adam or adamw (PyTorch's conventions)", "gd");
  o.value("momentum", "MU", "momentum coefficient (momentum)", "0.9");
  o.flag("nesterov", "Nesterov's direction g + mu b (momentum)");
  o.value("weight-decay", "LAMBDA",
          "weight decay: added to the gradient (gd, momentum, adam) or decoupled (adamw)", "0");
  o.value("beta1", "B1", "Adam's first-moment decay", "0.9");
  o.value("beta2", "B2", "Adam's second-moment decay", "0.999");
  o.value("eps", "EPS", "Adam's epsilon", "1e-8");
}

void declare_decomposition_options(Options& o, const char* second_order) {
  o.value("second-order", "MODE", "when to compute F2: none, complex or every", second_order);
  o.value("tau", "TAU", "complex-step threshold: |R1| > tau * max(|df|, eps, rounding of df)", "0.01");
  o.value("exact", "on|off", "exact path kernel by adaptive Gauss-Legendre quadrature", "on");
  o.value("exact-tolerance", "TOL", "tolerance of the exact kernel's step identity", "1e-10");
  o.value("attribution", "on|off", "attribution to training points and Domingos' path kernel", "on");
  o.value("sharpness-every", "S", "top Hessian eigenvalue of the training loss every S steps (0: never)",
          "10");
  o.value("pair-query", "Q", "split F2 of query Q into pairs of training points (-1: none)", "-1");
  o.value("order", "2|3", "3: also the third-order term F3 and R3 = R2 - F3 where F2 is computed", "2");
  o.value("window", "W", "steps per window of the accumulated remainders (0: about 20 windows)", "0");
  o.value("window-tau", "TAU", "a window fails when ||sum R1|| > TAU * ||sum df|| over its steps", "0.1");
  o.value("eos-band", "B", "edge of stability: alpha * lambda_max within (1 +- B) * 2 from the onset on",
          "0.1");
  o.value("lanczos-tolerance", "TOL", "relative change of the sharpness estimate that stops Lanczos", "1e-8");
  o.value("exact-attribution", "on|off", "attribution with each step's integrated Jacobian (costly)", "off");
}

namespace {
bool on_off(const Options& o, const std::string& name) {
  const std::string v = o.text(name);
  if (v == "on") return true;
  if (v == "off") return false;
  throw UsageError("--" + name + ": expected on or off, got '" + v + "'");
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep))
    if (!part.empty()) parts.push_back(part);
  return parts;
}
}  // namespace

LoadedData load_data(const Options& o) {
  const std::string source = o.text("data");
  const std::int64_t n = o.integer("samples", 3, 100'000'000);
  LoadedData d{pk::nn::sine_regression(n, 7), ""};
  if (source == "sine") {
    d = {pk::nn::sine_regression(n, 7), "sine regression (" + std::to_string(n) + " points)"};
  } else if (source == "moons") {
    d = {pk::nn::two_moons(n, 7, 0.1), "two moons (" + std::to_string(n) + " points)"};
  } else if (source == "spirals") {
    d = {pk::nn::spirals(n, 7), "two spirals (" + std::to_string(n) + " points)"};
  } else if (source == "xor") {
    d = {pk::nn::xor_problem(n, 7), "XOR (" + std::to_string(n) + " points)"};
  } else {
    std::filesystem::path path = source;
    if (source == "iris" || source == "digits") path = builtin_data_file(source);
    pk::nn::CsvOptions csv;
    std::string targets = o.text("targets");
    if (source == "iris" && targets.empty()) targets = "species";
    if (source == "digits" && targets.empty()) targets = "label";
    if (targets.empty())
      throw UsageError("--targets: name the target columns of " + path.string() +
                       " (e.g. --targets y or --targets -1)");
    for (const std::string& t : split(targets, ',')) {
      std::int64_t index = 0;
      const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), index);
      if (ec == std::errc() && end == t.data() + t.size())
        csv.targets.emplace_back(index);
      else if (ec == std::errc::result_out_of_range)
        throw UsageError("--targets: column index '" + t + "' is out of range");
      else
        csv.targets.emplace_back(t);  // a column name
    }
    const std::string header = o.text("header");
    if (header == "yes")
      csv.header = pk::nn::CsvHeader::present;
    else if (header == "no")
      csv.header = pk::nn::CsvHeader::absent;
    else if (header != "auto")
      throw UsageError("--header: expected auto, yes or no, got '" + header + "'");
    d = {pk::nn::read_csv(path, csv), path.string()};
  }
  d.data.set_source(source == "iris" ? "iris" : source);
  if (o.flag_set("standardize")) {
    const auto s = pk::nn::Standardization::fit(d.data.inputs());
    d.data = pk::nn::standardize_inputs(d.data, s);
    d.description += ", standardised";
  }
  return d;
}

pk::nn::Model make_model(const Options& o, const pk::nn::Dataset& data) {
  const std::string arch_text = o.text("arch");
  // Digits and dashes only: the MLP shorthand of widths plus --activation.
  const bool widths = arch_text.find_first_not_of("0123456789-") == std::string::npos;
  pk::nn::Architecture arch;
  // The parameter count before any allocation: a width of 10^9 must be refused, not attempted.
  double parameters = 0.0;
  if (widths) {
    const pk::nn::MlpSpec spec = pk::nn::parse_mlp_spec(arch_text, o.text("activation"));
    for (std::size_t l = 0; l + 1 < spec.widths.size(); ++l)
      parameters += static_cast<double>(spec.widths[l] + 1) * static_cast<double>(spec.widths[l + 1]);
    if (o.given("input-shape") &&
        pk::nn::parse_input_shape(o.text("input-shape")) != std::vector<std::int64_t>{spec.widths.front()})
      throw UsageError("--input-shape " + o.text("input-shape") + ": the widths " + arch_text + " take " +
                       std::to_string(spec.widths.front()) + " inputs");
    if (parameters <= 1e9) arch = pk::nn::mlp_architecture(spec);
  } else {
    std::vector<std::int64_t> shape = o.given("input-shape")
                                          ? pk::nn::parse_input_shape(o.text("input-shape"))
                                          : std::vector<std::int64_t>{data.input_dim()};
    // Each layer's size is bounded by the parser; the sum is checked here.
    arch = pk::nn::parse_architecture(arch_text, std::move(shape));
    parameters = static_cast<double>(
        pk::nn::infer_shapes(static_cast<const pk::nn::Architecture&>(arch)).parameter_count);
  }
  if (parameters > 1e9)
    throw UsageError("--arch " + arch_text + ": " + std::to_string(static_cast<long long>(parameters)) +
                     " parameters; this library is for small networks (at most 10^9)");
  require_memory(parameters * 8.0 * 8.0,
                 "--arch " + arch_text + " (weights, gradient, optimiser state, tape)");
  pk::nn::Model model = pk::nn::sequential(arch);
  if (model.input_dim() != data.input_dim()) {
    if (!widths)
      throw UsageError("--input-shape " + o.text("input-shape") + ": " + std::to_string(model.input_dim()) +
                       " values per input but the data have " + std::to_string(data.input_dim()) +
                       " input columns");
    throw UsageError("--arch " + arch_text + ": takes " + std::to_string(model.input_dim()) +
                     " inputs but the data have " + std::to_string(data.input_dim()) + " input columns");
  }
  return model;
}

pk::nn::Loss make_loss(const Options& o) { return pk::nn::Loss(pk::nn::parse_loss(o.text("loss"))); }

Tensor initial_weights(const Options& o, const pk::nn::Model& model) {
  if (o.given("init-weights")) return pk::nn::load_parameters(o.text("init-weights"), model.layout());
  return pk::nn::initialise(model.layout(), pk::nn::parse_init_scheme(o.text("init")),
                            static_cast<std::uint64_t>(o.integer("seed")));
}

pk::nn::TrainingConfig make_training_config(const Options& o) {
  pk::nn::TrainingConfig c;
  c.steps = o.integer("steps", 1, 1'000'000'000);
  const double lr = o.positive("lr");
  const std::string schedule = o.text("schedule");
  if (schedule == "constant")
    c.schedule = pk::nn::Schedule::constant(lr);
  else if (schedule == "cosine")
    c.schedule = pk::nn::Schedule::cosine(lr, c.steps);
  else if (schedule == "exponential")
    c.schedule = pk::nn::Schedule::exponential(lr, o.positive("decay"));
  else if (schedule == "step")
    c.schedule = pk::nn::Schedule::step(lr, 100, o.positive("decay"));
  else
    throw UsageError("--schedule: unknown schedule '" + schedule + "' (constant, cosine, exponential, step)");
  c.optimizer = make_optimizer_config(o);
  c.batches.batch_size = o.integer("batch-size", 0);
  c.batches.seed = static_cast<std::uint64_t>(o.integer("seed"));
  return c;
}

pk::nn::OptimizerConfig make_optimizer_config(const Options& o) {
  pk::nn::OptimizerConfig c;
  c.momentum = o.number("momentum");
  c.nesterov = o.flag_set("nesterov");
  c.weight_decay = o.number("weight-decay");
  c.beta1 = o.number("beta1");
  c.beta2 = o.number("beta2");
  c.epsilon = o.number("eps");
  try {
    c.kind = pk::nn::parse_optimizer(o.text("optimizer"));
    pk::nn::Optimizer check(c, 1);
  } catch (const pk::nn::SpecError& e) {
    throw UsageError(std::string("--optimizer ") + o.text("optimizer") + ": " + e.what());
  }
  return c;
}

pk::kernel::DecompositionOptions make_decomposition_options(const Options& o) {
  pk::kernel::DecompositionOptions d;
  try {
    d.second_order = pk::kernel::parse_second_order_mode(o.text("second-order"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--second-order: ") + e.what());
  }
  d.tau = o.positive("tau");
  d.exact_kernel = on_off(o, "exact");
  d.exact_tolerance = o.positive("exact-tolerance");
  d.attribution = on_off(o, "attribution");
  d.sharpness_every = o.integer("sharpness-every", 0);
  d.pair_query = o.integer("pair-query", -1);
  d.order = static_cast<int>(o.integer("order", 2));
  if (d.order > 3) throw UsageError("--order: expected 2 or 3");
  d.window = o.integer("window", 0);
  d.window_tau = o.positive("window-tau");
  d.eos_band = o.positive("eos-band");
  d.lanczos_tolerance = o.positive("lanczos-tolerance");
  d.exact_attribution = on_off(o, "exact-attribution");
  if (d.exact_attribution && !d.exact_kernel) throw UsageError("--exact-attribution on: needs --exact on");
  return d;
}

Tensor load_queries(const Options& o, const Tensor& fallback, std::int64_t features) {
  if (!o.given("queries")) return fallback;
  const Tensor array = pk::io::read_csv_points(o.text("queries"));
  if (array.shape().dim(1) != features)
    throw UsageError("--queries " + o.text("queries") + ": has " + std::to_string(array.shape().dim(1)) +
                     " columns but the model takes " + std::to_string(features) + " inputs");
  return array;
}

Tensor load_run_points(const Options& o, const std::string& option, const pk::nn::RunFacts& run) {
  const std::string file = o.text(option);
  const Tensor raw = pk::io::read_csv_points(file);
  if (raw.shape().dim(1) != run.input_dim)
    throw UsageError("--" + option + " " + file + ": has " + std::to_string(raw.shape().dim(1)) +
                     " columns but the run's model takes " + std::to_string(run.input_dim) + " inputs");
  // A standardised run's model has only seen standardised inputs: raw points are mapped with the
  // statistics of the run's own training data, never refitted.
  return run.data.standardization ? run.data.standardization->apply(raw) : raw;
}

std::string point_space(const Options& o, const std::string& option, const pk::nn::RunFacts& run) {
  if (!run.data.standardization) return "raw inputs (the run was not standardised)";
  return o.given(option) ? "raw inputs from " + o.text(option) + ", standardised with the run's statistics"
                         : "the run's standardised training inputs";
}

int thread_count(const Options& o) { return static_cast<int>(o.integer("threads", 1)); }

}  // namespace pk::app
