#include "core/safetensors.h"

#include "core/torch_api.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/json.h"

namespace maskgrpo {
namespace {

// Headers larger than this are rejected before allocation (the format's own limit).
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

struct DtypeName {
  at::ScalarType type;
  const char* name;
};
constexpr DtypeName kDtypes[] = {
    {at::kFloat, "F32"}, {at::kDouble, "F64"}, {at::kBFloat16, "BF16"}, {at::kHalf, "F16"},
    {at::kLong, "I64"},  {at::kInt, "I32"},    {at::kShort, "I16"},     {at::kByte, "U8"},
    {at::kBool, "BOOL"},
};

const char* NameOf(at::ScalarType t) {
  for (const auto& d : kDtypes) if (d.type == t) return d.name;
  return nullptr;
}

bool TypeOf(const std::string& name, at::ScalarType* out) {
  for (const auto& d : kDtypes) {
    if (name == d.name) { *out = d.type; return true; }
  }
  return false;
}

}  // namespace

StatusOr<std::string> EncodeSafetensors(const TensorFile& file) {
  Json header{Json::Object{}};  // "{}" when there are no tensors (a null Json dumps "null")
  std::vector<at::Tensor> ordered;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : file.tensors) {
    if (name == "__metadata__") return InvalidArgument("tensor name '__metadata__' is reserved");
    const char* dtype = NameOf(tensor.scalar_type());
    if (!dtype) return InvalidArgument("tensor '" + name + "' has unsupported dtype " + c10::toString(tensor.scalar_type()));
    auto cpu = tensor.detach().to(torch::kCPU).contiguous();
    uint64_t nbytes = cpu.numel() * cpu.element_size();
    Json entry;
    entry["dtype"] = dtype;
    Json::Array shape;
    for (auto s : cpu.sizes()) shape.emplace_back(static_cast<int64_t>(s));
    entry["shape"] = Json(shape);
    entry["data_offsets"] = Json(Json::Array{Json(static_cast<int64_t>(offset)), Json(static_cast<int64_t>(offset + nbytes))});
    header[name] = entry;
    offset += nbytes;
    ordered.push_back(cpu);
  }
  if (!file.metadata.empty()) {
    Json meta;
    for (const auto& [k, v] : file.metadata) meta[k] = v;
    header["__metadata__"] = meta;
  }
  std::string json = header.Dump();
  while (json.size() % 8 != 0) json.push_back(' ');  // keeps tensor data 8-byte aligned
  std::string out;
  out.reserve(8 + json.size() + offset);
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  out += json;
  for (const auto& t : ordered) out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  return out;
}

StatusOr<TensorFile> DecodeSafetensors(const std::string& bytes) {
  if (bytes.size() < 8) return DataLoss("safetensors: file shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  if (n > kMaxHeaderBytes) return DataLoss("safetensors: header length " + std::to_string(n) + " is implausible");
  if (8 + n > bytes.size()) return DataLoss("safetensors: header length " + std::to_string(n) + " runs past the end of the file");
  auto parsed = Json::Parse(bytes.substr(8, n));
  if (!parsed.ok()) return DataLoss("safetensors: bad header: " + parsed.status().message());
  if (!parsed->is_object()) return DataLoss("safetensors: header is not a JSON object");
  const uint64_t data_size = bytes.size() - 8 - n;
  const char* data = bytes.data() + 8 + n;
  TensorFile file;
  uint64_t covered = 0;
  for (const auto& [name, entry] : parsed->as_object()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) return DataLoss("safetensors: __metadata__ must be an object");
      for (const auto& [k, v] : entry.as_object()) {
        if (!v.is_string()) return DataLoss("safetensors: metadata '" + k + "' is not a string");
        file.metadata[k] = v.as_string();
      }
      continue;
    }
    const Json* dtype = entry.Find("dtype");
    const Json* shape = entry.Find("shape");
    const Json* offsets = entry.Find("data_offsets");
    if (!dtype || !dtype->is_string() || !shape || !shape->is_array() || !offsets || !offsets->is_array() ||
        offsets->as_array().size() != 2) {
      return DataLoss("safetensors: tensor '" + name + "' has a malformed header entry");
    }
    at::ScalarType type;
    if (!TypeOf(dtype->as_string(), &type)) {
      return DataLoss("safetensors: tensor '" + name + "' has unsupported dtype '" + dtype->as_string() + "'");
    }
    std::vector<int64_t> sizes;
    uint64_t numel = 1;
    for (const auto& s : shape->as_array()) {
      if (!s.is_number() || s.as_number() < 0 || s.as_number() != static_cast<double>(static_cast<int64_t>(s.as_number()))) {
        return DataLoss("safetensors: tensor '" + name + "' has a bad shape");
      }
      sizes.push_back(static_cast<int64_t>(s.as_number()));
      numel *= static_cast<uint64_t>(sizes.back());
    }
    const auto& off = offsets->as_array();
    if (!off[0].is_number() || !off[1].is_number() || off[0].as_number() < 0 || off[1].as_number() < off[0].as_number()) {
      return DataLoss("safetensors: tensor '" + name + "' has bad data_offsets");
    }
    uint64_t begin = static_cast<uint64_t>(off[0].as_number()), end = static_cast<uint64_t>(off[1].as_number());
    uint64_t expected = numel * c10::elementSize(type);
    if (end - begin != expected) {
      return DataLoss("safetensors: tensor '" + name + "' spans " + std::to_string(end - begin) + " bytes but its shape and dtype need " +
                      std::to_string(expected));
    }
    if (end > data_size) return DataLoss("safetensors: tensor '" + name + "' runs past the end of the file (truncated?)");
    covered += end - begin;
    auto t = torch::empty(sizes, torch::TensorOptions().dtype(type));
    if (expected) std::memcpy(t.data_ptr(), data + begin, expected);
    file.tensors.emplace(name, t);
  }
  if (covered != data_size) {
    return DataLoss("safetensors: " + std::to_string(data_size - covered) + " data bytes are not covered by any tensor (overlap or trailing data)");
  }
  return file;
}

StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return DataLoss("error reading '" + path + "'");
  return ss.str();
}

Status WriteFileAtomically(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return FailedPrecondition("cannot write '" + tmp + "'");
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.flush();
    if (!out) return Internal("error writing '" + tmp + "'");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return Internal("cannot rename '" + tmp + "' to '" + path + "'");
  return Status::Ok();
}

Status WriteSafetensors(const std::string& path, const TensorFile& file) {
  ASSIGN_OR_RETURN(std::string bytes, EncodeSafetensors(file));
  return WriteFileAtomically(path, bytes);
}

StatusOr<TensorFile> ReadSafetensors(const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  auto file = DecodeSafetensors(bytes);
  if (!file.ok()) return Status(file.status().code(), path + ": " + file.status().message());
  return file;
}

}  // namespace maskgrpo
