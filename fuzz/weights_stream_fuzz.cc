// A Learner.FetchWeights stream built from the fuzz bytes goes through what a worker and a
// weights relay run on it: rpc::WeightsAssembler for version 3, then FinishSnapshot. The input
// is a sequence of frames, each a 2-byte little-endian length and that many bytes of one
// WeightsChunk in protobuf wire format (a frame that does not parse is skipped, as gRPC would
// never deliver it). Tensors are bounded to 1 MiB here (the assembler's own bound is 16 GiB,
// more than a fuzzing process may allocate).
// Oracle: after an error every later chunk is refused; a finished snapshot holds exactly the
// announced tensors, and one that is whole (not trained-only) streams out again, in chunks of
// another size, into a second assembler that rebuilds the same names, dtypes, shapes, bytes,
// checksums, frozen flags, model config and frozen fingerprint.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "rpc/weights_stream.h"

namespace {

using namespace maskgrpo;

constexpr int64_t kVersion = 3;
constexpr int64_t kMaxTensorBytes = 1 << 20;

std::vector<v1::WeightsChunk> Frames(const uint8_t* data, size_t size) {
  std::vector<v1::WeightsChunk> chunks;
  size_t at = 0;
  while (at + 2 <= size) {
    const size_t n = std::min<size_t>(data[at] | (static_cast<size_t>(data[at + 1]) << 8), size - at - 2);
    v1::WeightsChunk c;
    if (c.ParseFromArray(data + at + 2, static_cast<int>(n))) chunks.push_back(std::move(c));
    at += 2 + n;
  }
  return chunks;
}

void ExpectSameSnapshot(const rpc::WeightsSnapshot& a, const rpc::WeightsSnapshot& b) {
  FUZZ_CHECK(a.version == b.version && a.model_config_json == b.model_config_json, "version or model config");
  FUZZ_CHECK(a.frozen_fingerprint == b.frozen_fingerprint, "frozen fingerprint");
  // A probe travels only when it has positions (a snapshot made without one has none).
  if (!a.probe.positions().empty()) {
    FUZZ_CHECK(a.probe.SerializeAsString() == b.probe.SerializeAsString(), "probe");
  } else {
    FUZZ_CHECK(b.probe.positions().empty(), "a probe without positions came back with some");
  }
  FUZZ_CHECK(a.tensors.size() == b.tensors.size() && a.total_bytes == b.total_bytes, "tensor count or bytes");
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const auto &x = a.tensors[i], &y = b.tensors[i];
    FUZZ_CHECK(x.name == y.name && x.dtype == y.dtype && x.shape == y.shape, "tensor " + x.name + " header");
    FUZZ_CHECK(x.crc32c == y.crc32c && x.frozen == y.frozen, "tensor " + x.name + " checksum or frozen flag");
    FUZZ_CHECK(x.size() == y.size(), "tensor " + x.name + " size");
    FUZZ_CHECK(x.size() == 0 || std::memcmp(x.data(), y.data(), static_cast<size_t>(x.size())) == 0,
               "tensor " + x.name + " bytes");  // an empty tensor's data pointer is null
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<v1::WeightsChunk> chunks = Frames(data, size);
  rpc::WeightsAssembler assembler(kVersion, kMaxTensorBytes);
  Status failed;
  for (const auto& c : chunks) {
    Status st = assembler.Add(c);
    if (!failed.ok()) {
      FUZZ_CHECK(!st.ok(), "a chunk was taken after the stream had failed");
      continue;
    }
    if (!st.ok()) {
      FUZZ_CHECK(!st.message().empty(), "an error without a message");
      failed = st;
    }
  }
  if (!failed.ok()) {
    fuzz::Note("weights stream: " + failed.ToString());
    FUZZ_CHECK(!assembler.FinishSnapshot().ok(), "a failed stream finished");
    return 0;
  }
  auto snapshot = assembler.FinishSnapshot();
  if (!snapshot.ok()) {
    fuzz::Note("weights stream: " + snapshot.status().ToString());
    FUZZ_CHECK(!snapshot.status().message().empty(), "an error without a message");
    return 0;
  }
  const rpc::WeightsSnapshot& s = **snapshot;
  fuzz::Note("weights stream: " + std::to_string(s.tensors.size()) + " tensors, " + std::to_string(s.total_bytes) +
             " bytes" + (assembler.trained_only() ? ", trained only" : ""));
  FUZZ_CHECK(s.version == kVersion && !s.tensors.empty(), "a finished stream of another version or of no tensors");
  int64_t bytes = 0;
  for (const auto& t : s.tensors) {
    FUZZ_CHECK(t.size() <= kMaxTensorBytes, "a tensor beyond the bound");
    bytes += t.size();
  }
  FUZZ_CHECK(bytes == s.total_bytes && bytes == assembler.bytes_received(), "byte counts disagree");
  if (assembler.trained_only()) return 0;  // its frozen tensors are the relay's to add
  rpc::WeightsAssembler again(kVersion, kMaxTensorBytes);
  const bool streamed = rpc::ForEachWeightsChunk(s, /*max_chunk_bytes=*/7, [&](const v1::WeightsChunk& c) {
    Status st = again.Add(c);
    FUZZ_CHECK(st.ok(), "a finished snapshot does not stream again: " + st.ToString());
    return true;
  });
  FUZZ_CHECK(streamed, "streaming stopped");
  auto rebuilt = again.FinishSnapshot();
  FUZZ_CHECK(rebuilt.ok(), "a finished snapshot does not rebuild: " + rebuilt.status().ToString());
  ExpectSameSnapshot(s, **rebuilt);
  return 0;
}
