#pragma once
// What the peer comparisons share: pinning OpenBLAS to one thread, and a console reporter that
// also keeps each benchmark's time so that a program can print, after the suite, how pathkernel's
// time compares to a peer's on the same problem, both measured in the same run.

#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace pk::bench {

/// Sets OpenBLAS, when it is the BLAS loaded in this process, to one thread and returns its
/// configuration and thread count as it reports them ("" when no OpenBLAS is loaded). OpenBLAS reads
/// OPENBLAS_NUM_THREADS before main runs, so only the call is certain to win over the environment; it is
/// looked up at run time because a peer may link the generic libblas.so.3, whichever implementation that is.
inline std::string pin_openblas_to_one_thread() {
  using SetThreads = void (*)(int);
  using GetThreads = int (*)();
  using GetConfig = char* (*)();
  const auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  const auto get = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  const auto config = reinterpret_cast<GetConfig>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  if (set == nullptr) return "";
  set(1);
  std::string what = config != nullptr ? std::string(config()) : std::string("OpenBLAS");
  if (get != nullptr) what += ", threads: " + std::to_string(get());
  return what;
}

/// The file of the library that `symbol` (e.g. "dgemm_") resolves to in this process, symbolic
/// links (Debian's BLAS alternatives) followed, or "" when none provides it: which BLAS a peer
/// really calls, whatever else is loaded beside it.
inline std::string provider_of(const char* symbol) {
  Dl_info info{};
  void* address = dlsym(RTLD_DEFAULT, symbol);
  if (address == nullptr || dladdr(address, &info) == 0 || info.dli_fname == nullptr) return "";
  char* real = realpath(info.dli_fname, nullptr);
  if (real == nullptr) return info.dli_fname;
  std::string file(real);
  std::free(real);
  return file;
}

/// The console reporter, keeping the CPU time per iteration of every benchmark by name: the median
/// over repetitions when there are several, else the single run's time. CPU time rather than
/// wall time because the comparisons are single-threaded and the machines they run on are shared:
/// time spent preempted is nobody's cost.
class TimeKeeper : public benchmark::ConsoleReporter {
 public:
  TimeKeeper() : benchmark::ConsoleReporter(OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    benchmark::ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.error_occurred) continue;
      const bool aggregate = r.run_type == Run::RT_Aggregate;
      if (aggregate ? r.aggregate_name != "median" : r.repetitions > 1) continue;
      seconds_[r.run_name.function_name] =
          r.GetAdjustedCPUTime() / benchmark::GetTimeUnitMultiplier(r.time_unit);
    }
  }

  /// Seconds per iteration of the benchmark registered as `name`, or a negative number when it
  /// did not run (filtered out).
  double seconds(const std::string& name) const {
    const auto it = seconds_.find(name);
    return it == seconds_.end() ? -1.0 : it->second;
  }

 private:
  std::map<std::string, double> seconds_;
};

/// One line of a ratio table: the benchmark timing pathkernel and those timing the peer's routes
/// to the same result, of which the fastest is compared.
struct RatioRow {
  std::string problem, op, ours;
  std::vector<std::string> peer;
};

inline std::string format_seconds(double s) {
  char buf[32];
  if (s < 1e-6)
    std::snprintf(buf, sizeof buf, "%.0f ns", s * 1e9);
  else if (s < 1e-3)
    std::snprintf(buf, sizeof buf, "%.1f us", s * 1e6);
  else if (s < 1.0)
    std::snprintf(buf, sizeof buf, "%.2f ms", s * 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.2f s", s);
  return buf;
}

/// Prints a Markdown table `| <problem_header> | op | pathkernel | <peer> | ratio |`, the ratio
/// being the peer's time over pathkernel's (above 1: pathkernel is faster). Rows whose pathkernel
/// benchmark or all of whose peer benchmarks did not run are left out.
inline void print_ratio_table(const TimeKeeper& times, const std::vector<RatioRow>& rows,
                              const char* problem_header, const char* peer) {
  std::string table;
  for (const RatioRow& row : rows) {
    const double ours = times.seconds(row.ours);
    double theirs = -1.0;
    for (const std::string& name : row.peer) {
      const double t = times.seconds(name);
      if (t > 0.0 && (theirs <= 0.0 || t < theirs)) theirs = t;
    }
    if (ours <= 0.0 || theirs <= 0.0) continue;
    char ratio[32];
    std::snprintf(ratio, sizeof ratio, "%.2fx", theirs / ours);
    table += "| " + row.problem + " | " + row.op + " | " + format_seconds(ours) + " | " +
             format_seconds(theirs) + " | " + ratio + " |\n";
  }
  if (table.empty()) return;
  std::printf("\nCPU time per call (median of the repetitions); ratio = %s / pathkernel\n\n", peer);
  std::printf("| %s | op | pathkernel | %s | ratio |\n|---|---|---:|---:|---:|\n%s", problem_header, peer,
              table.c_str());
  std::fflush(stdout);
}

}  // namespace pk::bench
