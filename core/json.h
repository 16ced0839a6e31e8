// A small JSON value with a strict parser and a serializer.
//
// Used for the safetensors header, eval tables and metric logs. The core library keeps
// its dependencies to LibTorch alone, hence no third-party JSON library.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace maskgrpo {

class Json {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  using Array = std::vector<Json>;
  using Object = std::map<std::string, Json>;

  Json() = default;
  Json(bool b) : type_(Type::kBool), bool_(b) {}           // NOLINT
  Json(double d) : type_(Type::kNumber), number_(d) {}     // NOLINT
  Json(int i) : type_(Type::kNumber), number_(i) {}        // NOLINT
  Json(int64_t i) : type_(Type::kNumber), number_(static_cast<double>(i)) {}  // NOLINT
  Json(const char* s) : type_(Type::kString), string_(s) {}          // NOLINT
  Json(std::string s) : type_(Type::kString), string_(std::move(s)) {}  // NOLINT
  Json(Array a) : type_(Type::kArray), array_(std::move(a)) {}          // NOLINT
  Json(Object o) : type_(Type::kObject), object_(std::move(o)) {}       // NOLINT

  // Parses a complete JSON document; trailing garbage is an error.
  static StatusOr<Json> Parse(const std::string& text);
  // Compact serialization when indent < 0, pretty-printed otherwise.
  std::string Dump(int indent = -1) const;

  Type type() const { return type_; }
  bool is_object() const { return type_ == Type::kObject; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_bool() const { return type_ == Type::kBool; }

  bool as_bool() const { return bool_; }
  double as_number() const { return number_; }
  const std::string& as_string() const { return string_; }
  const Array& as_array() const { return array_; }
  const Object& as_object() const { return object_; }
  Array& mutable_array() { return array_; }
  Object& mutable_object() { return object_; }

  // Object access; operator[] converts a null value into an object.
  Json& operator[](const std::string& key);
  const Json* Find(const std::string& key) const;

 private:
  void DumpTo(std::string* out, int indent, int depth) const;

  Type type_ = Type::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  Array array_;
  Object object_;
};

}  // namespace maskgrpo
