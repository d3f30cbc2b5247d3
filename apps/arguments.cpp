#include "apps/arguments.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace pk::app {

namespace {
// "--name", built by appending: GCC 12 at -O3 warns falsely (-Wrestrict) on "--" + name.
std::string dashed(const std::string& name) {
  std::string s = "--";
  s += name;
  return s;
}
}  // namespace

Options::Options(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {
  flag("help", "show this help");
}

void Options::value(std::string name, std::string metavar, std::string help,
                    std::optional<std::string> default_value, bool required) {
  order_.push_back(name);
  specs_[std::move(name)] = {std::move(metavar), std::move(help), std::move(default_value), true, required};
}

void Options::flag(std::string name, std::string help) {
  order_.push_back(name);
  specs_[std::move(name)] = {"", std::move(help), std::nullopt, false, false};
}

bool Options::parse(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h") {
      help_ = true;
      continue;
    }
    if (a.rfind("--", 0) != 0)
      throw UsageError(command_ + ": unexpected argument '" + a + "' (options start with --; see --help)");
    std::string name = a.substr(2), value;
    const auto eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const auto it = specs_.find(name);
    if (it == specs_.end()) throw UsageError(command_ + ": unknown option --" + name + " (see --help)");
    if (!it->second.takes_value) {
      if (inline_value) throw UsageError(command_ + ": " + dashed(name) + " takes no value");
      values_.insert_or_assign(name, std::string(1, '1'));  // GCC 12 -Wrestrict misfires on = "1"
      if (name == "help") help_ = true;
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size())
        throw UsageError(command_ + ": " + dashed(name) + " needs a value (" + it->second.metavar + ")");
      value = args[++i];
    }
    if (values_.count(name)) throw UsageError(command_ + ": " + dashed(name) + " given twice");
    values_[name] = value;
  }
  if (help_) {
    std::fputs(help().c_str(), stdout);
    return false;
  }
  for (const auto& [name, spec] : specs_)
    if (spec.required && !values_.count(name))
      throw UsageError(command_ + ": " + dashed(name) + " " + spec.metavar + " is required (see --help)");
  return true;
}

std::string Options::help() const {
  std::ostringstream out;
  out << "usage: pathkernel " << command_ << " [options]\n\n" << summary_ << "\n\noptions:\n";
  for (const std::string& name : order_) {
    const Spec& s = specs_.at(name);
    std::string head =
        std::string(name == "help" ? "  -h, " : "  ") + dashed(name) + (s.takes_value ? " " + s.metavar : "");
    out << head;
    out << std::string(head.size() < 30 ? 30 - head.size() : 1, ' ') << s.help;
    if (s.required) out << " (required)";
    if (s.default_value && !s.default_value->empty()) out << " [default: " << *s.default_value << "]";
    out << '\n';
  }
  return out.str();
}

bool Options::given(const std::string& name) const { return values_.count(name) > 0; }

bool Options::flag_set(const std::string& name) const { return values_.count(name) > 0; }

std::string Options::text(const std::string& name) const {
  if (const auto it = values_.find(name); it != values_.end()) return it->second;
  const Spec& s = specs_.at(name);
  if (s.default_value) return *s.default_value;
  throw UsageError(command_ + ": " + dashed(name) + " is required");
}

double parse_number(const std::string& text, const std::string& what) {
  double v = 0.0;
  const char* end = text.data() + text.size();
  const auto res = std::from_chars(text.data(), end, v);
  if (text.empty() || res.ec != std::errc() || res.ptr != end || !std::isfinite(v))
    throw UsageError(what + ": '" + text + "' is not a finite number");
  return v;
}

double Options::number(const std::string& name) const { return parse_number(text(name), dashed(name)); }

double Options::positive(const std::string& name) const {
  const double v = number(name);
  if (!(v > 0)) throw UsageError(dashed(name) + ": must be positive, got " + text(name));
  return v;
}

std::int64_t Options::integer(const std::string& name, std::int64_t minimum, std::int64_t maximum) const {
  const std::string t = text(name);
  std::int64_t v = 0;
  const auto res = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || res.ec != std::errc() || res.ptr != t.data() + t.size())
    throw UsageError(dashed(name) + ": '" + t + "' is not a whole number");
  if (v < minimum)
    throw UsageError(dashed(name) + ": must be at least " + std::to_string(minimum) + ", got " + t);
  if (v > maximum)
    throw UsageError(dashed(name) + ": must be at most " + std::to_string(maximum) + ", got " + t);
  return v;
}

}  // namespace pk::app
