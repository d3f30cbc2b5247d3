// A run directory is a checked contract: every edit a careless or hostile user can make to it is
// refused, naming the file and the field, before any numerics; a legitimate directory reads back
// exactly. One test per defect that earlier versions accepted (each gave a report with the same
// headline or crashed).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "io/npy.hpp"
#include "nn/csv_dataset.hpp"
#include "nn/error.hpp"
#include "nn/init.hpp"
#include "nn/mlp.hpp"
#include "nn/run_json.hpp"
#include "nn/synthetic.hpp"
#include "nn/trajectory.hpp"
#include "test_support.hpp"

namespace pk::nn {
namespace {

using Json = nlohmann::ordered_json;
using testing::read_file;
using testing::ScratchDir;
using testing::write_file;

// A finished full-batch run of six steps on a small classification problem, recorded to `dir`.
std::filesystem::path record(const std::filesystem::path& dir, TrainingConfig config = {.steps = 6},
                             LossKind loss = LossKind::binary_cross_entropy, bool standardize = false) {
  Dataset data = two_moons(24, 5, 0.1);
  data.set_source("moons");
  if (standardize) data = standardize_inputs(data, Standardization::fit(data.inputs()));
  const Model model = mlp("2-5-1", "tanh");
  Trainer trainer(model, Loss(loss), data, config);
  DiskTrajectoryRecorder disk(dir);
  trainer.add_observer(disk);
  trainer.run(initialise(model.layout(), InitScheme::pytorch_default, 5));
  return dir;
}

Json load(const std::filesystem::path& run) { return Json::parse(read_file(run / "run.json")); }
void save(const std::filesystem::path& run, const Json& j) { write_file(run / "run.json", j.dump(2)); }

// Multiplies every element of a .npy file by `factor`.
void scale_npy(const std::filesystem::path& file, double factor) {
  io::NpyArray a = io::read_npy(file);
  for (double& v : a.data) v *= factor;
  io::write_npy(file, a.shape, a.data);
}

TEST(RunDirectory, ReadsBackEveryFactAsStructuredData) {
  const ScratchDir dir;
  const auto run = record(dir / "run",
                          {.steps = 6,
                           .schedule = Schedule::cosine(0.2, 6, 0.01),
                           .optimizer = {.kind = OptimizerKind::momentum, .momentum = 0.8},
                           .batches = {.batch_size = 7, .seed = 9}},
                          LossKind::binary_cross_entropy, true);
  const TrajectoryReader reader(run);
  const Trajectory& t = reader.facts();
  ASSERT_TRUE(t.mlp.has_value());
  EXPECT_EQ(t.mlp->widths, (std::vector<std::int64_t>{2, 5, 1}));
  EXPECT_EQ(t.mlp->activation, Activation::tanh);
  EXPECT_EQ(t.optimizer.kind, OptimizerKind::momentum);
  EXPECT_EQ(t.optimizer.momentum, 0.8);
  EXPECT_EQ(t.schedule.kind, "cosine");
  EXPECT_EQ(t.schedule.final_alpha, 0.01);
  EXPECT_EQ(t.batches.batch_size, 7);
  EXPECT_EQ(t.batches.seed, 9u);
  EXPECT_EQ(t.data.source, "moons");
  EXPECT_EQ(t.data.input_names, (std::vector<std::string>{"x0", "x1"}));
  ASSERT_TRUE(t.data.standardization.has_value());
  EXPECT_EQ(t.data.standardization->mean.size(), 2u);
  ASSERT_TRUE(t.final_loss.has_value());
  EXPECT_TRUE(std::isfinite(*t.final_loss));
  EXPECT_EQ(reader.model().parameter_count(), t.parameter_count);
  const Json j = load(run);
  EXPECT_EQ(j["format"], "pathkernel-run");
  EXPECT_EQ(j["version"], kRunFormatVersion);
  EXPECT_EQ(j["arrays"]["output_derivatives.npy"], Json({6, 7, 1}));
  EXPECT_EQ(j["model"]["layers"][1]["type"], "tanh");
}

TEST(RunDirectory, StringsRoundTripBeyondAscii) {
  RunManifest m = testing::smallest_manifest();
  m.facts.data = {"données/été ☀.csv", {"température"}, {"y\"\\\n"}, std::nullopt};
  m.message = "naïve — ok";
  const RunManifest back = parse_run_json(run_json_text(m), "run.json");
  EXPECT_EQ(back, m);
  // A \u escape beyond ASCII, and a surrogate pair, decode to UTF-8.
  std::string text = run_json_text(m);
  const std::string needle = "\"message\": \"naïve — ok\"";
  ASSERT_NE(text.find(needle), std::string::npos);
  text.replace(text.find(needle), needle.size(), "\"message\": \"caf\\u00e9 \\ud83d\\ude00\"");
  EXPECT_EQ(parse_run_json(text, "run.json").message, "café 😀");
  // A malformed escape is the library's error naming the place, not std::invalid_argument.
  text.replace(text.find("caf\\u00e9"), 9, "caf\\u00zz");
  PK_EXPECT_THROW_WITH(parse_run_json(text, "run.json"), io::JsonError, "run.json: not valid JSON at line");
}

TEST(RunDirectory, RefusesRunsWithoutAVersionSayingHowToRecreateThem) {
  const ScratchDir dir;
  const auto run = record(dir / "run");
  Json j = load(run);
  j.erase("version");
  save(run, j);
  PK_EXPECT_THROW_WITH(TrajectoryReader{run}, io::JsonError,
                       "re-create the run directory with `pathkernel train`");
  j["version"] = 7;
  save(run, j);
  PK_EXPECT_THROW_WITH(TrajectoryReader{run}, io::JsonError, "is run format version 7");
  write_file(run / "run.json",
             R"({"format": "pathkernel-trajectory", "version": 1, "model": "mlp 2-5-1 tanh"})");
  PK_EXPECT_THROW_WITH(TrajectoryReader{run}, io::JsonError, "re-create the run directory");
}

TEST(RunDirectory, EveryOptimiserConstantIsStoredAndRequired) {
  const ScratchDir dir;
  const OptimizerConfig adamw{
      .kind = OptimizerKind::adamw, .weight_decay = 0.05, .beta1 = 0.85, .beta2 = 0.99, .epsilon = 1e-6};
  const auto run =
      record(dir / "run", {.steps = 4, .schedule = Schedule::constant(0.01), .optimizer = adamw});
  EXPECT_EQ(TrajectoryReader(run).facts().optimizer, adamw);
  const auto nesterov =
      record(dir / "nesterov",
             {.steps = 3, .optimizer = {.kind = OptimizerKind::momentum, .momentum = 0.5, .nesterov = true}});
  EXPECT_TRUE(TrajectoryReader(nesterov).facts().optimizer.nesterov);
  const Json original = load(run);
  for (const char* member : {"weight_decay", "nesterov", "beta1", "eps"}) {
    SCOPED_TRACE(member);
    Json j = original;
    j["optimizer"].erase(member);
    save(run, j);
    PK_EXPECT_THROW_WITH(TrajectoryReader{run}, io::JsonError, std::string("optimizer.") + member);
  }
  Json j = original;
  j["optimizer"]["weight_decay"] = 0.06;  // the replayed steps no longer follow
  save(run, j);
  PK_EXPECT_THROW_WITH(TrajectoryReader{run}, IoError, "the run directory contradicts itself");
  j["optimizer"]["weight_decay"] = -1.0;
  save(run, j);
  PK_EXPECT_THROW_WITH(TrajectoryReader{run}, io::JsonError, "weight decay");
}

TEST(RunDirectory, AnEditedOutputCountIsRefusedBeforeAnyNumerics) {
  // This edit once read past a heap buffer in the attribution and the F2 pair split.
  const ScratchDir dir;
  const auto run = record(dir / "run");
  Json j = load(run);
  j["sizes"]["C"] = 3;
  save(run, j);
  PK_EXPECT_THROW_WITH(TrajectoryReader{run}, io::JsonError,
                       "\"sizes.C\" is 3 but the model's last layer has 1 outputs");
  j["sizes"]["C"] = 1;
  j["arrays"]["output_derivatives.npy"] = Json({6, 24, 3});
  save(run, j);
  PK_EXPECT_THROW_WITH(TrajectoryReader{run}, io::JsonError,
                       "\"arrays.output_derivatives.npy\" is [6, 24, 3]");
}

TEST(RunDirectory, EditedNamesAreRefusedByTheReplay) {
  const ScratchDir dir;
  for (const auto& [member, value] :
       std::vector<std::pair<std::string, std::string>>{{"activation", "relu"},
                                                        {"activation", "sigmoid"},
                                                        {"optimizer", "momentum"},
                                                        {"optimizer", "adam"}}) {
    SCOPED_TRACE(member + " -> " + value);
    const auto run = record(dir / (member + value));
    Json j = load(run);
    if (member == "activation")
      j["model"]["layers"][1]["type"] = value;
    else
      j["optimizer"]["name"] = value;
    save(run, j);
    PK_EXPECT_THROW_WITH(TrajectoryReader{run}, IoError, "the run directory contradicts itself");
  }
  // The loss: the same shapes, but L' and the losses no longer belong to it.
  const auto run = record(dir / "loss");
  Json j = load(run);
  j["loss"] = "mse";
  save(run, j);
  EXPECT_THROW(TrajectoryReader{run}, io::Error);
  j["loss"] = "hinge";
  save(run, j);
  PK_EXPECT_THROW_WITH(TrajectoryReader{run}, io::JsonError, "\"loss\" is not a loss");
}

TEST(RunDirectory, DoubledLearningRatesAreRefused) {
  const ScratchDir dir;
  const auto run = record(dir / "run");
  scale_npy(run / "learning_rates.npy", 2.0);
  PK_EXPECT_THROW_WITH(
      TrajectoryReader{run}, NpyError,
      "learning_rates.npy: step 0: the learning rate 0.200000 is not the schedule's 0.100000");
  // Doubling the schedule's rate as well is caught by the replay.
  Json j = load(run);
  j["schedule"]["alpha"] = 0.2;
  save(run, j);
  PK_EXPECT_THROW_WITH(TrajectoryReader{run}, IoError, "contradicts itself");
}

TEST(RunDirectory, ScaledOutputDerivativesAreRefusedAtEveryStep) {
  const ScratchDir dir;
  for (const LossKind loss : {LossKind::binary_cross_entropy, LossKind::mse}) {
    SCOPED_TRACE(std::string(Loss(loss).name()));
    const auto run = record(dir / std::string(Loss(loss).name()), {.steps = 6}, loss);
    // Triple L' of the last step only: the replay covers the first steps, the per-step check the rest.
    io::NpyArray d = io::read_npy(run / "output_derivatives.npy");
    const std::size_t row = d.data.size() / 6;
    for (std::size_t i = 5 * row; i < 6 * row; ++i) d.data[i] *= 3.0;
    io::write_npy(run / "output_derivatives.npy", d.shape, d.data);
    const TrajectoryReader reader(run);
    StepRecord s;
    reader.read_step(4, s);
    PK_EXPECT_THROW_WITH(reader.read_step(5, s), NpyError, "step 5: L' gives the loss");
  }
}

TEST(RunDirectory, DroppedOrForeignBatchRowsAreRefused) {
  const ScratchDir dir;
  const auto run = record(dir / "full");
  io::NpyArray b = io::read_npy(run / "batches.npy");
  const std::size_t m = 24;
  b.data[3 * m + m - 1] = -1.0;  // step 3 drops its last row, and its L' with it
  io::write_npy(run / "batches.npy", b.shape, b.data);
  io::NpyArray d = io::read_npy(run / "output_derivatives.npy");
  d.data[3 * m + m - 1] = 0.0;
  io::write_npy(run / "output_derivatives.npy", d.shape, d.data);
  const TrajectoryReader reader(run);
  StepRecord s;
  PK_EXPECT_THROW_WITH(reader.read_step(3, s), NpyError, "step 3: the batch of 23 rows is not the one");
  // A mini-batch run whose batch is another valid-looking set of rows.
  const auto mini = record(dir / "mini", {.steps = 6, .batches = {.batch_size = 5, .seed = 2}});
  io::NpyArray mb = io::read_npy(mini / "batches.npy");
  mb.data[4 * 5] = mb.data[4 * 5] == 0.0 ? 1.0 : 0.0;
  std::sort(mb.data.begin() + 20, mb.data.begin() + 25);
  io::write_npy(mini / "batches.npy", mb.shape, mb.data);
  const TrajectoryReader mini_reader(mini);
  EXPECT_THROW(mini_reader.read_step(4, s), NpyError);
}

TEST(RunDirectory, NonFiniteNumbersAreRefusedNamingFileRowAndColumn) {
  const ScratchDir dir;
  const auto run = record(dir / "run");
  io::NpyArray w = io::read_npy(run / "weights.npy");
  const auto d = static_cast<std::size_t>(w.shape[1]);
  w.data[4 * d + 3] = std::numeric_limits<double>::infinity();
  io::write_npy(run / "weights.npy", w.shape, w.data);
  const TrajectoryReader reader(run);
  StepRecord s;
  reader.read_step(2, s);
  PK_EXPECT_THROW_WITH(reader.read_step(3, s), NpyError, "weights.npy: row 4, column 3 is infinite");
  w.data[4 * d + 3] = 0.0;
  w.data[1] = std::nan("");
  io::write_npy(run / "weights.npy", w.shape, w.data);
  PK_EXPECT_THROW_WITH(TrajectoryReader{run}, NpyError, "weights.npy: row 0, column 1 is NaN");
  const auto other = record(dir / "inputs");
  io::NpyArray x = io::read_npy(other / "training_inputs.npy");
  x.data[5] = -std::numeric_limits<double>::infinity();
  io::write_npy(other / "training_inputs.npy", x.shape, x.data);
  PK_EXPECT_THROW_WITH(TrajectoryReader{other}, NpyError, "training_inputs.npy: row 2, column 1 is infinite");
}

TEST(RunDirectory, ExtraRowsInAFinishedRunAreRefused) {
  const ScratchDir dir;
  const auto run = record(dir / "run");
  io::NpyArray r = io::read_npy(run / "losses.npy");
  r.data.push_back(r.data.back());
  r.shape[0] += 1;
  io::write_npy(run / "losses.npy", r.shape, r.data);
  PK_EXPECT_THROW_WITH(TrajectoryReader{run}, NpyError,
                       "losses.npy: holds 7 rows, but run.json says the run completed after 6 steps");
}

TEST(RunDirectory, AUsersModelIsReadWhenTheReaderIsGivenIt) {
  const ScratchDir dir;
  Dataset data = sine_regression(10, 3);
  const Model base = mlp("1-4-1", "tanh");
  const Model custom("custom", 1, 1, base.layout(),
                     [base](ad::Var x, ad::Var w) { return base.forward(x, w); });
  Trainer trainer(custom, Loss(LossKind::mse), data, {.steps = 3});
  DiskTrajectoryRecorder disk(dir / "run");
  trainer.add_observer(disk);
  trainer.run(initialise(custom.layout(), InitScheme::pytorch_default, 3));
  PK_EXPECT_THROW_WITH(TrajectoryReader{dir / "run"}, io::JsonError, "give the reader that model");
  EXPECT_EQ(TrajectoryReader(dir / "run", custom).steps(), 3);
  PK_EXPECT_THROW_WITH(TrajectoryReader(dir / "run", mlp("1-5-1", "tanh")), io::JsonError,
                       "is not the run's");
}

}  // namespace
}  // namespace pk::nn
