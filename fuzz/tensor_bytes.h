// Bitwise comparison of tensors for the round-trip oracles (NaN payloads included, which
// torch::equal would call unequal).
#pragma once

#include <ATen/ATen.h>

#include <cstring>

namespace maskgrpo::fuzz {

inline bool SameBytes(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const at::Tensor ca = a.contiguous(), cb = b.contiguous();
  const size_t n = ca.numel() * ca.element_size();
  return n == 0 || std::memcmp(ca.data_ptr(), cb.data_ptr(), n) == 0;
}

// Reads every byte of the tensor, so that a tensor pointing outside its storage faults here
// (or is reported by AddressSanitizer) instead of passing unnoticed.
inline uint64_t TouchBytes(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  const auto* p = static_cast<const uint8_t*>(c.data_ptr());
  uint64_t sum = 0;
  for (size_t i = 0, n = c.numel() * c.element_size(); i < n; ++i) sum += p[i];
  return sum;
}

}  // namespace maskgrpo::fuzz
