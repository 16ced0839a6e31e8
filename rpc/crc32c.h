// CRC-32C (Castagnoli), the checksum of each tensor in a weights stream. Table-driven,
// byte at a time: ~0.5-1 GB/s, well above what a loopback weights fetch needs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace maskgrpo::rpc {

// Extends `crc` (0 for a new checksum) over `size` bytes.
uint32_t Crc32c(const void* data, size_t size, uint32_t crc = 0);

}  // namespace maskgrpo::rpc
