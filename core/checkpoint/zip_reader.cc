#include "core/checkpoint/zip_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

namespace maskgrpo {
namespace {

constexpr uint32_t kLocalHeaderSig = 0x04034b50;
constexpr uint32_t kCentralHeaderSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint64_t kEndRecordSize = 22;
constexpr uint64_t kZip64LocatorSize = 20;
constexpr uint64_t kZip64EndMinSize = 56;
constexpr uint64_t kCentralHeaderSize = 46;
constexpr uint64_t kLocalHeaderSize = 30;
// A torch checkpoint has a few thousand entries; a directory this large is damage, and
// refusing it bounds the allocation.
constexpr uint64_t kMaxCentralDirectoryBytes = 256ull << 20;

uint16_t U16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t U32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t U64(const unsigned char* p) { return U32(p) | (static_cast<uint64_t>(U32(p + 4)) << 32); }

// Slicing-by-8 tables: a plain byte table runs ~400 MB/s, too slow to check a 5.8 GB file.
struct CrcTables {
  std::array<std::array<uint32_t, 256>, 8> t;
  CrcTables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    }
  }
};

}  // namespace

uint32_t Crc32(const void* data, uint64_t n, uint32_t crc) {
  static const CrcTables tables;
  const auto& t = tables.t;
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  while (n >= 8) {
    uint32_t lo = U32(p) ^ crc;
    uint32_t hi = U32(p + 4);
    crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
          t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) crc = t[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

ZipReader::~ZipReader() {
  if (fd_ >= 0) ::close(fd_);
}

StatusOr<std::unique_ptr<ZipReader>> ZipReader::Open(const std::string& path) {
  std::unique_ptr<ZipReader> zip(new ZipReader());
  zip->path_ = path;
  zip->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (zip->fd_ < 0) {
    return NotFound("cannot open '" + path + "': " + std::strerror(errno));
  }
  struct stat st;
  if (::fstat(zip->fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    return InvalidArgument("'" + path + "' is not a regular file");
  }
  zip->file_size_ = static_cast<uint64_t>(st.st_size);
  RETURN_IF_ERROR(zip->ParseCentralDirectory());
  return zip;
}

const ZipEntry* ZipReader::Find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

Status ZipReader::ReadAt(uint64_t offset, void* dst, uint64_t n, const char* what) const {
  if (offset > file_size_ || n > file_size_ - offset) {
    return DataLoss("'" + path_ + "' is truncated: " + what + " at byte " + std::to_string(offset) +
                    " (+" + std::to_string(n) + ") runs past the end of the " +
                    std::to_string(file_size_) + "-byte file");
  }
  auto* out = static_cast<char*>(dst);
  while (n > 0) {
    // pread caps a single transfer near 2 GiB on Linux, so loop.
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, 1ull << 30));
    ssize_t got = ::pread(fd_, out, chunk, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      return DataLoss("reading " + std::string(what) + " of '" + path_ + "' failed: " +
                      (got < 0 ? std::strerror(errno) : "unexpected end of file"));
    }
    out += got;
    offset += static_cast<uint64_t>(got);
    n -= static_cast<uint64_t>(got);
  }
  return Status::Ok();
}

Status ZipReader::ParseCentralDirectory() {
  const std::string where = "'" + path_ + "'";
  if (file_size_ < kEndRecordSize) {
    return InvalidArgument(where + " is not a zip archive (" + std::to_string(file_size_) +
                           " bytes, too short for an end-of-central-directory record)");
  }
  // The end record sits in the last 22 + (up to 65535 comment) bytes; scan backwards.
  uint64_t tail_size = std::min<uint64_t>(file_size_, kEndRecordSize + 0xFFFF);
  std::vector<unsigned char> tail(tail_size);
  RETURN_IF_ERROR(ReadAt(file_size_ - tail_size, tail.data(), tail_size, "end of file"));
  int64_t found = -1;
  for (int64_t i = static_cast<int64_t>(tail_size - kEndRecordSize); i >= 0; --i) {
    if (U32(&tail[i]) == kEndSig) {
      // The comment must end exactly at the end of the file; otherwise this is
      // likely the signature's bytes inside data.
      uint64_t comment = U16(&tail[i + 20]);
      if (static_cast<uint64_t>(i) + kEndRecordSize + comment == tail_size) {
        found = i;
        break;
      }
    }
  }
  if (found < 0) {
    return InvalidArgument(where + " is not a zip archive (no end-of-central-directory record)");
  }
  const unsigned char* end = &tail[found];
  const uint64_t end_pos = file_size_ - tail_size + static_cast<uint64_t>(found);
  uint64_t disk = U16(end + 4), cd_disk = U16(end + 6);
  uint64_t count_disk = U16(end + 8), count = U16(end + 10);
  uint64_t cd_size = U32(end + 12), cd_offset = U32(end + 16);

  // A ZIP64 locator immediately precedes the end record when any field overflowed.
  uint64_t cd_limit = end_pos;  // the directory must end before the record that ends it
  if (end_pos >= kZip64LocatorSize) {
    unsigned char loc[kZip64LocatorSize];
    RETURN_IF_ERROR(ReadAt(end_pos - kZip64LocatorSize, loc, sizeof loc, "ZIP64 locator"));
    if (U32(loc) == kZip64LocatorSig) {
      uint64_t z64_pos = U64(loc + 8);
      if (z64_pos > end_pos - kZip64LocatorSize ||
          end_pos - kZip64LocatorSize - z64_pos < kZip64EndMinSize) {
        return DataLoss(where + ": the ZIP64 locator points outside the file (offset " +
                        std::to_string(z64_pos) + ")");
      }
      unsigned char rec[kZip64EndMinSize];
      RETURN_IF_ERROR(ReadAt(z64_pos, rec, sizeof rec, "ZIP64 end record"));
      if (U32(rec) != kZip64EndSig) {
        return DataLoss(where + ": bad ZIP64 end-of-central-directory signature at byte " +
                        std::to_string(z64_pos));
      }
      disk = U32(rec + 16);
      cd_disk = U32(rec + 20);
      count_disk = U64(rec + 24);
      count = U64(rec + 32);
      cd_size = U64(rec + 40);
      cd_offset = U64(rec + 48);
      cd_limit = z64_pos;
      zip64_end_record_ = true;
    }
  }
  if (disk != 0 || cd_disk != 0 || count_disk != count) {
    return InvalidArgument(where + ": multi-disk zip archives are not supported");
  }
  if (cd_offset > cd_limit || cd_size > cd_limit - cd_offset) {
    return DataLoss(where + ": the central directory (offset " + std::to_string(cd_offset) +
                    ", " + std::to_string(cd_size) + " bytes) lies outside the file; truncated?");
  }
  if (cd_size > kMaxCentralDirectoryBytes) {
    return InvalidArgument(where + ": central directory of " + std::to_string(cd_size) +
                           " bytes is larger than the " +
                           std::to_string(kMaxCentralDirectoryBytes) + "-byte limit");
  }
  if (count > cd_size / kCentralHeaderSize) {
    return DataLoss(where + ": the end record claims " + std::to_string(count) +
                    " entries, more than a " + std::to_string(cd_size) + "-byte directory holds");
  }
  std::vector<unsigned char> cd(cd_size);
  RETURN_IF_ERROR(ReadAt(cd_offset, cd.data(), cd_size, "central directory"));

  uint64_t pos = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const std::string which = where + " central directory entry " + std::to_string(i);
    if (cd_size - pos < kCentralHeaderSize) return DataLoss(which + " is truncated");
    const unsigned char* h = &cd[pos];
    if (U32(h) != kCentralHeaderSig) return DataLoss(which + " has a bad signature");
    ZipEntry e;
    e.flags = U16(h + 8);
    e.method = U16(h + 10);
    e.crc32 = U32(h + 16);
    e.compressed_size = U32(h + 20);
    e.size = U32(h + 24);
    uint64_t name_len = U16(h + 28), extra_len = U16(h + 30), comment_len = U16(h + 32);
    uint32_t start_disk = U16(h + 34);
    e.local_header_offset = U32(h + 42);
    uint64_t var = name_len + extra_len + comment_len;
    if (cd_size - pos - kCentralHeaderSize < var) return DataLoss(which + " is truncated");
    e.name.assign(reinterpret_cast<const char*>(h + kCentralHeaderSize), name_len);
    // ZIP64 extended information (id 0x0001) holds, in this order, only the fields whose
    // 32-bit slots are saturated: size, compressed size, local header offset, disk.
    const unsigned char* x = h + kCentralHeaderSize + name_len;
    const unsigned char* x_end = x + extra_len;
    while (x_end - x >= 4) {
      uint16_t id = U16(x), len = U16(x + 2);
      if (x_end - x - 4 < len) return DataLoss(which + " ('" + e.name + "') has a truncated extra field");
      if (id == 0x0001) {
        const unsigned char* f = x + 4;
        const unsigned char* f_end = f + len;
        auto take64 = [&](uint64_t* field) -> Status {
          if (f_end - f < 8) return DataLoss(which + " ('" + e.name + "') has a short ZIP64 extra field");
          *field = U64(f);
          f += 8;
          e.zip64_extra = true;
          return Status::Ok();
        };
        if (e.size == 0xFFFFFFFFu) RETURN_IF_ERROR(take64(&e.size));
        if (e.compressed_size == 0xFFFFFFFFu) RETURN_IF_ERROR(take64(&e.compressed_size));
        if (e.local_header_offset == 0xFFFFFFFFu) RETURN_IF_ERROR(take64(&e.local_header_offset));
        if (start_disk == 0xFFFF) {
          if (f_end - f < 4) return DataLoss(which + " ('" + e.name + "') has a short ZIP64 extra field");
          start_disk = U32(f);
        }
      }
      x += 4 + len;
    }
    if (start_disk != 0) return InvalidArgument(which + ": multi-disk zip archives are not supported");
    if (e.local_header_offset >= cd_offset) {
      return DataLoss(which + " ('" + e.name + "') has its local header offset " +
                      std::to_string(e.local_header_offset) + " past the central directory");
    }
    if (!entries_.emplace(e.name, e).second) {
      return DataLoss(where + " has two entries named '" + e.name + "'");
    }
    pos += kCentralHeaderSize + var;
  }
  return Status::Ok();
}

StatusOr<uint64_t> ZipReader::DataOffset(const ZipEntry& e) const {
  const std::string which = "'" + path_ + "' entry '" + e.name + "'";
  unsigned char h[kLocalHeaderSize];
  RETURN_IF_ERROR(ReadAt(e.local_header_offset, h, sizeof h, "local header"));
  if (U32(h) != kLocalHeaderSig) return DataLoss(which + " has a bad local header signature");
  // The local extra field differs from the central one (torch pads it for 64-byte
  // alignment), so the data offset must come from the local lengths.
  uint64_t data = e.local_header_offset + kLocalHeaderSize + U16(h + 26) + U16(h + 28);
  if (data > file_size_ || e.compressed_size > file_size_ - data) {
    return DataLoss(which + " (" + std::to_string(e.compressed_size) + " bytes at offset " +
                    std::to_string(data) + ") runs past the end of the " +
                    std::to_string(file_size_) + "-byte file; truncated?");
  }
  return data;
}

Status ZipReader::ReadEntry(const ZipEntry& e, void* dst, bool verify_crc) const {
  const std::string which = "'" + path_ + "' entry '" + e.name + "'";
  if (e.flags & 1) return InvalidArgument(which + " is encrypted");
  if (e.method != 0) {
    return InvalidArgument(which + " is compressed (method " + std::to_string(e.method) +
                           "); torch.save writes STORED entries, re-save it uncompressed");
  }
  if (e.compressed_size != e.size) {
    return DataLoss(which + " is STORED but its sizes differ (" + std::to_string(e.compressed_size) +
                    " vs " + std::to_string(e.size) + ")");
  }
  ASSIGN_OR_RETURN(uint64_t data, DataOffset(e));
  RETURN_IF_ERROR(ReadAt(data, dst, e.size, "entry data"));
  if (verify_crc) {
    uint32_t crc = Crc32(dst, e.size);
    if (crc != e.crc32) {
      return DataLoss(which + " fails its CRC-32 check (stored " + std::to_string(e.crc32) +
                      ", computed " + std::to_string(crc) + "): the file is damaged");
    }
  }
  return Status::Ok();
}

StatusOr<std::string> ZipReader::ReadEntryToString(const ZipEntry& e, bool verify_crc) const {
  if (e.size > file_size_) {
    return DataLoss("'" + path_ + "' entry '" + e.name + "' claims " + std::to_string(e.size) +
                    " bytes, more than the whole file");
  }
  std::string out(e.size, '\0');
  RETURN_IF_ERROR(ReadEntry(e, out.data(), verify_crc));
  return out;
}

}  // namespace maskgrpo
