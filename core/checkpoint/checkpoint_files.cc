#include "core/checkpoint/checkpoint_files.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "core/checkpoint/torch_pickle.h"
#include "core/json.h"

namespace maskgrpo {
namespace fs = std::filesystem;

namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string ShapeString(at::IntArrayRef shape) {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? "," : "") << shape[i];
  out << "]";
  return out.str();
}

// A sharded checkpoint: every shard named in the index's weight_map is read once, and
// every tensor must come from the shard the index names.
StatusOr<TensorFile> ReadShardedIndex(const std::string& index_path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(index_path));
  auto json = Json::Parse(text);
  if (!json.ok()) return InvalidArgument(index_path + ": " + json.status().message());
  const Json* map = json->Find("weight_map");
  if (!map || !map->is_object()) return InvalidArgument(index_path + ": no \"weight_map\" object");
  std::map<std::string, std::vector<std::string>> by_shard;
  for (const auto& [name, shard] : map->as_object()) {
    if (!shard.is_string()) return InvalidArgument(index_path + ": weight_map[\"" + name + "\"] is not a file name");
    const std::string& file = shard.as_string();
    if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..") {
      return InvalidArgument(index_path + ": weight_map[\"" + name + "\"] = \"" + file + "\" is not a plain file name");
    }
    by_shard[file].push_back(name);
  }
  if (by_shard.empty()) return InvalidArgument(index_path + ": the weight_map is empty");
  const fs::path dir = fs::path(index_path).parent_path();
  TensorFile out;
  for (const auto& [file, names] : by_shard) {
    ASSIGN_OR_RETURN(TensorFile shard, ReadWeightsFile((dir / file).string()));
    for (const auto& name : names) {
      auto it = shard.tensors.find(name);
      if (it == shard.tensors.end()) {
        return InvalidArgument(index_path + ": tensor '" + name + "' is mapped to " + file + " but is not in it");
      }
      out.tensors[name] = it->second;
    }
    for (const auto& [key, value] : shard.metadata) out.metadata[key] = value;
  }
  return out;
}

}  // namespace

StatusOr<TensorFile> ReadWeightsFile(const std::string& path) {
  if (EndsWith(path, ".index.json")) return ReadShardedIndex(path);
  if (EndsWith(path, ".safetensors")) return ReadSafetensors(path);
  if (EndsWith(path, ".bin") || EndsWith(path, ".pt") || EndsWith(path, ".pth") || EndsWith(path, ".ckpt")) {
    return ReadTorchCheckpoint(path);
  }
  return InvalidArgument(path + ": unknown weights file type (expected .safetensors, .bin, .pt, .pth or .index.json)");
}

const std::vector<std::string>& ShowoWeightFileNames() {
  static const std::vector<std::string> names{"pytorch_model.safetensors", "pytorch_model.bin", "model.safetensors"};
  return names;
}

StatusOr<WeightsSource> ReadWeightsDirectory(const std::string& dir, const std::vector<std::string>& file_names) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return NotFound(dir + ": not a directory");
  for (const auto& name : file_names) {
    for (const std::string& candidate : {name, name + ".index.json"}) {
      const fs::path path = fs::path(dir) / candidate;
      if (!fs::exists(path, ec)) continue;
      ASSIGN_OR_RETURN(TensorFile file, ReadWeightsFile(path.string()));
      return WeightsSource{path.string(), std::move(file)};
    }
  }
  std::string looked;
  for (const auto& name : file_names) looked += (looked.empty() ? "" : ", ") + name + "[.index.json]";
  return NotFound(dir + ": no weights file found (looked for " + looked + ")");
}

Status CheckStateNames(const std::vector<std::pair<std::string, std::vector<int64_t>>>& expected,
                       const TensorFile& state, size_t max_listed) {
  std::vector<std::string> missing, mis_shaped, unexpected;
  std::set<std::string> known;
  for (const auto& [name, shape] : expected) {
    known.insert(name);
    auto it = state.tensors.find(name);
    if (it == state.tensors.end()) {
      missing.push_back(name);
    } else if (it->second.sizes().vec() != shape) {
      mis_shaped.push_back(name + " is " + ShapeString(it->second.sizes()) + ", expected " + ShapeString(shape));
    }
  }
  for (const auto& [name, tensor] : state.tensors) {
    if (!known.count(name)) unexpected.push_back(name);
  }
  if (missing.empty() && mis_shaped.empty() && unexpected.empty()) return Status::Ok();
  auto list = [&](const char* what, const std::vector<std::string>& items) {
    if (items.empty()) return std::string();
    std::string out = std::string(what) + " (" + std::to_string(items.size()) + "): ";
    for (size_t i = 0; i < items.size() && i < max_listed; ++i) out += (i ? ", " : "") + items[i];
    if (items.size() > max_listed) out += ", ...";
    return out + "; ";
  };
  std::string message = list("missing", missing) + list("wrong shape", mis_shaped) + list("unexpected", unexpected);
  message.resize(message.size() - 2);
  return InvalidArgument(message);
}

}  // namespace maskgrpo
