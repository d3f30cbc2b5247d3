#pragma once
// A small streaming JSON writer for reports: objects, arrays, strings, numbers (NaN and
// infinities as null, every double with enough digits to read back exactly), booleans.

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace pk::io {

/// Writes one JSON value to a stream, two-space indented. Misuse (a value where a key is due,
/// unbalanced ends) throws std::logic_error.
class JsonWriter {
 public:
  explicit JsonWriter(std::ostream& out) : out_(out) {}
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  /// The key of the next member of the enclosing object.
  JsonWriter& key(std::string_view k);
  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(double x);
  JsonWriter& value(std::int64_t x);
  JsonWriter& value(int x) { return value(static_cast<std::int64_t>(x)); }
  JsonWriter& value(bool b);
  JsonWriter& null();
  /// key(k).value(v)
  template <class T>
  JsonWriter& member(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }

 private:
  void before_value();
  void newline();
  void write_string(std::string_view s);
  std::ostream& out_;
  struct Level {
    bool object;
    bool empty = true;
    bool key_pending = false;
  };
  std::vector<Level> stack_;
};

}  // namespace pk::io
