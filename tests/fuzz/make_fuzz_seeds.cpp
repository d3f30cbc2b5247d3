// Writes the seed corpora of the fuzz targets: `make_fuzz_seeds DIR` fills DIR/csv, DIR/npy,
// DIR/run_json and DIR/run_directory. The run directories are real ones, recorded by
// DiskTrajectoryRecorder from small runs that between them use every loss, optimiser, schedule
// kind and batch setting, so the fuzzer starts past run.json's consistency checks and the replay;
// one is cut short the way a killed trainer leaves it. Regenerate after a change of the formats.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "io/npy.hpp"
#include "nn/init.hpp"
#include "nn/mlp.hpp"
#include "nn/synthetic.hpp"
#include "nn/trajectory.hpp"
#include "tests/fuzz/fuzz_support.hpp"

namespace {

namespace fs = std::filesystem;
using namespace pk::nn;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void put(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  pk::fuzz::write_bytes(p, bytes);
}

struct Run {
  std::string name;
  Dataset data;
  std::string widths, activation;
  LossKind loss;
  TrainingConfig config;
  bool standardize = false;
};

fs::path record(const fs::path& dir, Run run) {
  if (run.standardize) run.data = standardize_inputs(run.data, Standardization::fit(run.data.inputs()));
  run.data.set_source(run.name);
  const Model model = mlp(run.widths, run.activation);
  Trainer trainer(model, Loss(run.loss), run.data, run.config);
  DiskTrajectoryRecorder disk(dir);
  trainer.add_observer(disk);
  trainer.run(initialise(model.layout(), InitScheme::pytorch_default, 5));
  return dir;
}

std::string container(const fs::path& dir) {
  std::map<std::size_t, std::string> files;
  for (std::size_t i = 0; i < pk::fuzz::kRunFileCount; ++i)
    if (fs::exists(dir / pk::fuzz::kRunFiles[i])) files[i] = slurp(dir / pk::fuzz::kRunFiles[i]);
  return pk::fuzz::join_container(files);
}

// A .npy file of format version 2.0 or 3.0: the same header with a four-byte length.
std::string npy_version(const std::string& v1, char major) {
  std::string out = v1.substr(0, 6) + major + '\0';
  const std::size_t len =
      static_cast<unsigned char>(v1[8]) | (static_cast<std::size_t>(static_cast<unsigned char>(v1[9])) << 8);
  out += std::string{static_cast<char>(len & 0xff), static_cast<char>(len >> 8), '\0', '\0'};
  return out + v1.substr(10);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const fs::path out = argv[1];
  const fs::path work = pk::fuzz::scratch_dir();

  const std::vector<Run> runs = {
      {"moons_bce_gd", two_moons(8, 1, 0.1), "2-3-1", "tanh", LossKind::binary_cross_entropy, {.steps = 3}},
      {"sine_mse_momentum_cosine",
       sine_regression(6, 2, 0.05),
       "1-4-1",
       "relu",
       LossKind::mse,
       {.steps = 3,
        .schedule = Schedule::cosine(0.2, 3, 0.01),
        .optimizer = {.kind = OptimizerKind::momentum, .momentum = 0.8},
        .batches = {.batch_size = 4, .seed = 3}},
       true},
      {"spirals_softmax_adam_warmup",
       spirals(9, 3, 0.02, 3),
       "2-4-3",
       "gelu",
       LossKind::softmax_cross_entropy,
       {.steps = 4,
        .schedule = Schedule::linear_warmup(2, Schedule::step(0.1, 2, 0.5)),
        .optimizer = {.kind = OptimizerKind::adam},
        .batches = {.batch_size = 5, .seed = 7, .drop_last = true}}},
      {"xor_mse_explicit",
       xor_problem(8, 4, 0.1),
       "2-2-2-1",
       "sigmoid",
       LossKind::mse,
       {.steps = 3, .schedule = Schedule::explicit_steps({0.3, 0.2, 0.1}), .batches = {.batch_size = 8}}},
      {"sine_mse_exponential",
       sine_regression(5, 6),
       "1-1",
       "identity",
       LossKind::mse,
       {.steps = 2, .schedule = Schedule::exponential(0.1, 0.9)}},
  };
  for (const Run& run : runs) {
    const fs::path dir = record(work / run.name, run);
    put(out / "run_directory" / run.name, container(dir));
    put(out / "run_json" / run.name, slurp(dir / "run.json"));
    for (const char* npy : {"weights.npy", "batches.npy", "output_derivatives.npy", "learning_rates.npy"})
      put(out / "npy" / (run.name + "_" + npy), slurp(dir / npy));
  }

  // A run still going when its trainer died: run.json says "running", weights.npy ends in half a row.
  {
    const fs::path dir = work / runs[0].name;
    std::string json = slurp(dir / "run.json");
    json.replace(json.find("\"completed\""), 11, "\"running\"");
    pk::fuzz::write_bytes(dir / "run.json", json);
    std::string weights = slurp(dir / "weights.npy");
    weights += weights.substr(weights.size() - 8 * 4);
    pk::fuzz::write_bytes(dir / "weights.npy", weights);
    put(out / "run_directory" / "moons_interrupted", container(dir));
    put(out / "run_json" / "moons_running", json);
    put(out / "npy" / "partial_row.npy", weights);
  }

  // .npy shapes and versions the runs do not write.
  pk::io::write_npy(work / "scalar.npy", std::vector<std::int64_t>{}, std::vector<double>{2.5});
  pk::io::write_npy(work / "empty.npy", std::vector<std::int64_t>{0, 3}, std::vector<double>{});
  pk::io::write_npy(work / "rank3.npy", std::vector<std::int64_t>{1, 2, 2}, std::vector<double>{1, 2, 3, 4});
  for (const char* name : {"scalar.npy", "empty.npy", "rank3.npy"})
    put(out / "npy" / name, slurp(work / name));
  const std::string v1 = slurp(work / "rank3.npy");
  put(out / "npy" / "version2.npy", npy_version(v1, '\x02'));
  put(out / "npy" / "version3.npy", npy_version(v1, '\x03'));

  // CSV: the first byte is the target's option byte (header mode, delimiter, target columns).
  const std::map<std::string, std::string> csv = {
      {"header_last_target", std::string(1, '\x00') + "x0,x1,y\n1,2,3\n4.5,-6e2,0\n"},
      {"crlf_bom_quoted", std::string(1, '\x04') + "\xEF\xBB\xBF\"x\";\"y\"\r\n 1 ;\"2\"\r\n3;4\r\n\r\n"},
      {"absent_tab", std::string(1, '\x1a') + "1\t2\t3\n4\t5\t6\n"},
      {"named_targets", std::string(1, '\x61') + "a,b,c\n1,2,3\n"},
      {"label_column", std::string(1, '\x31') + "x0,\"x\"\"1\",label\n0.5,+1.25,1\n-0.5,1e-3,0\n"},
      {"space_delimited", std::string(1, '\x0e') + "1 2\n3 4\n"},
      {"nonfinite", std::string(1, '\x00') + "x,y\n1,nan\n"},
  };
  for (const auto& [name, bytes] : csv) put(out / "csv" / name, bytes);
  return 0;
}
