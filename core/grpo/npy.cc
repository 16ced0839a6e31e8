#include "core/grpo/npy.h"

#include <torch/torch.h>

#include "core/safetensors.h"

namespace maskgrpo::grpo {

StatusOr<std::string> EncodeNpy(const at::Tensor& tensor) {
  const char* descr = nullptr;
  switch (tensor.scalar_type()) {
    case at::kLong: descr = "<i8"; break;
    case at::kInt: descr = "<i4"; break;
    case at::kByte: descr = "|u1"; break;
    case at::kBool: descr = "|b1"; break;
    case at::kFloat: descr = "<f4"; break;
    case at::kDouble: descr = "<f8"; break;
    default: return InvalidArgument(std::string("npy: unsupported dtype ") + c10::toString(tensor.scalar_type()));
  }
  std::string shape = "(";
  for (int64_t d = 0; d < tensor.dim(); ++d) shape += std::to_string(tensor.size(d)) + (tensor.dim() == 1 ? ",)" : d + 1 < tensor.dim() ? ", " : ")");
  if (tensor.dim() == 0) shape = "()";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Magic (6) + version (2) + header length (2) + header, padded with spaces and a final
  // newline to a multiple of 64 bytes.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>(header.size() >> 8));
  out += header;
  auto cpu = tensor.detach().to(torch::kCPU).contiguous();
  out.append(static_cast<const char*>(cpu.data_ptr()), cpu.numel() * cpu.element_size());
  return out;
}

Status WriteNpy(const std::string& path, const at::Tensor& tensor) {
  ASSIGN_OR_RETURN(std::string bytes, EncodeNpy(tensor));
  return WriteFileAtomically(path, bytes);
}

}  // namespace maskgrpo::grpo
