// Versioned weights on the wire (Learner.FetchWeights): a snapshot of the policy's
// parameters as raw little-endian bytes per tensor (the safetensors layout), cut into
// chunks of at most 1 MiB, each tensor with its CRC-32C; and the assembler that checks a
// received stream before anything is applied.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/server_context.h>
#include <grpcpp/support/sync_stream.h>

#include "core/status.h"
#include "core/transformer.h"
#include "maskgrpo/learner.pb.h"

namespace maskgrpo::rpc {

inline constexpr int64_t kMaxWeightsChunkBytes = 1 << 20;
// The largest tensor a stream may announce: 16 GiB, 30 times Show-o's largest (its 479 MB
// float32 embedding). A tensor's header is allocated for before its bytes arrive and is not
// covered by any checksum, so without a bound one corrupted header could reserve terabytes.
inline constexpr int64_t kMaxStreamTensorBytes = int64_t{1} << 34;

struct TensorBytes {
  std::string name;
  std::string dtype;  // safetensors name: F32, BF16, F16, F64
  std::vector<int64_t> shape;
  // The bytes: a contiguous CPU tensor that nothing writes to any more (a copy of the
  // model's parameter, or a tensor as it arrived), so copies of a TensorBytes share it.
  at::Tensor storage;
  uint32_t crc32c = 0;
  bool frozen = false;  // never changes during the run (learner.frozen_parameters)
  const char* data() const;
  int64_t size() const;  // bytes
};

// Immutable once made; shared by the RPC threads that stream it.
struct WeightsSnapshot {
  int64_t version = 0;
  std::string model_config_json;
  v1::WeightProbe probe;  // empty when made without one
  std::vector<TensorBytes> tensors;
  int64_t total_bytes = 0;
  // Identifies the frozen tensors' values (names, dtypes, shapes, checksums and the model
  // config): equal in every version of a run, 0 when nothing is frozen.
  uint64_t frozen_fingerprint = 0;
};

// Copies the model's parameters to the CPU (call from the thread that owns the model) and,
// with `with_probe`, records a weight probe (core/weight_probe.h) seeded by the version.
// `frozen` names the parameters that never change (GrpoLearner::frozen_names()); unknown
// names are an error.
StatusOr<std::shared_ptr<const WeightsSnapshot>> SnapshotWeights(const MaskedTransformer& model, int64_t version,
                                                                 bool with_probe = true,
                                                                 const std::vector<std::string>& frozen = {});

// Whether a stream for a client holding `held_frozen_fingerprint` may leave the frozen
// tensors out: something is frozen, something is trained, and the fingerprints match.
bool SendTrainedOnly(const WeightsSnapshot& snapshot, uint64_t held_frozen_fingerprint);

// Calls `emit` for each chunk in stream order; stops early (returning false) when emit does.
// With `trained_only` (see SendTrainedOnly) the frozen tensors are left out.
bool ForEachWeightsChunk(const WeightsSnapshot& snapshot, int64_t max_chunk_bytes,
                         const std::function<bool(const v1::WeightsChunk&)>& emit, bool trained_only = false);

// The server side of Learner.FetchWeights: writes the snapshot's chunks to `writer` until
// done (true) or the client cancels or goes away (false); `bytes_sent` counts tensor bytes.
// The trained tensors only when the client holds the frozen ones (SendTrainedOnly).
// `after_first_chunk`, when set, runs once, right after the first chunk was written (the
// learner's test-only failpoint that lands a kill in the middle of a stream).
bool WriteWeightsStream(const WeightsSnapshot& snapshot, uint64_t held_frozen_fingerprint,
                        grpc::ServerContext* context, grpc::ServerWriter<v1::WeightsChunk>* writer,
                        int64_t* bytes_sent, const std::function<void()>& after_first_chunk = nullptr);

// For a weights relay: `received`, a trained-only stream's snapshot (WeightsAssembler::
// FinishSnapshot), completed with the frozen tensors of `held`, the whole snapshot the relay
// served before; the frozen fingerprint must come out as the stream announced.
StatusOr<std::shared_ptr<const WeightsSnapshot>> CompleteWithFrozen(const WeightsSnapshot& received,
                                                                    const WeightsSnapshot& held);

// Rebuilds the tensors from a stream, checking order, sizes, offsets and checksums.
class WeightsAssembler {
 public:
  explicit WeightsAssembler(int64_t expected_version, int64_t max_tensor_bytes = kMaxStreamTensorBytes)
      : version_(expected_version), max_tensor_bytes_(max_tensor_bytes) {}
  Status Add(const v1::WeightsChunk& chunk);
  // The tensors (CPU, by name) once the stream was complete and every checksum matched.
  StatusOr<std::map<std::string, at::Tensor>> Finish();
  // The same as a snapshot that streams exactly what arrived (tensors, the sender's
  // checksums, frozen flags, probe, model config, frozen fingerprint): what a relay serves.
  // A whole stream's frozen fingerprint is checked against its tensors. Call instead of
  // Finish, once.
  StatusOr<std::shared_ptr<const WeightsSnapshot>> FinishSnapshot();
  const std::string& model_config_json() const { return model_config_json_; }
  const v1::WeightProbe& probe() const { return probe_; }
  uint64_t frozen_fingerprint() const { return frozen_fingerprint_; }
  bool trained_only() const { return trained_only_; }
  int64_t bytes_received() const { return bytes_; }

 private:
  // The tensor being received: chunks are copied straight into its storage and checksummed
  // while still in cache, so each byte is touched once after gRPC hands it over.
  struct Incoming {
    std::string name;
    at::Tensor tensor;
    int64_t filled = 0;
    uint32_t expected_crc = 0, crc = 0;
    std::string dtype;
    bool frozen = false;
  };
  Status CloseTensor();
  int64_t version_;
  int64_t max_tensor_bytes_;
  int32_t tensor_count_ = -1;
  std::string model_config_json_;
  v1::WeightProbe probe_;
  uint64_t frozen_fingerprint_ = 0;
  bool trained_only_ = false;
  std::vector<TensorBytes> done_;
  std::unique_ptr<Incoming> current_;
  int64_t expected_bytes_ = 0;
  int64_t bytes_ = 0;
  bool failed_ = false;
};

}  // namespace maskgrpo::rpc
