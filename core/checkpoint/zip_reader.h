// A read-only ZIP archive reader for torch.save's checkpoints.
//
// torch.save (PyTorch >= 1.6) writes a ZIP of STORED (uncompressed) entries, so the reader
// needs no inflater: it reads the central directory once and then serves byte ranges of
// entries with pread, so a multi-GB pytorch_model.bin is never read whole into memory.
// ZIP64 is supported because a fp32 Show-o checkpoint (~5.8 GB) needs 64-bit offsets.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/status.h"

namespace maskgrpo {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;          // 0 = STORED; anything else is rejected when read
  uint16_t flags = 0;
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;            // uncompressed size
  uint64_t local_header_offset = 0;
  bool zip64_extra = false;     // some field came from a ZIP64 extended-information field
};

class ZipReader {
 public:
  ~ZipReader();
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  // Opens the file and parses its central directory. Errors name the file and the
  // structure that is wrong (no end record, truncated directory, bad signature, ...).
  static StatusOr<std::unique_ptr<ZipReader>> Open(const std::string& path);

  const std::string& path() const { return path_; }
  uint64_t file_size() const { return file_size_; }
  // True when the end of central directory came from a ZIP64 record.
  bool zip64_end_record() const { return zip64_end_record_; }
  const std::map<std::string, ZipEntry>& entries() const { return entries_; }
  const ZipEntry* Find(const std::string& name) const;

  // Reads the whole (STORED) entry into dst, which must hold entry.size bytes, and checks
  // its CRC-32 when verify_crc is set. The data offset comes from the local header.
  Status ReadEntry(const ZipEntry& entry, void* dst, bool verify_crc) const;
  StatusOr<std::string> ReadEntryToString(const ZipEntry& entry, bool verify_crc) const;
  // File offset of the entry's data (after its local header); checked against the file.
  StatusOr<uint64_t> DataOffset(const ZipEntry& entry) const;

 private:
  ZipReader() = default;
  Status ReadAt(uint64_t offset, void* dst, uint64_t n, const char* what) const;
  Status ParseCentralDirectory();

  std::string path_;
  int fd_ = -1;
  uint64_t file_size_ = 0;
  bool zip64_end_record_ = false;
  std::map<std::string, ZipEntry> entries_;
};

// CRC-32 (ISO-HDLC, as in ZIP) of n bytes, continuing from crc (0 to start).
uint32_t Crc32(const void* data, uint64_t n, uint32_t crc = 0);

}  // namespace maskgrpo
