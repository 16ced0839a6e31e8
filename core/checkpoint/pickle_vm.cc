#include "core/checkpoint/pickle_vm.h"

#include <cmath>
#include <cstdio>
#include <cstring>

namespace maskgrpo {
namespace {

// Caps on what a damaged or hostile pickle may make the VM hold.
constexpr size_t kMaxStack = 1u << 20;
constexpr size_t kMaxMarks = 1u << 16;
constexpr size_t kMaxMemo = 4u << 20;
constexpr int kHighestProtocol = 5;

std::string Hex(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", v & 0xFF);
  return buf;
}

// Appends a Unicode code point as UTF-8 (used by the text UNICODE opcode).
bool AppendUtf8(uint32_t cp, std::string* out) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return true;
}

// Key identity for dict lookups: Python treats 1, 1.0 and True as equal keys.
bool KeyIdentity(const PyObj* k, std::string* out) {
  switch (k->kind) {
    case PyObj::Kind::kStr: *out = "s" + k->s; return true;
    case PyObj::Kind::kBytes: *out = "b" + k->s; return true;
    case PyObj::Kind::kNone: *out = "n"; return true;
    case PyObj::Kind::kBool: *out = "i" + std::to_string(k->b ? 1 : 0); return true;
    case PyObj::Kind::kInt: *out = "i" + std::to_string(k->i); return true;
    case PyObj::Kind::kFloat:
      if (std::isfinite(k->f) && k->f == std::trunc(k->f) && std::fabs(k->f) < 9e18) {
        *out = "i" + std::to_string(static_cast<int64_t>(k->f));
      } else {
        char buf[40];
        std::snprintf(buf, sizeof buf, "f%.17g", k->f);
        *out = buf;
      }
      return true;
    default: return false;
  }
}

class Machine {
 public:
  Machine(std::string_view data, PickleHooks* hooks, PyArena* arena, const std::string& where)
      : data_(data), hooks_(hooks), arena_(arena), where_(where) {}

  StatusOr<PyObj*> Run();
  size_t position() const { return pos_; }

 private:
  Status Error(const std::string& what) const {
    return DataLoss("bad pickle in " + where_ + " at byte " + std::to_string(op_pos_) + ": " + what);
  }
  Status Need(uint64_t n) const {
    if (n > data_.size() - pos_) return Error("truncated (needs " + std::to_string(n) + " more bytes)");
    return Status::Ok();
  }
  uint64_t ReadLE(int n) {  // call Need first
    uint64_t v = 0;
    for (int k = 0; k < n; ++k) v |= static_cast<uint64_t>(static_cast<unsigned char>(data_[pos_ + k])) << (8 * k);
    pos_ += n;
    return v;
  }
  StatusOr<std::string> ReadBytes(uint64_t n) {
    RETURN_IF_ERROR(Need(n));
    std::string s(data_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  StatusOr<std::string> ReadLine() {
    size_t nl = data_.find('\n', pos_);
    if (nl == std::string_view::npos) return Error("truncated (unterminated text argument)");
    std::string s(data_.substr(pos_, nl - pos_));
    pos_ = nl + 1;
    return s;
  }
  StatusOr<PyObj*> New(PyObj::Kind kind) {
    PyObj* o = arena_->New(kind);
    if (!o) return Error("more than " + std::to_string(PyArena::kMaxObjects) + " objects");
    return o;
  }
  Status Push(PyObj* o) {
    if (stack_.size() >= kMaxStack) return Error("stack deeper than " + std::to_string(kMaxStack));
    stack_.push_back(o);
    return Status::Ok();
  }
  StatusOr<PyObj*> Pop() {
    if (stack_.size() <= Floor()) return Error("stack underflow");
    PyObj* o = stack_.back();
    stack_.pop_back();
    return o;
  }
  StatusOr<PyObj*> Top() {
    if (stack_.size() <= Floor()) return Error("stack underflow");
    return stack_.back();
  }
  // Objects below the innermost mark belong to an outer frame and cannot be popped
  // by an ordinary opcode.
  size_t Floor() const { return marks_.empty() ? 0 : marks_.back(); }
  StatusOr<std::vector<PyObj*>> PopMark() {
    if (marks_.empty()) return Error("no MARK on the stack");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PyObj*> items(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return items;
  }
  StatusOr<PyObj*> MakeString(PyObj::Kind kind, std::string s) {
    ASSIGN_OR_RETURN(PyObj* o, New(kind));
    o->s = std::move(s);
    return o;
  }
  StatusOr<PyObj*> MakeInt(int64_t v) {
    ASSIGN_OR_RETURN(PyObj* o, New(PyObj::Kind::kInt));
    o->i = v;
    return o;
  }
  StatusOr<PyObj*> MakeTuple(std::vector<PyObj*> items) {
    ASSIGN_OR_RETURN(PyObj* o, New(PyObj::Kind::kTuple));
    o->items = std::move(items);
    return o;
  }
  Status Memoize(uint64_t index) {
    if (memo_.size() >= kMaxMemo && !memo_.count(index)) {
      return Error("memo larger than " + std::to_string(kMaxMemo) + " entries");
    }
    ASSIGN_OR_RETURN(PyObj* top, Top());
    memo_[index] = top;
    return Status::Ok();
  }
  Status Get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) return Error("memo key " + std::to_string(index) + " was never stored");
    return Push(it->second);
  }
  StatusOr<int64_t> DecodeLong(const std::string& bytes) {
    if (bytes.empty()) return int64_t{0};
    if (bytes.size() > 8) {
      // Larger encodings are fine while they are sign extension.
      char ext = (bytes[7] & 0x80) ? '\xff' : '\0';
      for (size_t k = 8; k < bytes.size(); ++k) {
        if (bytes[k] != ext) return Error("integer does not fit in 64 bits");
      }
    }
    uint64_t v = 0;
    size_t n = std::min<size_t>(bytes.size(), 8);
    for (size_t k = 0; k < n; ++k) v |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[k])) << (8 * k);
    if (n < 8 && (bytes[n - 1] & 0x80)) v |= ~uint64_t{0} << (8 * n);  // sign-extend
    return static_cast<int64_t>(v);
  }
  Status AddGlobal(const std::string& module, const std::string& name) {
    RETURN_IF_ERROR(hooks_->CheckGlobal(module, name));
    ASSIGN_OR_RETURN(PyObj* g, MakeString(PyObj::Kind::kGlobal, module + " " + name));
    return Push(g);
  }
  Status Call(PyObj* callable, PyObj* args, const char* op) {
    if (callable->kind != PyObj::Kind::kGlobal) {
      return Error(std::string(op) + " on a " + KindName(callable->kind) + ", not a global");
    }
    if (args->kind != PyObj::Kind::kTuple) {
      return Error(std::string(op) + " with a " + KindName(args->kind) + " as arguments, not a tuple");
    }
    ASSIGN_OR_RETURN(PyObj* result, hooks_->Call(*arena_, callable, args));
    return Push(result);
  }
  Status Step(unsigned char op);

  std::string_view data_;
  PickleHooks* hooks_;
  PyArena* arena_;
  const std::string& where_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  bool stopped_ = false;
  std::vector<PyObj*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PyObj*> memo_;
};

StatusOr<PyObj*> Machine::Run() {
  while (!stopped_) {
    op_pos_ = pos_;
    if (pos_ >= data_.size()) return Error("truncated (no STOP opcode)");
    unsigned char op = static_cast<unsigned char>(data_[pos_++]);
    RETURN_IF_ERROR(Step(op));
  }
  if (!marks_.empty()) return Error("STOP inside an unclosed MARK");
  if (stack_.size() != 1) return Error("STOP with " + std::to_string(stack_.size()) + " objects on the stack, expected 1");
  return stack_.back();
}

Status Machine::Step(unsigned char op) {
  using K = PyObj::Kind;
  switch (op) {
    case 0x80: {  // PROTO
      RETURN_IF_ERROR(Need(1));
      uint64_t proto = ReadLE(1);
      if (proto > kHighestProtocol) return Error("unsupported pickle protocol " + std::to_string(proto));
      return Status::Ok();
    }
    case 0x95: {  // FRAME: a length prefix for buffering; the content follows inline.
      RETURN_IF_ERROR(Need(8));
      uint64_t len = ReadLE(8);
      if (len > data_.size() - pos_) return Error("FRAME of " + std::to_string(len) + " bytes runs past the end");
      return Status::Ok();
    }
    case '.': stopped_ = true; return Status::Ok();  // STOP
    case '(':  // MARK
      if (marks_.size() >= kMaxMarks) return Error("MARKs nested deeper than " + std::to_string(kMaxMarks));
      marks_.push_back(stack_.size());
      return Status::Ok();
    case '0':  // POP; at a mark boundary Python's POP discards the mark instead
      if (stack_.size() == Floor() && !marks_.empty()) {
        marks_.pop_back();
        return Status::Ok();
      }
      return Pop().status();
    case '1': return PopMark().status();  // POP_MARK
    case '2': {  // DUP
      ASSIGN_OR_RETURN(PyObj* top, Top());
      return Push(top);
    }
    case '}': { ASSIGN_OR_RETURN(PyObj* o, New(K::kDict)); return Push(o); }  // EMPTY_DICT
    case ']': { ASSIGN_OR_RETURN(PyObj* o, New(K::kList)); return Push(o); }  // EMPTY_LIST
    case ')': { ASSIGN_OR_RETURN(PyObj* o, MakeTuple({})); return Push(o); }  // EMPTY_TUPLE
    case 't': {  // TUPLE
      ASSIGN_OR_RETURN(auto items, PopMark());
      ASSIGN_OR_RETURN(PyObj* o, MakeTuple(std::move(items)));
      return Push(o);
    }
    case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
      size_t n = op - 0x84;
      if (stack_.size() < Floor() + n) return Error("stack underflow in TUPLE" + std::to_string(n));
      std::vector<PyObj*> items(stack_.end() - n, stack_.end());
      stack_.resize(stack_.size() - n);
      ASSIGN_OR_RETURN(PyObj* o, MakeTuple(std::move(items)));
      return Push(o);
    }
    case 'l': {  // LIST
      ASSIGN_OR_RETURN(auto items, PopMark());
      ASSIGN_OR_RETURN(PyObj* o, New(K::kList));
      o->items = std::move(items);
      return Push(o);
    }
    case 'd': {  // DICT
      ASSIGN_OR_RETURN(auto items, PopMark());
      if (items.size() % 2) return Error("DICT with an odd number of items");
      ASSIGN_OR_RETURN(PyObj* o, New(K::kDict));
      for (size_t k = 0; k < items.size(); k += 2) {
        Status st = DictSet(o, items[k], items[k + 1]);
        if (!st.ok()) return Error(st.message());
      }
      return Push(o);
    }
    case 'a': {  // APPEND
      ASSIGN_OR_RETURN(PyObj* v, Pop());
      ASSIGN_OR_RETURN(PyObj* list, Top());
      if (list->kind != K::kList) return Error(std::string("APPEND to a ") + KindName(list->kind));
      list->items.push_back(v);
      return Status::Ok();
    }
    case 'e': {  // APPENDS
      ASSIGN_OR_RETURN(auto items, PopMark());
      ASSIGN_OR_RETURN(PyObj* list, Top());
      if (list->kind != K::kList) return Error(std::string("APPENDS to a ") + KindName(list->kind));
      list->items.insert(list->items.end(), items.begin(), items.end());
      return Status::Ok();
    }
    case 's': {  // SETITEM
      ASSIGN_OR_RETURN(PyObj* v, Pop());
      ASSIGN_OR_RETURN(PyObj* k, Pop());
      ASSIGN_OR_RETURN(PyObj* dict, Top());
      if (dict->kind != K::kDict) return Error(std::string("SETITEM on a ") + KindName(dict->kind));
      Status st = DictSet(dict, k, v);
      return st.ok() ? st : Error(st.message());
    }
    case 'u': {  // SETITEMS
      ASSIGN_OR_RETURN(auto items, PopMark());
      if (items.size() % 2) return Error("SETITEMS with an odd number of items");
      ASSIGN_OR_RETURN(PyObj* dict, Top());
      if (dict->kind != K::kDict) return Error(std::string("SETITEMS on a ") + KindName(dict->kind));
      for (size_t k = 0; k < items.size(); k += 2) {
        Status st = DictSet(dict, items[k], items[k + 1]);
        if (!st.ok()) return Error(st.message());
      }
      return Status::Ok();
    }
    // Strings. Text is kept as the UTF-8 bytes Python wrote.
    case 'X': case 0x8c: case 0x8d:    // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
    case 'T': case 'U':                // BINSTRING, SHORT_BINSTRING (Python 2 str)
    case 'B': case 'C': case 0x8e: {   // BINBYTES, SHORT_BINBYTES, BINBYTES8
      int width = (op == 0x8c || op == 'U' || op == 'C') ? 1 : (op == 0x8d || op == 0x8e) ? 8 : 4;
      RETURN_IF_ERROR(Need(width));
      uint64_t len = ReadLE(width);
      if (op == 'T' && (len & 0x80000000u)) return Error("negative BINSTRING length");
      ASSIGN_OR_RETURN(std::string s, ReadBytes(len));
      bool bytes = op == 'B' || op == 'C' || op == 0x8e;
      ASSIGN_OR_RETURN(PyObj* o, MakeString(bytes ? K::kBytes : K::kStr, std::move(s)));
      return Push(o);
    }
    case 'V': {  // UNICODE: raw-unicode-escape text up to a newline
      ASSIGN_OR_RETURN(std::string raw, ReadLine());
      std::string s;
      for (size_t k = 0; k < raw.size(); ++k) {
        unsigned char c = static_cast<unsigned char>(raw[k]);
        if (c == '\\' && k + 1 < raw.size() && (raw[k + 1] == 'u' || raw[k + 1] == 'U')) {
          size_t digits = raw[k + 1] == 'u' ? 4 : 8;
          if (k + 2 + digits > raw.size()) return Error("truncated \\u escape in UNICODE");
          uint32_t cp = 0;
          for (size_t d = 0; d < digits; ++d) {
            char h = raw[k + 2 + d];
            int v = (h >= '0' && h <= '9') ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                    : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
            if (v < 0 || cp > 0x10FFFF) return Error("bad \\u escape in UNICODE");
            cp = cp * 16 + static_cast<uint32_t>(v);
          }
          if (!AppendUtf8(cp, &s)) return Error("bad code point in UNICODE");
          k += 1 + digits;
        } else {
          AppendUtf8(c, &s);  // other bytes are Latin-1 code points
        }
      }
      ASSIGN_OR_RETURN(PyObj* o, MakeString(K::kStr, std::move(s)));
      return Push(o);
    }
    // Numbers.
    case 'J': case 'K': case 'M': {  // BININT (signed 4), BININT1, BININT2 (unsigned)
      int width = op == 'J' ? 4 : op == 'K' ? 1 : 2;
      RETURN_IF_ERROR(Need(width));
      uint64_t v = ReadLE(width);
      int64_t i = op == 'J' ? static_cast<int64_t>(static_cast<int32_t>(static_cast<uint32_t>(v)))
                            : static_cast<int64_t>(v);
      ASSIGN_OR_RETURN(PyObj* o, MakeInt(i));
      return Push(o);
    }
    case 0x8a: case 0x8b: {  // LONG1, LONG4
      int width = op == 0x8a ? 1 : 4;
      RETURN_IF_ERROR(Need(width));
      uint64_t len = ReadLE(width);
      if (op == 0x8b && (len & 0x80000000u)) return Error("negative LONG4 length");
      ASSIGN_OR_RETURN(std::string bytes, ReadBytes(len));
      ASSIGN_OR_RETURN(int64_t i, DecodeLong(bytes));
      ASSIGN_OR_RETURN(PyObj* o, MakeInt(i));
      return Push(o);
    }
    case 'G': {  // BINFLOAT: big-endian IEEE double
      RETURN_IF_ERROR(Need(8));
      uint64_t bits = 0;
      for (int k = 0; k < 8; ++k) bits = (bits << 8) | static_cast<unsigned char>(data_[pos_ + k]);
      pos_ += 8;
      ASSIGN_OR_RETURN(PyObj* o, New(K::kFloat));
      std::memcpy(&o->f, &bits, sizeof bits);
      return Push(o);
    }
    case 'N': { ASSIGN_OR_RETURN(PyObj* o, New(K::kNone)); return Push(o); }  // NONE
    case 0x88: case 0x89: {  // NEWTRUE, NEWFALSE
      ASSIGN_OR_RETURN(PyObj* o, New(K::kBool));
      o->b = op == 0x88;
      return Push(o);
    }
    // Globals and calls: the hooks decide.
    case 'c': {  // GLOBAL "module\nname\n"
      ASSIGN_OR_RETURN(std::string module, ReadLine());
      ASSIGN_OR_RETURN(std::string name, ReadLine());
      return AddGlobal(module, name);
    }
    case 0x93: {  // STACK_GLOBAL
      ASSIGN_OR_RETURN(PyObj* name, Pop());
      ASSIGN_OR_RETURN(PyObj* module, Pop());
      if (name->kind != K::kStr || module->kind != K::kStr) return Error("STACK_GLOBAL with non-string names");
      return AddGlobal(module->s, name->s);
    }
    case 'R': {  // REDUCE: callable(*args)
      ASSIGN_OR_RETURN(PyObj* args, Pop());
      ASSIGN_OR_RETURN(PyObj* callable, Pop());
      return Call(callable, args, "REDUCE");
    }
    case 0x81: {  // NEWOBJ: cls.__new__(cls, *args), treated as a call of the class
      ASSIGN_OR_RETURN(PyObj* args, Pop());
      ASSIGN_OR_RETURN(PyObj* cls, Pop());
      return Call(cls, args, "NEWOBJ");
    }
    case 'b': {  // BUILD
      ASSIGN_OR_RETURN(PyObj* state, Pop());
      ASSIGN_OR_RETURN(PyObj* obj, Top());
      return hooks_->Build(obj, state);
    }
    case 'Q': {  // BINPERSID
      ASSIGN_OR_RETURN(PyObj* pid, Pop());
      ASSIGN_OR_RETURN(PyObj* obj, hooks_->PersistentLoad(*arena_, pid));
      return Push(obj);
    }
    // Memo.
    case 'q': RETURN_IF_ERROR(Need(1)); return Memoize(ReadLE(1));  // BINPUT
    case 'r': RETURN_IF_ERROR(Need(4)); return Memoize(ReadLE(4));  // LONG_BINPUT
    case 0x94: return Memoize(memo_.size());                        // MEMOIZE
    case 'h': RETURN_IF_ERROR(Need(1)); return Get(ReadLE(1));      // BINGET
    case 'j': RETURN_IF_ERROR(Need(4)); return Get(ReadLE(4));      // LONG_BINGET
    default:
      return Error("unsupported or unknown opcode " + Hex(op) +
                   " (torch.save checkpoints use a small subset of pickle)");
  }
}

}  // namespace

const char* KindName(PyObj::Kind kind) {
  switch (kind) {
    case PyObj::Kind::kNone: return "None";
    case PyObj::Kind::kBool: return "bool";
    case PyObj::Kind::kInt: return "int";
    case PyObj::Kind::kFloat: return "float";
    case PyObj::Kind::kStr: return "str";
    case PyObj::Kind::kBytes: return "bytes";
    case PyObj::Kind::kTuple: return "tuple";
    case PyObj::Kind::kList: return "list";
    case PyObj::Kind::kDict: return "dict";
    case PyObj::Kind::kGlobal: return "global";
    case PyObj::Kind::kStorage: return "storage";
    case PyObj::Kind::kTensor: return "tensor";
  }
  return "?";
}

PyObj* PyArena::New(PyObj::Kind kind) {
  if (objects_.size() >= kMaxObjects) return nullptr;
  return &objects_.emplace_back(kind);
}

Status DictSet(PyObj* dict, PyObj* key, PyObj* value) {
  std::string id;
  if (!KeyIdentity(key, &id)) {
    return InvalidArgument(std::string("unsupported dict key of type ") + KindName(key->kind));
  }
  auto [it, inserted] = dict->index.emplace(id, dict->dict.size());
  if (inserted) {
    dict->dict.emplace_back(key, value);
  } else {
    dict->dict[it->second].second = value;  // Python keeps the first key, takes the new value
  }
  return Status::Ok();
}

bool SimpleToString(const PyObj* obj, std::string* out) {
  switch (obj->kind) {
    case PyObj::Kind::kStr: *out = obj->s; return true;
    case PyObj::Kind::kNone: *out = "None"; return true;
    case PyObj::Kind::kBool: *out = obj->b ? "True" : "False"; return true;
    case PyObj::Kind::kInt: *out = std::to_string(obj->i); return true;
    case PyObj::Kind::kFloat: {
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.17g", obj->f);
      *out = buf;
      return true;
    }
    default: return false;
  }
}

StatusOr<PyObj*> Unpickle(std::string_view data, PickleHooks* hooks, PyArena* arena,
                          const std::string& where, size_t* consumed) {
  Machine machine(data, hooks, arena, where);
  auto result = machine.Run();
  if (consumed) *consumed = machine.position();
  return result;
}

}  // namespace maskgrpo
