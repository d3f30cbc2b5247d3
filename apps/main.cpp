// pathkernel: how far the path-kernel picture of gradient descent holds, measured.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <new>
#include <stdexcept>
#include <string>

#include "apps/arguments.hpp"
#include "apps/commands.hpp"
#include "apps/signals.hpp"
#include "kernel/report_writer.hpp"

namespace {
const char* kUsage =
    "usage: pathkernel [COMMAND] [options]\n"
    "\n"
    "Trains small networks by gradient descent and splits every step's change of a prediction into\n"
    "the first-order path-kernel term, the second-order term and the remainder.\n"
    "\n"
    "commands:\n"
    "  demo        the default study on built-in data (what `pathkernel` alone runs)\n"
    "  train       train a network on CSV or built-in data and record its trajectory\n"
    "  decompose   decompose a recorded run at query points into a report\n"
    "  merge       combine partial reports of ranges of steps into the whole run's report\n"
    "  sweep       the learning-rate study on your own data and network\n"
    "  kernel      the tangent kernel between two point sets at one step, to .npy\n"
    "  sharpness   the top Hessian eigenvalue of the training loss along a recorded run\n"
    "\n"
    "options:\n"
    "  -h, --help  this help\n"
    "  --version   the version\n"
    "\n"
    "`pathkernel COMMAND --help` (or -h) describes each command's options; options given without\n"
    "a command are the demo's.\n";
}  // namespace

int main(int argc, char** argv) {
  pk::app::stop_cleanly_on_signals();
  pk::app::Args args(argv + 1, argv + argc);
  std::string command = "demo";
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (!args.empty() && args[0] == "--version") {
    std::printf("pathkernel %s\n", pk::kernel::version());
    return 0;
  }
  if (!args.empty() && args[0].rfind('-', 0) != 0) {
    command = args[0];
    args.erase(args.begin());
  }
  try {
    if (command == "demo") return pk::app::demo_command(args);
    if (command == "train") return pk::app::train_command(args);
    if (command == "decompose") return pk::app::decompose_command(args);
    if (command == "merge") return pk::app::merge_command(args);
    if (command == "sweep") return pk::app::sweep_command(args);
    if (command == "kernel") return pk::app::kernel_command(args);
    if (command == "sharpness") return pk::app::sharpness_command(args);
    if (command == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::fprintf(stderr, "pathkernel: unknown command '%s' (see pathkernel --help)\n", command.c_str());
    return 2;
  } catch (const std::runtime_error& e) {
    // Usage errors, bad data, specs, .npy or CSV files, shapes, files that cannot be written:
    // each message names the problem and where it is.
    std::fprintf(stderr, "pathkernel %s: %s\n", command.c_str(), e.what());
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "pathkernel %s: %s\n", command.c_str(), e.what());
  } catch (const std::bad_alloc&) {
    // Sizes are estimated before the work starts; this is what is left when an estimate was short.
    std::fprintf(stderr,
                 "pathkernel %s: out of memory: the run is too large for this machine (reduce the sizes "
                 "or the number of query points)\n",
                 command.c_str());
  } catch (const std::length_error& e) {
    std::fprintf(stderr, "pathkernel %s: a size is too large: %s\n", command.c_str(), e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pathkernel %s: internal error: %s\n", command.c_str(), e.what());
    return 1;
  }
  return 2;
}
