#include "io/json_writer.hpp"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace pk::io {

void JsonWriter::newline() {
  out_ << '\n';
  for (std::size_t i = 0; i < stack_.size(); ++i) out_ << "  ";
}

void JsonWriter::before_value() {
  if (stack_.empty()) return;
  Level& top = stack_.back();
  if (top.object) {
    if (!top.key_pending) throw std::logic_error("JsonWriter: a value inside an object needs a key");
    top.key_pending = false;
    return;
  }
  if (!top.empty) out_ << ',';
  top.empty = false;
  newline();
}

JsonWriter& JsonWriter::key(std::string_view k) {
  if (stack_.empty() || !stack_.back().object || stack_.back().key_pending)
    throw std::logic_error("JsonWriter: a key outside an object");
  Level& top = stack_.back();
  if (!top.empty) out_ << ',';
  top.empty = false;
  newline();
  write_string(k);
  out_ << ": ";
  top.key_pending = true;
  return *this;
}

JsonWriter& JsonWriter::begin_object() {
  before_value();
  out_ << '{';
  stack_.push_back({true});
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  before_value();
  out_ << '[';
  stack_.push_back({false});
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  if (stack_.empty() || !stack_.back().object || stack_.back().key_pending)
    throw std::logic_error("JsonWriter: end_object without a matching begin");
  const bool empty = stack_.back().empty;
  stack_.pop_back();
  if (!empty) newline();
  out_ << '}';
  if (stack_.empty()) out_ << '\n';
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  if (stack_.empty() || stack_.back().object)
    throw std::logic_error("JsonWriter: end_array without a matching begin");
  const bool empty = stack_.back().empty;
  stack_.pop_back();
  if (!empty) newline();
  out_ << ']';
  if (stack_.empty()) out_ << '\n';
  return *this;
}

void JsonWriter::write_string(std::string_view s) {
  // The JSON library escapes, so that every string is valid JSON: control characters as \u00XX,
  // and bytes that are not UTF-8 (a file name in another encoding) replaced by U+FFFD.
  out_ << nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

JsonWriter& JsonWriter::value(std::string_view s) {
  before_value();
  write_string(s);
  return *this;
}

JsonWriter& JsonWriter::value(double x) {
  before_value();
  if (!std::isfinite(x)) {
    out_ << "null";  // JSON has no NaN or infinity
    return *this;
  }
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, x);  // shortest exact round trip
  out_.write(buf, res.ptr - buf);
  return *this;
}

JsonWriter& JsonWriter::value(std::int64_t x) {
  before_value();
  out_ << x;
  return *this;
}

JsonWriter& JsonWriter::value(bool b) {
  before_value();
  out_ << (b ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::null() {
  before_value();
  out_ << "null";
  return *this;
}

}  // namespace pk::io
