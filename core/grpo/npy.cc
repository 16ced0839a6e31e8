#include "core/grpo/npy.h"

#include "core/torch_api.h"

#include <cstring>

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

StatusOr<at::Tensor> DecodeNpy(const std::string& bytes) {
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) return InvalidArgument("npy: not an .npy file");
  if (bytes[6] != 1) return InvalidArgument("npy: only format version 1 is read");
  const size_t header_len = static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8;
  if (bytes.size() < 10 + header_len) return InvalidArgument("npy: truncated header");
  const std::string header = bytes.substr(10, header_len);
  auto field = [&](const std::string& key) -> std::string {
    const size_t at = header.find("'" + key + "':");
    if (at == std::string::npos) return "";
    size_t begin = header.find_first_not_of(' ', at + key.size() + 3);
    if (begin == std::string::npos) return "";
    const char open = header[begin];
    const char close = open == '(' ? ')' : open == '\'' ? '\'' : ',';
    const size_t end = header.find(close, begin + 1);
    if (end == std::string::npos) return "";
    return open == '(' || open == '\'' ? header.substr(begin + 1, end - begin - 1) : header.substr(begin, end - begin);
  };
  if (field("fortran_order") != "False") return InvalidArgument("npy: only C order is read");
  const std::string descr = field("descr");
  at::ScalarType type;
  if (descr == "<i8") type = at::kLong;
  else if (descr == "<i4") type = at::kInt;
  else if (descr == "|u1") type = at::kByte;
  else if (descr == "|b1") type = at::kBool;
  else if (descr == "<f4") type = at::kFloat;
  else if (descr == "<f8") type = at::kDouble;
  else return InvalidArgument("npy: unsupported descr '" + descr + "'");
  std::vector<int64_t> shape;
  std::string dims = field("shape");
  for (size_t pos = 0; pos < dims.size();) {
    const size_t comma = dims.find(',', pos);
    const std::string part = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (part.find_first_not_of(' ') != std::string::npos) {
      size_t used = 0;
      try {
        shape.push_back(std::stoll(part, &used));
      } catch (const std::exception&) {
        return InvalidArgument("npy: bad shape '" + dims + "'");
      }
      if (shape.back() < 0 || part.find_first_not_of(' ', used) != std::string::npos) {
        return InvalidArgument("npy: bad shape '" + dims + "'");
      }
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  // The size the shape claims, checked against the file before anything is allocated (found
  // by fuzzing: a 120-byte file claiming 897280897 x 3 floats allocated 10 GB first).
  const size_t available = bytes.size() - 10 - header_len;
  size_t data_bytes = c10::elementSize(type);
  for (int64_t d : shape) {
    if (d != 0 && data_bytes > available / static_cast<size_t>(d)) {
      return InvalidArgument("npy: the header's shape (" + dims + ") needs more than the " +
                             std::to_string(available) + " data bytes in the file");
    }
    data_bytes *= static_cast<size_t>(d);
  }
  auto out = torch::empty(shape, torch::TensorOptions().dtype(type));
  if (available != data_bytes) {
    return InvalidArgument("npy: " + std::to_string(bytes.size() - 10 - header_len) + " data bytes, the header's shape (" +
                           dims + ") needs " + std::to_string(data_bytes));
  }
  // No copy for an empty array: its data pointer may be null (found by fuzzing).
  if (data_bytes > 0) std::memcpy(out.data_ptr(), bytes.data() + 10 + header_len, data_bytes);
  return out;
}

StatusOr<at::Tensor> ReadNpy(const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  auto t = DecodeNpy(bytes);
  if (!t.ok()) return InvalidArgument(path + ": " + t.status().message());
  return t;
}

}  // namespace maskgrpo::grpo
