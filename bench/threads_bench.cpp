// The speed-up of `--threads 2` over `--threads 1` for a decomposition with F2 at every step, as
// the command runs it: a 1-64-64-1 tanh network trained on 256 points of a sine for 2,000 steps
// (recorded on disk once), decomposed at 256 query points in pieces of 64 through decompose_stream
// into a ReportStream that writes steps.csv and the totals (sharpness every 10 steps, the
// command's default; no exact kernel, no attribution).
//
// Each iteration decomposes the run with one thread and then with two, back to back, so both see
// the same load on a shared machine; the counters are the two wall times and their ratio
// (speedup = seconds_1_thread / seconds_2_threads), the CPU seconds each used (all threads), and
// the reports' steps.csv must be the same bytes or the program aborts. PATHKERNEL_BENCH_STEPS shortens the
// run (default 2000).
//
//   threads_bench --benchmark_repetitions=3
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/resource.h>
#include <unistd.h>

#include "kernel/decomposition.hpp"
#include "kernel/report_stream.hpp"
#include "nn/nn.hpp"

namespace {

using pk::ad::Shape;
using pk::ad::Tensor;

constexpr std::int64_t kPoints = 256;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "threads_bench: check failed: %s\n", what.c_str());
  std::abort();
}

std::int64_t steps() {
  const char* text = std::getenv("PATHKERNEL_BENCH_STEPS");
  const long long n = text ? std::atoll(text) : 2000;
  return n > 0 ? n : 2000;
}

struct Recorded {
  std::filesystem::path dir;
  pk::nn::Model model = pk::nn::mlp("1-64-64-1", "tanh");
  Tensor queries;
};

const Recorded& recorded() {
  static const Recorded r = [] {
    Recorded run;
    run.dir =
        std::filesystem::temp_directory_path() / ("pathkernel_threads_bench_" + std::to_string(::getpid()));
    std::filesystem::remove_all(run.dir);
    std::filesystem::create_directories(run.dir);
    Tensor x(Shape::matrix(kPoints, 1)), y(Shape::matrix(kPoints, 1));
    for (std::int64_t i = 0; i < kPoints; ++i) {
      x[i] = -3.0 + 6.0 * static_cast<double>(i) / static_cast<double>(kPoints - 1);
      y[i] = std::sin(x[i]);
    }
    run.queries = x;
    pk::nn::TrainingConfig config{.steps = steps(), .schedule = pk::nn::Schedule::constant(0.05)};
    pk::nn::Trainer trainer(run.model, pk::nn::Loss(pk::nn::LossKind::mse), pk::nn::Dataset(x, y), config);
    pk::nn::DiskTrajectoryRecorder disk(run.dir / "run");
    trainer.add_observer(disk);
    const pk::nn::TrainingResult result =
        trainer.run(pk::nn::initialise(run.model.layout(), pk::nn::InitScheme::pytorch_default, 5));
    if (result.status != pk::nn::TrainingStatus::completed) fail("training: " + result.message);
    return run;
  }();
  return r;
}

// CPU seconds of every thread of the process so far (user and system).
double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec);
  };
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

struct Timing {
  double wall = 0.0, cpu = 0.0;
};

// Decomposes the recorded run with `threads` threads into `out`.
Timing decompose_into(const std::filesystem::path& out, int threads) {
  const Recorded& run = recorded();
  const pk::nn::TrajectoryReader reader(run.dir / "run");
  pk::kernel::DecompositionOptions o;
  o.second_order = pk::kernel::SecondOrderMode::every_step;
  o.exact_kernel = false;
  o.attribution = false;
  o.sharpness_every = 10;
  o.query_chunk = 64;
  o.threads = threads;
  std::filesystem::remove_all(out);
  std::filesystem::create_directories(out);
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = process_cpu_seconds();
  pk::kernel::ReportStream stream(out, reader.steps(), 0);
  const pk::kernel::DecompositionReport tail =
      pk::kernel::decompose_stream(run.model, reader, run.queries, o, 0, reader.steps(), stream.sink());
  pk::kernel::RunDescription d;
  d.include_timings = false;
  stream.finish(tail, d, pk::kernel::parse_attribution_format("none"));
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
          process_cpu_seconds() - cpu_start};
}

std::string text_of(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void BM_DecomposeThreads(benchmark::State& state) {
  const Recorded& run = recorded();
  double one = 0.0, two = 0.0, cpu_one = 0.0, cpu_two = 0.0;
  for (auto _ : state) {
    const Timing t1 = decompose_into(run.dir / "one", 1);
    const Timing t2 = decompose_into(run.dir / "two", 2);
    state.SetIterationTime(t1.wall + t2.wall);
    one += t1.wall;
    two += t2.wall;
    cpu_one += t1.cpu;
    cpu_two += t2.cpu;
    if (text_of(run.dir / "one" / "steps.csv") != text_of(run.dir / "two" / "steps.csv"))
      fail("steps.csv differs between one and two threads");
  }
  const auto n = static_cast<double>(state.iterations());
  state.counters["seconds_1_thread"] = one / n;
  state.counters["seconds_2_threads"] = two / n;
  state.counters["speedup"] = one / two;
  // The work each did (CPU seconds of all threads): on a loaded machine the wall times say little,
  // these say whether two threads add work (their ratio is 1 when they add none).
  state.counters["cpu_1_thread"] = cpu_one / n;
  state.counters["cpu_2_threads"] = cpu_two / n;
  state.counters["steps"] = static_cast<double>(steps());
}

BENCHMARK(BM_DecomposeThreads)
    ->Name("decompose/f2_every_step/1-64-64-1/256_queries/threads_1_vs_2")
    ->UseManualTime()
    ->Iterations(1)
    ->Unit(benchmark::kSecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::filesystem::remove_all(recorded().dir);
  return 0;
}
