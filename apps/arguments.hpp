#pragma once
// Command-line options of one subcommand: declared with their help, parsed strictly.

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace pk::app {

/// A problem with the command line or the user's input: the command prints one line and exits
/// with status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The options a subcommand accepts, then the values given. Usage:
///   Options o("decompose", "Decomposes a recorded run.");
///   o.value("run", "DIR", "the run directory", /*required=*/true);
///   o.flag("quiet", "no progress");
///   if (!o.parse(args)) return 0;   // --help was printed
class Options {
 public:
  Options(std::string command, std::string summary);
  /// An option taking a value (--name VALUE or --name=VALUE).
  void value(std::string name, std::string metavar, std::string help,
             std::optional<std::string> default_value = std::nullopt, bool required = false);
  /// An option without a value.
  void flag(std::string name, std::string help);

  /// Parses the arguments; with --help or -h it prints the help to stdout and returns false (the
  /// command then has nothing more to do). Throws UsageError on an unknown or malformed option.
  bool parse(const std::vector<std::string>& args);
  std::string help() const;

  bool given(const std::string& name) const;
  bool flag_set(const std::string& name) const;
  /// The value (or its default); throws UsageError when missing.
  std::string text(const std::string& name) const;
  /// A finite number; throws UsageError naming the option otherwise.
  double number(const std::string& name) const;
  /// A positive number.
  double positive(const std::string& name) const;
  /// A whole number in [minimum, maximum]; the default maximum (2^40) keeps any product of two
  /// sizes from overflowing before the memory estimate refuses it.
  std::int64_t integer(const std::string& name, std::int64_t minimum = 0,
                       std::int64_t maximum = std::int64_t{1} << 40) const;

 private:
  struct Spec {
    std::string metavar, help;
    std::optional<std::string> default_value;
    bool takes_value = true, required = false;
  };
  std::string command_, summary_;
  std::vector<std::string> order_;
  std::map<std::string, Spec> specs_;
  std::map<std::string, std::string> values_;
  bool help_ = false;
};

/// Parses a whole decimal number strictly (no trailing characters).
double parse_number(const std::string& text, const std::string& what);

}  // namespace pk::app
