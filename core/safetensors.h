// safetensors reader and writer: 8-byte little-endian header length, a JSON header,
// then raw little-endian tensor bytes. The same format on disk and on the wire, and
// readable from Python with numpy alone.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

#include "core/status.h"

namespace maskgrpo {

struct TensorFile {
  std::map<std::string, at::Tensor> tensors;       // contiguous CPU tensors
  std::map<std::string, std::string> metadata;     // the "__metadata__" string map

  // The named tensor, or nullptr when the file has none of that name.
  const at::Tensor* Find(const std::string& name) const {
    auto it = tensors.find(name);
    return it == tensors.end() ? nullptr : &it->second;
  }
};

// Serialises to bytes (tensors are copied to the CPU). Supported dtypes: F32, F64, BF16,
// F16, I64, I32, I16, U8, BOOL.
StatusOr<std::string> EncodeSafetensors(const TensorFile& file);
// Parses bytes; every structural problem is an error naming the tensor or field.
StatusOr<TensorFile> DecodeSafetensors(const std::string& bytes);

// Writes atomically (temporary file, then rename), so a crash never leaves a torn file.
Status WriteSafetensors(const std::string& path, const TensorFile& file);
StatusOr<TensorFile> ReadSafetensors(const std::string& path);

// Small file helpers shared by the commands.
StatusOr<std::string> ReadFileToString(const std::string& path);
Status WriteFileAtomically(const std::string& path, const std::string& contents);

}  // namespace maskgrpo
