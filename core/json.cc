#include "core/json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace maskgrpo {
namespace {

constexpr int kMaxDepth = 64;  // bounds recursion on hostile input

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  StatusOr<Json> ParseDocument() {
    Json value;
    RETURN_IF_ERROR(ParseValue(&value, 0));
    SkipSpace();
    if (pos_ != s_.size()) return Error("trailing characters");
    return value;
  }

 private:
  Status Error(const std::string& what) const {
    return InvalidArgument("JSON parse error at offset " + std::to_string(pos_) + ": " + what);
  }
  void SkipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
  }
  bool Consume(const char* word) {
    size_t n = std::char_traits<char>::length(word);
    if (s_.compare(pos_, n, word) == 0) { pos_ += n; return true; }
    return false;
  }

  Status ParseValue(Json* out, int depth) {
    if (depth > kMaxDepth) return Error("nesting too deep");
    SkipSpace();
    if (pos_ >= s_.size()) return Error("unexpected end");
    char c = s_[pos_];
    if (c == '{') return ParseObject(out, depth);
    if (c == '[') return ParseArray(out, depth);
    if (c == '"') {
      std::string str;
      RETURN_IF_ERROR(ParseString(&str));
      *out = Json(std::move(str));
      return Status::Ok();
    }
    if (Consume("true")) { *out = Json(true); return Status::Ok(); }
    if (Consume("false")) { *out = Json(false); return Status::Ok(); }
    if (Consume("null")) { *out = Json(); return Status::Ok(); }
    return ParseNumber(out);
  }

  Status ParseNumber(Json* out) {
    size_t start = pos_;
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    while (pos_ < s_.size() && (isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.' ||
                                s_[pos_] == 'e' || s_[pos_] == 'E' || s_[pos_] == '+' || s_[pos_] == '-')) {
      ++pos_;
    }
    if (start == pos_ || (pos_ == start + 1 && s_[start] == '-')) return Error("invalid value");
    std::string token = s_.substr(start, pos_ - start);
    char* end = nullptr;
    double d = std::strtod(token.c_str(), &end);
    if (end != token.c_str() + token.size()) return Error("invalid number '" + token + "'");
    *out = Json(d);
    return Status::Ok();
  }

  Status ParseString(std::string* out) {
    ++pos_;  // opening quote
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return Status::Ok();
      if (static_cast<unsigned char>(c) < 0x20) return Error("control character in string");
      if (c != '\\') { out->push_back(c); continue; }
      if (pos_ >= s_.size()) break;
      char e = s_[pos_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          unsigned code = 0;
          RETURN_IF_ERROR(ParseHex4(&code));
          // JSON writes code points above the BMP as a UTF-16 surrogate pair (vocab.json files
          // do); a lone surrogate has no UTF-8 encoding, so it is an error, not a guess.
          if (code >= 0xDC00 && code <= 0xDFFF) return Error("lone low surrogate \\u escape");
          if (code >= 0xD800 && code <= 0xDBFF) {
            if (s_.compare(pos_, 2, "\\u") != 0) return Error("high surrogate \\u escape without its low half");
            pos_ += 2;
            unsigned low = 0;
            RETURN_IF_ERROR(ParseHex4(&low));
            if (low < 0xDC00 || low > 0xDFFF) return Error("high surrogate \\u escape without its low half");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(code, out);
          break;
        }
        default: return Error("bad escape");
      }
    }
    return Error("unterminated string");
  }

  // Reads exactly four hex digits (strtoul alone would accept "12zz" or a sign).
  Status ParseHex4(unsigned* code) {
    if (pos_ + 4 > s_.size()) return Error("short \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      char h = s_[pos_ + k];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= static_cast<unsigned>(h - '0');
      else if (h >= 'a' && h <= 'f') v |= static_cast<unsigned>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') v |= static_cast<unsigned>(h - 'A' + 10);
      else return Error("bad hex digit in \\u escape");
    }
    pos_ += 4;
    *code = v;
    return Status::Ok();
  }

  static void AppendUtf8(unsigned code, std::string* out) {
    if (code < 0x80) {
      out->push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (code >> 6)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (code >> 12)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (code >> 18)));
      out->push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
  }

  Status ParseArray(Json* out, int depth) {
    ++pos_;
    Json::Array items;
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; *out = Json(std::move(items)); return Status::Ok(); }
    while (true) {
      Json item;
      RETURN_IF_ERROR(ParseValue(&item, depth + 1));
      items.push_back(std::move(item));
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
      if (pos_ < s_.size() && s_[pos_] == ']') { ++pos_; break; }
      return Error("expected ',' or ']'");
    }
    *out = Json(std::move(items));
    return Status::Ok();
  }

  Status ParseObject(Json* out, int depth) {
    ++pos_;
    Json::Object members;
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; *out = Json(std::move(members)); return Status::Ok(); }
    while (true) {
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != '"') return Error("expected object key");
      std::string key;
      RETURN_IF_ERROR(ParseString(&key));
      SkipSpace();
      if (pos_ >= s_.size() || s_[pos_] != ':') return Error("expected ':'");
      ++pos_;
      Json value;
      RETURN_IF_ERROR(ParseValue(&value, depth + 1));
      if (members.count(key)) return Error("duplicate key '" + key + "'");
      members.emplace(std::move(key), std::move(value));
      SkipSpace();
      if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
      if (pos_ < s_.size() && s_[pos_] == '}') { ++pos_; break; }
      return Error("expected ',' or '}'");
    }
    *out = Json(std::move(members));
    return Status::Ok();
  }

  const std::string& s_;
  size_t pos_ = 0;
};

void EscapeTo(const std::string& s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      case '\t': *out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          *out += buf;
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

}  // namespace

StatusOr<Json> Json::Parse(const std::string& text) { return Parser(text).ParseDocument(); }

Json& Json::operator[](const std::string& key) {
  if (type_ == Type::kNull) type_ = Type::kObject;
  return object_[key];
}

const Json* Json::Find(const std::string& key) const {
  if (type_ != Type::kObject) return nullptr;
  auto it = object_.find(key);
  return it == object_.end() ? nullptr : &it->second;
}

std::string Json::Dump(int indent) const {
  std::string out;
  DumpTo(&out, indent, 0);
  return out;
}

void Json::DumpTo(std::string* out, int indent, int depth) const {
  auto newline = [&](int d) {
    if (indent < 0) return;
    out->push_back('\n');
    out->append(static_cast<size_t>(indent * d), ' ');
  };
  switch (type_) {
    case Type::kNull: *out += "null"; break;
    case Type::kBool: *out += bool_ ? "true" : "false"; break;
    case Type::kNumber: {
      if (!std::isfinite(number_)) { *out += "null"; break; }  // JSON has no NaN/Inf
      char buf[32];
      if (number_ == std::floor(number_) && std::fabs(number_) < 1e15) {
        std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(number_));
      } else {
        // The shortest of 15 or 17 significant digits that reads back as the same double
        // (found by fuzzing: "%.6g" lost digits, so a dump did not survive a reload).
        std::snprintf(buf, sizeof(buf), "%.15g", number_);
        if (std::strtod(buf, nullptr) != number_) std::snprintf(buf, sizeof(buf), "%.17g", number_);
      }
      *out += buf;
      break;
    }
    case Type::kString: EscapeTo(string_, out); break;
    case Type::kArray: {
      out->push_back('[');
      for (size_t i = 0; i < array_.size(); ++i) {
        if (i) out->push_back(',');
        newline(depth + 1);
        array_[i].DumpTo(out, indent, depth + 1);
      }
      if (!array_.empty()) newline(depth);
      out->push_back(']');
      break;
    }
    case Type::kObject: {
      out->push_back('{');
      bool first = true;
      for (const auto& [k, v] : object_) {
        if (!first) out->push_back(',');
        first = false;
        newline(depth + 1);
        EscapeTo(k, out);
        out->push_back(':');
        if (indent >= 0) out->push_back(' ');
        v.DumpTo(out, indent, depth + 1);
      }
      if (!object_.empty()) newline(depth);
      out->push_back('}');
      break;
    }
  }
}

}  // namespace maskgrpo
