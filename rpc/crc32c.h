// CRC-32C (Castagnoli), the checksum of each tensor in a weights stream.
//
// Crc32c uses the SSE4.2 crc32 instruction where the CPU has it (checked once at run time;
// ~8-10 GB/s, so checking a 2.6 GB Show-o snapshot costs ~0.3 s instead of ~4 s) and a
// table, a byte at a time, elsewhere. Both give the same values.
#pragma once

#include <cstddef>
#include <cstdint>

namespace maskgrpo::rpc {

// Extends `crc` (0 for a new checksum) over `size` bytes.
uint32_t Crc32c(const void* data, size_t size, uint32_t crc = 0);

// The table-driven version, always available: the reference the fast one is tested against.
uint32_t Crc32cPortable(const void* data, size_t size, uint32_t crc = 0);

// Whether Crc32c runs on the CPU's crc32 instruction here.
bool Crc32cIsHardware();

}  // namespace maskgrpo::rpc
