// A restricted pickle virtual machine: the opcode subset that torch.save emits.
//
// It builds a small object graph (None, bool, int, float, str, bytes, tuple, list, dict,
// and opaque "global" references). Everything that would run code in Python (GLOBAL,
// REDUCE, NEWOBJ, BUILD, BINPERSID) is delegated to PickleHooks, which decide what is
// allowed; so the VM itself never evaluates anything, like torch.load(weights_only=True).
// All reads are bounds-checked and the stack, memo and object count are capped, because
// checkpoints come from the internet and this code is fuzzed.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/status.h"

namespace maskgrpo {

struct PyObj {
  enum class Kind { kNone, kBool, kInt, kFloat, kStr, kBytes, kTuple, kList, kDict, kGlobal, kStorage, kTensor };
  explicit PyObj(Kind k) : kind(k) {}

  Kind kind;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;                                   // kStr/kBytes; kGlobal: "module name"
  std::vector<PyObj*> items;                       // kTuple/kList
  std::vector<std::pair<PyObj*, PyObj*>> dict;     // kDict, in insertion order
  std::unordered_map<std::string, size_t> index;   // kDict: key identity -> position
  at::Tensor tensor;                               // kStorage (1-D) / kTensor
};

const char* KindName(PyObj::Kind kind);

// Owns every object of one unpickling; pointers stay valid while it lives. Objects are
// never freed early, so reference cycles that a hostile pickle builds cannot leak.
class PyArena {
 public:
  // Objects past this count are refused (a bound on memory for damaged input).
  static constexpr size_t kMaxObjects = 4u << 20;
  PyObj* New(PyObj::Kind kind);  // nullptr when the cap is hit
  size_t size() const { return objects_.size(); }

 private:
  std::deque<PyObj> objects_;
};

class PickleHooks {
 public:
  virtual ~PickleHooks() = default;
  // GLOBAL / STACK_GLOBAL: an error for anything not on the allow-list.
  virtual Status CheckGlobal(const std::string& module, const std::string& name) = 0;
  // REDUCE and NEWOBJ: `callable` is a kGlobal object, `args` a kTuple.
  virtual StatusOr<PyObj*> Call(PyArena& arena, PyObj* callable, PyObj* args) = 0;
  // BINPERSID.
  virtual StatusOr<PyObj*> PersistentLoad(PyArena& arena, PyObj* pid) = 0;
  // BUILD (obj.__setstate__(state)); obj stays on the stack.
  virtual Status Build(PyObj* obj, PyObj* state) = 0;
};

// Runs the pickle in `data` up to STOP and returns the resulting object (owned by
// `arena`). `where` names the file in error messages. When `consumed` is set it receives
// the bytes read up to and including STOP (the legacy format concatenates pickles).
StatusOr<PyObj*> Unpickle(std::string_view data, PickleHooks* hooks, PyArena* arena,
                          const std::string& where, size_t* consumed = nullptr);

// Sets dict[key] = value, replacing an equal key (str/bytes/int/bool/None/float keys).
Status DictSet(PyObj* dict, PyObj* key, PyObj* value);
// Key text for naming: str as is, int/bool/None/float in Python's repr; false otherwise.
bool SimpleToString(const PyObj* obj, std::string* out);

}  // namespace maskgrpo
