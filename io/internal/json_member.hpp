#pragma once
// Not installed (io/internal/ is left out of the install): it includes nlohmann/json, which no
// installed header may, for the .cpp files that read run.json and part.json.
//
// A member of a parsed JSON document, read with its type checked first and named by its path
// ("model.layers[2].out") and file in every error. nlohmann's own conversions turn a number too
// large for the integer it is read into into undefined behaviour and a mistyped member into an
// exception that names neither; every read of a file the user may have edited goes through here.

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/error.hpp"

namespace pk::io {

using Json = nlohmann::ordered_json;

/// A member of a JSON document with its path and file, for checked reads. Holds references to
/// the document and the file name, which must outlive it.
class JsonMember {
 public:
  /// The document `j` of `file` (its root when `path` is empty).
  JsonMember(const std::string& file, const Json& j, std::string path = "")
      : file_(file), j_(j), path_(std::move(path)) {}

  /// Throws `JsonError` naming the file and this member: `"path" why`.
  [[noreturn]] void fail(const std::string& why) const {
    throw JsonError(file_, "\"" + (path_.empty() ? std::string("(document)") : path_) + "\" " + why);
  }
  bool has(const char* key) const { return j_.is_object() && j_.contains(key); }
  /// The member `key` of this object; an error when this is no object or has no such member.
  JsonMember operator[](const char* key) const {
    if (!j_.is_object()) fail("is not an object");
    const auto it = j_.find(key);
    if (it == j_.end()) throw JsonError(file_, "no \"" + child(key) + "\"");
    return {file_, *it, child(key)};
  }
  /// Element i of this array; an error when this is no array or i is past its end.
  JsonMember at(std::size_t i) const {
    if (i >= size()) fail("has no element " + std::to_string(i));
    return {file_, j_[i], path_ + "[" + std::to_string(i) + "]"};
  }
  /// The length of this array.
  std::size_t size() const {
    if (!j_.is_array()) fail("is not an array");
    return j_.size();
  }
  bool is_null() const { return j_.is_null(); }
  const Json& json() const { return j_; }

  std::string str() const {
    if (!j_.is_string()) fail("is not a string");
    return j_.get<std::string>();
  }
  bool boolean() const {
    if (!j_.is_boolean()) fail("is not true or false");
    return j_.get<bool>();
  }
  /// A finite number (an integer in the file reads as its double).
  double number() const {
    if (!j_.is_number()) fail("is not a number");
    const double v = j_.get<double>();
    if (!std::isfinite(v)) fail("is not finite");
    return v;
  }
  /// An integer within [lo, hi].
  std::int64_t integer(std::int64_t lo, std::int64_t hi) const {
    std::int64_t v = 0;
    if (j_.is_number_unsigned()) {
      const auto u = j_.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) fail("is out of range");
      v = static_cast<std::int64_t>(u);
    } else if (j_.is_number_integer()) {
      v = j_.get<std::int64_t>();
    } else {
      fail("is not an integer");
    }
    if (v < lo || v > hi)
      fail("is " + std::to_string(v) + ", outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return v;
  }
  std::uint64_t unsigned_integer() const {
    if (!j_.is_number_unsigned()) fail("is not a non-negative integer");
    return j_.get<std::uint64_t>();
  }
  /// The member read as T, checked by T: bool, an integer (within T's range), double or
  /// std::string.
  template <class T>
  T as() const {
    if constexpr (std::is_same_v<T, bool>) {
      return boolean();
    } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      return static_cast<T>(integer(std::numeric_limits<T>::min(), std::numeric_limits<T>::max()));
    } else if constexpr (std::is_integral_v<T>) {
      const std::uint64_t u = unsigned_integer();
      if (u > std::numeric_limits<T>::max()) fail("is out of range");
      return static_cast<T>(u);
    } else if constexpr (std::is_same_v<T, double>) {
      return number();
    } else {
      static_assert(std::is_same_v<T, std::string>, "JsonMember::as reads bool, integers, double, string");
      return str();
    }
  }
  /// out = member `key` read as out's type (see `as`).
  template <class T>
  void read(const char* key, T& out) const {
    out = (*this)[key].template as<T>();
  }
  std::vector<double> numbers() const {
    std::vector<double> v(size());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = at(i).number();
    return v;
  }
  std::vector<std::string> strings() const {
    std::vector<std::string> v(size());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = at(i).str();
    return v;
  }
  /// An array of integers, each within [lo, hi].
  std::vector<std::int64_t> integers(std::int64_t lo, std::int64_t hi) const {
    std::vector<std::int64_t> v(size());
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = at(i).integer(lo, hi);
    return v;
  }

 private:
  std::string child(const char* key) const { return path_.empty() ? key : path_ + "." + key; }
  const std::string& file_;
  const Json& j_;
  std::string path_;
};

}  // namespace pk::io
