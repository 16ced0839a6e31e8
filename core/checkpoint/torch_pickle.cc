#include "core/checkpoint/torch_pickle.h"

#include "core/torch_api.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <new>
#include <vector>

#include "core/checkpoint/pickle_vm.h"
#include "core/checkpoint/zip_reader.h"

namespace maskgrpo {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "storages are read as raw little-endian bytes");

// data.pkl of a multi-GB checkpoint is ~100 KB; this bounds damaged input.
constexpr uint64_t kMaxPickleBytes = 1ull << 30;
constexpr size_t kMaxDims = 64;
constexpr int kMaxNesting = 64;
// Flattening visits a shared sub-object once per reference; a hostile pickle can build a
// DAG whose paths double per level, so the walk has a budget.
constexpr uint64_t kMaxVisits = 16u << 20;
// A view with more elements than its storage (stride 0, e.g. a saved expand()) is
// materialised by contiguous(); this caps what a few bytes of pickle can make us allocate.
constexpr uint64_t kMaxExpandedBytes = 1ull << 30;
// The legacy format's pickles precede its storages; read this much first, and up to
// kMaxPickleBytes only when the pickles turn out to be longer.
constexpr uint64_t kLegacyFirstRead = 64ull << 20;

// The first bytes of a legacy (pre-1.6) torch.save: PROTO 2, then LONG1 of the magic
// number 0x1950a86a20f9469cfc6c.
constexpr unsigned char kLegacyMagic[] = {0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                          0x20, 0x6a, 0xa8, 0x50, 0x19};

struct StorageType {
  const char* name;
  at::ScalarType dtype;
};
constexpr StorageType kStorageTypes[] = {
    {"DoubleStorage", at::kDouble}, {"FloatStorage", at::kFloat}, {"HalfStorage", at::kHalf},
    {"BFloat16Storage", at::kBFloat16}, {"LongStorage", at::kLong}, {"IntStorage", at::kInt},
    {"ShortStorage", at::kShort}, {"CharStorage", at::kChar}, {"ByteStorage", at::kByte},
    {"BoolStorage", at::kBool},
};

bool StorageDtype(const std::string& global, at::ScalarType* dtype) {
  for (const auto& t : kStorageTypes) {
    if (global == std::string("torch ") + t.name) {
      *dtype = t.dtype;
      return true;
    }
  }
  return false;
}

std::string Dotted(const std::string& global) {  // "module name" -> "module.name"
  std::string s = global;
  auto sp = s.find(' ');
  if (sp != std::string::npos) s[sp] = '.';
  return s;
}

// Bytes other than 0/1 in a bool tensor are undefined behaviour in later ops.
void NormaliseBool(at::Tensor& storage) {
  if (storage.scalar_type() == at::kBool) storage.view(at::kByte).clamp_max_(1);
}

// Reads n bytes at offset of a plain file (the legacy format's storage section).
Status ReadFileAt(std::FILE* f, uint64_t offset, void* dst, uint64_t n, const std::string& where) {
  if (n == 0) return Status::Ok();
  if (fseeko(f, static_cast<off_t>(offset), SEEK_SET) != 0 || std::fread(dst, 1, n, f) != n) {
    return DataLoss(where + " is truncated: " + std::to_string(n) + " bytes at offset " +
                    std::to_string(offset) + " cannot be read");
  }
  return Status::Ok();
}

// Implements the allowed globals. Zip format (zip != nullptr): a storage is read from
// its entry when first referenced. Legacy format: storages follow the pickles, so they
// are allocated here and filled by FillLegacyStorages afterwards; that is why tensors
// stay views until flattening.
class TorchHooks : public PickleHooks {
 public:
  TorchHooks(const ZipReader* zip, std::string prefix, bool verify_crc, const std::string& where,
             uint64_t file_size)
      : zip_(zip), prefix_(std::move(prefix)), verify_crc_(verify_crc), where_(where),
        file_size_(file_size) {}

  Status CheckGlobal(const std::string& module, const std::string& name) override {
    at::ScalarType unused;
    if ((module == "collections" && name == "OrderedDict") ||
        (module == "torch._utils" && (name == "_rebuild_tensor_v2" || name == "_rebuild_parameter")) ||
        StorageDtype(module + " " + name, &unused)) {
      return Status::Ok();
    }
    return InvalidArgument("unsupported global '" + module + "." + name + "' in " + where_ +
                           ": only state-dict contents (tensors, OrderedDict, numbers, strings) "
                           "are read, as with torch.load(weights_only=True)");
  }

  StatusOr<PyObj*> Call(PyArena& arena, PyObj* callable, PyObj* args) override {
    const std::string& g = callable->s;
    const auto& a = args->items;
    if (g == "collections OrderedDict") {
      if (!a.empty()) return Bad("OrderedDict called with arguments; only OrderedDict() is supported");
      return Alloc(arena, PyObj::Kind::kDict);
    }
    if (g == "torch._utils _rebuild_parameter") {
      if (a.size() < 1 || a[0]->kind != PyObj::Kind::kTensor) {
        return Bad("_rebuild_parameter expects a tensor as its first argument");
      }
      return a[0];
    }
    if (g == "torch._utils _rebuild_tensor_v2") return RebuildTensor(arena, a);
    return Bad("'" + Dotted(g) + "' cannot be called");
  }

  StatusOr<PyObj*> PersistentLoad(PyArena& arena, PyObj* pid) override {
    using K = PyObj::Kind;
    const auto& p = pid->items;
    // The legacy format adds a sixth item, view metadata, None since PyTorch 1.0.
    const size_t want_items = zip_ ? 5 : 6;
    if (pid->kind != K::kTuple || p.size() != want_items || p[0]->kind != K::kStr || p[0]->s != "storage" ||
        p[1]->kind != K::kGlobal || p[2]->kind != K::kStr || p[4]->kind != K::kInt) {
      return Bad("persistent id is not ('storage', <StorageType>, key, location, numel" +
                 std::string(zip_ ? ")" : ", view)"));
    }
    if (!zip_ && p[5]->kind != K::kNone) return Bad("storage views (PyTorch < 1.0 files) are not supported");
    at::ScalarType dtype;
    if (!StorageDtype(p[1]->s, &dtype)) return Bad("'" + Dotted(p[1]->s) + "' is not a storage type");
    const std::string& key = p[2]->s;
    const int64_t numel = p[4]->i;
    auto cached = storages_.find(key);
    if (cached != storages_.end()) {
      const at::Tensor& t = cached->second->tensor;
      if (t.scalar_type() != dtype || t.numel() != numel) {
        return Bad("storage '" + key + "' is referenced with two different types or sizes");
      }
      return cached->second;
    }
    if (numel < 0) return Bad("storage '" + key + "' has a negative size " + std::to_string(numel));
    if (!zip_) return NewLegacyStorage(arena, key, dtype, numel);
    const std::string entry_name = prefix_ + "/data/" + key;
    const ZipEntry* entry = zip_->Find(entry_name);
    if (!entry) return Bad("storage '" + key + "' (entry '" + entry_name + "') is missing from the archive");
    const uint64_t elem = c10::elementSize(dtype);
    uint64_t want = 0;
    const bool overflow = __builtin_mul_overflow(static_cast<uint64_t>(numel), elem, &want);
    if (overflow || want != entry->size) {
      return Bad("storage '" + key + "' has " + std::to_string(entry->size) + " bytes, but " +
                 std::to_string(numel) + " x " + c10::toString(dtype) + " needs " +
                 (overflow ? std::string("more than 2^64") : std::to_string(want)) +
                 " (truncated or damaged storage)");
    }
    at::Tensor t = at::empty({numel}, at::TensorOptions().dtype(dtype));
    RETURN_IF_ERROR(zip_->ReadEntry(*entry, t.data_ptr(), verify_crc_));
    NormaliseBool(t);
    ASSIGN_OR_RETURN(PyObj* obj, Alloc(arena, PyObj::Kind::kStorage));
    obj->tensor = t;
    obj->s = key;
    storages_[key] = obj;
    return obj;
  }

  // Legacy format: after the pickles come, for each key of the sorted key list, an int64
  // element count and the raw bytes. Every referenced storage must be filled.
  Status FillLegacyStorages(std::FILE* f, uint64_t offset, const PyObj* keys) {
    if (keys->kind != PyObj::Kind::kList) return Bad("the storage key list is not a list");
    std::map<std::string, bool> filled;
    for (const PyObj* k : keys->items) {
      if (k->kind != PyObj::Kind::kStr) return Bad("a storage key is not a string");
      auto it = storages_.find(k->s);
      if (it == storages_.end()) return Bad("storage '" + k->s + "' is listed but never used");
      if (filled[k->s]) return Bad("storage '" + k->s + "' is listed twice");
      at::Tensor& t = it->second->tensor;
      unsigned char head[8];
      RETURN_IF_ERROR(ReadFileAt(f, offset, head, 8, where_));
      int64_t numel = 0;
      std::memcpy(&numel, head, 8);
      if (numel != t.numel()) {
        return Bad("storage '" + k->s + "' holds " + std::to_string(numel) + " elements, its id says " +
                   std::to_string(t.numel()));
      }
      const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * t.element_size();
      RETURN_IF_ERROR(ReadFileAt(f, offset + 8, t.data_ptr(), nbytes, where_));
      NormaliseBool(t);
      offset += 8 + nbytes;
      filled[k->s] = true;
    }
    for (const auto& [key, obj] : storages_) {
      if (!filled[key]) return Bad("storage '" + key + "' has no data");
    }
    return Status::Ok();
  }

  Status Build(PyObj* obj, PyObj* state) override {
    // A state dict is an OrderedDict with a `_metadata` attribute (module versions);
    // it carries no tensors and is dropped.
    if (obj->kind == PyObj::Kind::kDict &&
        (state->kind == PyObj::Kind::kDict || state->kind == PyObj::Kind::kNone)) {
      return Status::Ok();
    }
    return Bad(std::string("BUILD (setting object state) on a ") + KindName(obj->kind) +
               " is not supported");
  }

 private:
  Status Bad(const std::string& what) const { return DataLoss(where_ + ": " + what); }

  StatusOr<PyObj*> Alloc(PyArena& arena, PyObj::Kind kind) {
    PyObj* o = arena.New(kind);
    if (!o) return Bad("too many objects in the pickle");
    return o;
  }

  Status IntTuple(const PyObj* t, const char* what, std::vector<int64_t>* out) const {
    if (t->kind != PyObj::Kind::kTuple) return Bad(std::string("tensor ") + what + " is not a tuple");
    if (t->items.size() > kMaxDims) return Bad(std::string("tensor ") + what + " has more than 64 dimensions");
    for (const PyObj* v : t->items) {
      if (v->kind != PyObj::Kind::kInt || v->i < 0) {
        return Bad(std::string("tensor ") + what + " holds a negative or non-integer value");
      }
      out->push_back(v->i);
    }
    return Status::Ok();
  }

  StatusOr<PyObj*> RebuildTensor(PyArena& arena, const std::vector<PyObj*>& a) {
    if (a.size() != 6 && a.size() != 7) {
      return Bad("_rebuild_tensor_v2 expects 6 or 7 arguments, got " + std::to_string(a.size()));
    }
    if (a[0]->kind != PyObj::Kind::kStorage) return Bad("_rebuild_tensor_v2 without a storage");
    if (a[1]->kind != PyObj::Kind::kInt || a[1]->i < 0) return Bad("tensor has a bad storage offset");
    const at::Tensor& storage = a[0]->tensor;
    const std::string& key = a[0]->s;
    const int64_t offset = a[1]->i;
    std::vector<int64_t> size, stride;
    RETURN_IF_ERROR(IntTuple(a[2], "size", &size));
    RETURN_IF_ERROR(IntTuple(a[3], "stride", &stride));
    if (size.size() != stride.size()) return Bad("tensor size and stride differ in length");
    // Bounds: the largest element index must lie inside the storage.
    int64_t numel = 1, last = offset;
    for (size_t d = 0; d < size.size(); ++d) {
      int64_t span;
      if (__builtin_mul_overflow(numel, size[d], &numel) ||
          (size[d] > 0 && (__builtin_mul_overflow(size[d] - 1, stride[d], &span) ||
                           __builtin_add_overflow(last, span, &last)))) {
        return Bad("tensor size/stride overflow 64-bit arithmetic");
      }
    }
    const int64_t storage_numel = storage.numel();
    if (numel > 0 ? last >= storage_numel : offset > storage_numel) {
      return Bad("tensor view (offset " + std::to_string(offset) + ", " + std::to_string(numel) +
                 " elements, last index " + std::to_string(last) + ") lies outside storage '" +
                 key + "' of " + std::to_string(storage_numel) + " elements");
    }
    if (numel > storage_numel &&
        static_cast<uint64_t>(numel) > kMaxExpandedBytes / storage.element_size()) {
      return Bad("tensor of " + std::to_string(numel) + " elements repeats storage '" + key +
                 "' of " + std::to_string(storage_numel) + " (stride 0) beyond the " +
                 std::to_string(kMaxExpandedBytes) + "-byte limit");
    }
    ASSIGN_OR_RETURN(PyObj* obj, Alloc(arena, PyObj::Kind::kTensor));
    obj->tensor = storage.as_strided(size, stride, offset);  // made contiguous when flattened
    return obj;
  }

  StatusOr<PyObj*> NewLegacyStorage(PyArena& arena, const std::string& key, at::ScalarType dtype,
                                    int64_t numel) {
    // The data is not there yet; its size can at least not exceed the file.
    if (static_cast<uint64_t>(numel) > file_size_ / c10::elementSize(dtype)) {
      return Bad("storage '" + key + "' claims " + std::to_string(numel) +
                 " elements, more than the file holds");
    }
    ASSIGN_OR_RETURN(PyObj* obj, Alloc(arena, PyObj::Kind::kStorage));
    obj->tensor = at::zeros({numel}, at::TensorOptions().dtype(dtype));
    obj->s = key;
    storages_[key] = obj;
    return obj;
  }

  const ZipReader* zip_;  // nullptr: legacy format
  std::string prefix_;
  bool verify_crc_;
  std::string where_;
  uint64_t file_size_;
  std::map<std::string, PyObj*> storages_;
};

class Flattener {
 public:
  Flattener(const TorchCheckpointOptions& options, const std::string& where, TensorFile* out)
      : options_(options), where_(where), out_(out) {}

  Status Walk(const PyObj* obj, const std::string& name, int depth) {
    using K = PyObj::Kind;
    if (++visits_ > kMaxVisits) return DataLoss(where_ + ": object graph too large to flatten");
    if (depth > kMaxNesting) {
      return DataLoss(where_ + ": containers nested deeper than " + std::to_string(kMaxNesting) +
                      " at '" + name + "' (a reference cycle?)");
    }
    switch (obj->kind) {
      case K::kTensor: {
        std::string n = name.empty() ? "tensor" : name;
        // A contiguous view keeps sharing its storage (tied weights); others are copied.
        if (!out_->tensors.emplace(n, obj->tensor.contiguous()).second) {
          return InvalidArgument(where_ + ": two tensors flatten to the name '" + n + "'");
        }
        return Status::Ok();
      }
      case K::kDict:
        for (const auto& [k, v] : obj->dict) {
          std::string key;
          if (k->kind == K::kStr || k->kind == K::kInt || k->kind == K::kBool) {
            SimpleToString(k, &key);
          } else {
            return InvalidArgument(where_ + ": dict key of type " + KindName(k->kind) + " under '" +
                                   name + "' cannot become a tensor name");
          }
          RETURN_IF_ERROR(Walk(v, name.empty() ? key : name + "." + key, depth + 1));
        }
        return Status::Ok();
      case K::kList:
      case K::kTuple:
        for (size_t i = 0; i < obj->items.size(); ++i) {
          std::string key = std::to_string(i);
          RETURN_IF_ERROR(Walk(obj->items[i], name.empty() ? key : name + "." + key, depth + 1));
        }
        return Status::Ok();
      default: {
        std::string text;
        if (options_.non_tensor_leaves == TorchCheckpointOptions::NonTensorLeaves::kMetadata &&
            SimpleToString(obj, &text)) {
          out_->metadata[name.empty() ? "value" : name] = text;
        }
        return Status::Ok();  // bytes, bare storages and classes are not data
      }
    }
  }

 private:
  const TorchCheckpointOptions& options_;
  const std::string& where_;
  TensorFile* out_;
  uint64_t visits_ = 0;
};

// Finds the single "<archive>/data.pkl" entry; the archive name is whatever torch.save
// used (the file's stem at save time), so it is not assumed.
StatusOr<std::string> FindPrefix(const ZipReader& zip, const std::string& where) {
  std::vector<std::string> prefixes;
  for (const auto& [name, entry] : zip.entries()) {
    auto slash = name.find('/');
    if (slash != std::string::npos && name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      prefixes.push_back(name.substr(0, slash));
    }
  }
  if (prefixes.size() == 1) return prefixes[0];
  if (prefixes.size() > 1) {
    return InvalidArgument(where + " has " + std::to_string(prefixes.size()) +
                           " '<archive>/data.pkl' entries; expected one");
  }
  std::string hint;
  for (const auto& [name, entry] : zip.entries()) {
    if (name.size() >= 13 && name.compare(name.size() - 13, 13, "constants.pkl") == 0) {
      hint = " (it looks like a TorchScript archive from torch.jit.save)";
    }
  }
  return InvalidArgument(where + " is a zip archive without '<archive>/data.pkl': not a torch.save checkpoint" + hint);
}

// Applies inner_key and flattens the unpickled object into named tensors.
StatusOr<TensorFile> Flatten(const PyObj* root, const TorchCheckpointOptions& options,
                             const std::string& where) {
  if (!options.inner_key.empty()) {
    if (root->kind != PyObj::Kind::kDict) {
      return InvalidArgument(where + " holds a " + std::string(KindName(root->kind)) +
                             ", not a dict, so inner_key '" + options.inner_key + "' cannot apply");
    }
    const PyObj* found = nullptr;
    std::string keys;
    for (const auto& [k, v] : root->dict) {
      std::string key;
      if (!SimpleToString(k, &key)) continue;
      if (k->kind == PyObj::Kind::kStr && key == options.inner_key) found = v;
      if (keys.size() < 200) keys += (keys.empty() ? "" : ", ") + key;
    }
    if (!found) {
      return NotFound(where + " has no top-level entry '" + options.inner_key + "' (it has: " + keys + ")");
    }
    root = found;
  }
  TensorFile out;
  Flattener flattener(options, where, &out);
  RETURN_IF_ERROR(flattener.Walk(root, "", 0));
  return out;
}

StatusOr<TensorFile> ReadZip(const ZipReader& zip, const TorchCheckpointOptions& options,
                             const std::string& where) {
  ASSIGN_OR_RETURN(std::string prefix, FindPrefix(zip, where));
  if (const ZipEntry* bo = zip.Find(prefix + "/byteorder")) {
    if (bo->size > 16) return DataLoss(where + ": byteorder entry is " + std::to_string(bo->size) + " bytes");
    ASSIGN_OR_RETURN(std::string order, zip.ReadEntryToString(*bo, options.verify_crc));
    if (order != "little") {
      return InvalidArgument(where + " stores its tensors in '" + order +
                             "' byte order; only 'little' is supported");
    }
  }
  const ZipEntry* pkl = zip.Find(prefix + "/data.pkl");
  if (pkl->size > kMaxPickleBytes) {
    return InvalidArgument(where + ": data.pkl is " + std::to_string(pkl->size) + " bytes, over the " +
                           std::to_string(kMaxPickleBytes) + "-byte limit");
  }
  ASSIGN_OR_RETURN(std::string pickle, zip.ReadEntryToString(*pkl, options.verify_crc));
  PyArena arena;
  TorchHooks hooks(&zip, prefix, options.verify_crc, where, zip.file_size());
  ASSIGN_OR_RETURN(PyObj* root, Unpickle(pickle, &hooks, &arena, where + " (" + pkl->name + ")"));
  return Flatten(root, options, where);
}

// The legacy format (torch.save before 1.6, or _use_new_zipfile_serialization=False):
// five pickles back to back (magic number, protocol version 1001, system info, the
// object, the sorted storage keys), then each storage as an int64 count and raw bytes.
// It has no checksums.
StatusOr<TensorFile> ReadLegacyFrom(std::FILE* f, uint64_t file_size, uint64_t head_size,
                                    const TorchCheckpointOptions& options, const std::string& where) {
  // The pickles sit at the front and are small; the storages are read in place later.
  std::string head(head_size, '\0');
  RETURN_IF_ERROR(ReadFileAt(f, 0, head.data(), head.size(), where));
  // The magic pickle is PROTO 2, LONG1 10 bytes, STOP: 15 bytes, checked by the caller
  // up to the STOP.
  if (head.size() < 15 || head[14] != '.') return DataLoss(where + ": bad legacy magic number pickle");
  size_t pos = 15;
  PyArena arena;
  TorchHooks hooks(nullptr, "", false, where, file_size);
  auto next = [&](const char* what) -> StatusOr<PyObj*> {
    size_t used = 0;
    auto obj = Unpickle(std::string_view(head).substr(pos), &hooks, &arena,
                        where + " (legacy " + what + " pickle at byte " + std::to_string(pos) + ")", &used);
    pos += used;
    return obj;
  };
  ASSIGN_OR_RETURN(PyObj* version, next("protocol version"));
  if (version->kind != PyObj::Kind::kInt || version->i != 1001) {
    return InvalidArgument(where + ": unsupported legacy protocol version (expected 1001)");
  }
  ASSIGN_OR_RETURN(PyObj* sys_info, next("system info"));
  if (sys_info->kind != PyObj::Kind::kDict) return DataLoss(where + ": legacy system info is not a dict");
  for (const auto& [k, v] : sys_info->dict) {
    if (k->kind == PyObj::Kind::kStr && k->s == "little_endian" &&
        !(v->kind == PyObj::Kind::kBool && v->b)) {
      return InvalidArgument(where + " was written on a big-endian machine; only little-endian is supported");
    }
  }
  ASSIGN_OR_RETURN(PyObj* root, next("data"));
  ASSIGN_OR_RETURN(PyObj* keys, next("storage keys"));
  RETURN_IF_ERROR(hooks.FillLegacyStorages(f, pos, keys));
  return Flatten(root, options, where);
}

StatusOr<TensorFile> ReadLegacy(std::FILE* f, uint64_t file_size, const TorchCheckpointOptions& options,
                                const std::string& where) {
  const uint64_t first = std::min(file_size, kLegacyFirstRead);
  auto result = ReadLegacyFrom(f, file_size, first, options, where);
  if (result.ok() || first == std::min(file_size, kMaxPickleBytes)) return result;
  return ReadLegacyFrom(f, file_size, std::min(file_size, kMaxPickleBytes), options, where);
}

StatusOr<TensorFile> ReadImpl(const std::string& path, const TorchCheckpointOptions& options) {
  const std::string where = "'" + path + "'";
  // Sniff the first bytes: an empty file and the legacy format get their own messages
  // and paths; everything else must be a zip.
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return NotFound("cannot open " + where + ": " + std::strerror(errno));
  unsigned char head[2 + sizeof kLegacyMagic] = {};
  const size_t n = std::fread(head, 1, sizeof head, f.get());
  if (n == 0) return InvalidArgument(where + " is empty (0 bytes): not a torch.save checkpoint");
  if (n == sizeof head && head[0] == 0x80 && std::memcmp(head + 2, kLegacyMagic, sizeof kLegacyMagic) == 0) {
    if (fseeko(f.get(), 0, SEEK_END) != 0) return DataLoss("cannot seek in " + where);
    const off_t size = ftello(f.get());
    if (size < 0) return DataLoss("cannot seek in " + where);
    return ReadLegacy(f.get(), static_cast<uint64_t>(size), options, where);
  }
  f.reset();
  ASSIGN_OR_RETURN(std::unique_ptr<ZipReader> zip, ZipReader::Open(path));
  return ReadZip(*zip, options, where);
}

}  // namespace

StatusOr<TensorFile> ReadTorchCheckpoint(const std::string& path, const TorchCheckpointOptions& options) {
  // No exception leaves this module: LibTorch reports through c10::Error, allocation
  // through std::bad_alloc.
  try {
    return ReadImpl(path, options);
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::kResourceExhausted, "out of memory reading '" + path + "'");
  } catch (const c10::Error& e) {
    return Internal("LibTorch error reading '" + path + "': " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Internal("error reading '" + path + "': " + e.what());
  }
}

Status ConvertTorchCheckpointToSafetensors(const std::string& in, const std::string& out,
                                           const TorchCheckpointOptions& options) {
  ASSIGN_OR_RETURN(TensorFile file, ReadTorchCheckpoint(in, options));
  try {
    return WriteSafetensors(out, file);
  } catch (const std::exception& e) {
    return Internal("writing '" + out + "' failed: " + e.what());
  }
}

}  // namespace maskgrpo
