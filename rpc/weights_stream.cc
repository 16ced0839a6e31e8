#include "rpc/weights_stream.h"

#include "core/torch_api.h"

#include <algorithm>
#include <cstring>

#include "core/weight_probe.h"
#include "rpc/convert.h"
#include "rpc/crc32c.h"

namespace maskgrpo::rpc {
namespace {

struct DtypeInfo {
  at::ScalarType type;
  const char* name;
  int64_t size;
};
constexpr DtypeInfo kDtypes[] = {
    {at::kFloat, "F32", 4}, {at::kBFloat16, "BF16", 2}, {at::kHalf, "F16", 2}, {at::kDouble, "F64", 8}};

const DtypeInfo* FindDtype(const std::string& name) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

// FNV-1a, 64 bits: an identity check of values already covered by CRC-32C (a mismatch the
// fingerprint missed would still fail the weight probe), not a security measure.
void Fnv1a(uint64_t* h, const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) *h = (*h ^ p[i]) * 0x100000001B3ull;
}

uint64_t FrozenFingerprint(const WeightsSnapshot& s) {
  uint64_t h = 0xCBF29CE484222325ull;
  bool any = false;
  Fnv1a(&h, s.model_config_json.data(), s.model_config_json.size());
  for (const auto& t : s.tensors) {
    if (!t.frozen) continue;
    any = true;
    for (const std::string* text : {&t.name, &t.dtype}) Fnv1a(&h, text->data(), text->size() + 1);  // with the NUL
    for (int64_t d : t.shape) Fnv1a(&h, &d, sizeof(d));
    Fnv1a(&h, &t.crc32c, sizeof(t.crc32c));
  }
  if (!any) return 0;
  return h == 0 ? 1 : h;
}

}  // namespace

const char* TensorBytes::data() const { return static_cast<const char*>(storage.data_ptr()); }
int64_t TensorBytes::size() const { return storage.defined() ? static_cast<int64_t>(storage.nbytes()) : 0; }

StatusOr<std::shared_ptr<const WeightsSnapshot>> SnapshotWeights(const MaskedTransformer& model, int64_t version,
                                                                 bool with_probe, const std::vector<std::string>& frozen) {
  const auto params = model.NamedParameters();
  for (const auto& name : frozen) {
    bool known = false;
    for (const auto& [pname, p] : params) known = known || pname == name;
    if (!known) return InvalidArgument("weights snapshot: frozen parameter '" + name + "' is not in the model");
  }
  auto snapshot = std::make_shared<WeightsSnapshot>();
  snapshot->version = version;
  snapshot->model_config_json = model.config().ToJson().Dump();
  if (with_probe) {
    ASSIGN_OR_RETURN(WeightProbe probe, MakeWeightProbe(model, static_cast<uint64_t>(version)));
    ToProto(probe, &snapshot->probe);
  }
  try {
    for (const auto& [name, p] : params) {
      // Always a copy: on the CPU the parameter itself would change with the next update.
      auto cpu = p.detach().to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true).contiguous();
      const DtypeInfo* dtype = nullptr;
      for (const auto& d : kDtypes) {
        if (d.type == cpu.scalar_type()) dtype = &d;
      }
      if (!dtype) return Internal("parameter " + name + " has an unsupported dtype");
      TensorBytes t;
      t.name = name;
      t.dtype = dtype->name;
      t.shape = cpu.sizes().vec();
      t.storage = cpu;
      t.crc32c = Crc32c(t.data(), static_cast<size_t>(t.size()));
      t.frozen = std::find(frozen.begin(), frozen.end(), name) != frozen.end();
      snapshot->total_bytes += t.size();
      snapshot->tensors.push_back(std::move(t));
    }
  } catch (const c10::Error& e) {
    return Internal(std::string("weights snapshot: ") + e.what_without_backtrace());
  }
  snapshot->frozen_fingerprint = FrozenFingerprint(*snapshot);
  return std::shared_ptr<const WeightsSnapshot>(std::move(snapshot));
}

bool SendTrainedOnly(const WeightsSnapshot& snapshot, uint64_t held_frozen_fingerprint) {
  if (snapshot.frozen_fingerprint == 0 || held_frozen_fingerprint != snapshot.frozen_fingerprint) return false;
  for (const auto& t : snapshot.tensors) {
    if (!t.frozen) return true;
  }
  return false;  // everything frozen: a stream needs at least one tensor
}

bool ForEachWeightsChunk(const WeightsSnapshot& snapshot, int64_t max_chunk_bytes,
                         const std::function<bool(const v1::WeightsChunk&)>& emit, bool trained_only) {
  trained_only = trained_only && SendTrainedOnly(snapshot, snapshot.frozen_fingerprint);
  int32_t count = 0;
  for (const auto& t : snapshot.tensors) count += (trained_only && t.frozen) ? 0 : 1;
  bool first_of_stream = true;
  for (const auto& t : snapshot.tensors) {
    if (trained_only && t.frozen) continue;
    int64_t offset = 0;
    const int64_t size = t.size();
    do {
      v1::WeightsChunk chunk;
      chunk.set_version(snapshot.version);
      if (first_of_stream) {
        chunk.set_tensor_count(count);
        chunk.set_model_config(snapshot.model_config_json);
        chunk.set_frozen_fingerprint(snapshot.frozen_fingerprint);
        chunk.set_trained_only(trained_only);
        if (!snapshot.probe.positions().empty()) *chunk.mutable_probe() = snapshot.probe;
        first_of_stream = false;
      }
      if (offset == 0) {
        chunk.set_tensor_name(t.name);
        chunk.set_dtype(t.dtype);
        for (int64_t d : t.shape) chunk.add_shape(d);
        chunk.set_tensor_bytes(size);
        chunk.set_crc32c(t.crc32c);
        chunk.set_frozen(t.frozen);
      }
      const int64_t n = std::min(max_chunk_bytes, size - offset);
      chunk.set_offset(offset);
      if (n > 0) chunk.set_data(t.data() + offset, static_cast<size_t>(n));  // none (null storage) when empty
      offset += n;
      if (!emit(chunk)) return false;
    } while (offset < size);
  }
  return true;
}

bool WriteWeightsStream(const WeightsSnapshot& snapshot, uint64_t held_frozen_fingerprint,
                        grpc::ServerContext* context, grpc::ServerWriter<v1::WeightsChunk>* writer,
                        int64_t* bytes_sent, const std::function<void()>& after_first_chunk) {
  *bytes_sent = 0;
  bool first = true;
  return ForEachWeightsChunk(
      snapshot, kMaxWeightsChunkBytes,
      [&](const v1::WeightsChunk& c) {
        if (context->IsCancelled()) return false;
        *bytes_sent += static_cast<int64_t>(c.data().size());
        if (!writer->Write(c)) return false;
        if (first && after_first_chunk) after_first_chunk();
        first = false;
        return true;
      },
      SendTrainedOnly(snapshot, held_frozen_fingerprint));
}

Status WeightsAssembler::Add(const v1::WeightsChunk& c) {
  if (failed_) return FailedPrecondition("weights stream: already failed");
  auto fail = [&](const std::string& m) {
    failed_ = true;
    return DataLoss("weights stream: " + m);
  };
  if (c.version() != version_) {
    return fail("chunk of version " + std::to_string(c.version()) + " in a stream of version " + std::to_string(version_));
  }
  if (static_cast<int64_t>(c.data().size()) > kMaxWeightsChunkBytes) return fail("chunk larger than 1 MiB");
  if (tensor_count_ < 0) {
    if (c.tensor_count() < 1) return fail("first chunk carries no tensor_count");
    tensor_count_ = c.tensor_count();
    model_config_json_ = c.model_config();
    probe_ = c.probe();
    frozen_fingerprint_ = c.frozen_fingerprint();
    trained_only_ = c.trained_only();
    if (trained_only_ && frozen_fingerprint_ == 0) return fail("a trained-only stream without a frozen_fingerprint");
  }
  if (!c.tensor_name().empty()) {
    RETURN_IF_ERROR(CloseTensor());
    if (static_cast<int32_t>(done_.size()) >= tensor_count_) return fail("more tensors than announced");
    const DtypeInfo* dtype = FindDtype(c.dtype());
    if (!dtype) return fail("tensor " + c.tensor_name() + ": unsupported dtype '" + c.dtype() + "'");
    int64_t numel = 1;
    for (int64_t d : c.shape()) {
      // Bounded so that the product cannot overflow: at most 2^40 elements in all.
      if (d < 0 || (d > 0 && numel > (int64_t{1} << 40) / d)) return fail("tensor " + c.tensor_name() + ": bad shape");
      numel *= d;
    }
    if (numel * dtype->size != c.tensor_bytes()) return fail("tensor " + c.tensor_name() + ": size does not match shape");
    if (c.tensor_bytes() > max_tensor_bytes_) {
      return fail("tensor " + c.tensor_name() + " announces " + std::to_string(c.tensor_bytes()) + " bytes, more than " +
                  std::to_string(max_tensor_bytes_));
    }
    current_ = std::make_unique<Incoming>();
    current_->name = c.tensor_name();
    current_->expected_crc = c.crc32c();
    current_->dtype = c.dtype();
    current_->frozen = c.frozen();
    try {
      current_->tensor = torch::empty(std::vector<int64_t>(c.shape().begin(), c.shape().end()),
                                      torch::TensorOptions().dtype(dtype->type));
    } catch (const c10::Error&) {
      current_.reset();
      return fail("tensor " + c.tensor_name() + ": cannot allocate " + std::to_string(c.tensor_bytes()) + " bytes");
    }
    expected_bytes_ = c.tensor_bytes();
  }
  if (!current_) return fail("data before any tensor header");
  if (c.offset() != current_->filled) {
    return fail("tensor " + current_->name + ": chunk at offset " + std::to_string(c.offset()) + ", expected " +
                std::to_string(current_->filled));
  }
  const int64_t n = static_cast<int64_t>(c.data().size());
  if (current_->filled + n > expected_bytes_) return fail("tensor " + current_->name + ": more bytes than announced");
  if (n > 0) {  // an empty tensor has no storage: its data pointer is null
    std::memcpy(static_cast<char*>(current_->tensor.data_ptr()) + current_->filled, c.data().data(),
                static_cast<size_t>(n));
    current_->crc = Crc32c(c.data().data(), static_cast<size_t>(n), current_->crc);
  }
  current_->filled += n;
  bytes_ += n;
  return Status::Ok();
}

Status WeightsAssembler::CloseTensor() {
  if (!current_) return Status::Ok();
  if (current_->filled != expected_bytes_) {
    failed_ = true;
    return DataLoss("weights stream: tensor " + current_->name + " is incomplete");
  }
  if (current_->crc != current_->expected_crc) {
    failed_ = true;
    return DataLoss("weights stream: tensor " + current_->name + " fails its CRC-32C check");
  }
  TensorBytes t;
  t.name = std::move(current_->name);
  t.dtype = std::move(current_->dtype);
  t.shape = current_->tensor.sizes().vec();
  t.storage = std::move(current_->tensor);
  t.crc32c = current_->crc;
  t.frozen = current_->frozen;
  done_.push_back(std::move(t));
  current_.reset();
  return Status::Ok();
}

StatusOr<std::map<std::string, at::Tensor>> WeightsAssembler::Finish() {
  // A stream that failed once stays failed, even when the tensors completed before the failure
  // add up to the announced count (the chunk that failed may have been a later tensor's).
  if (failed_) return FailedPrecondition("weights stream: already failed");
  RETURN_IF_ERROR(CloseTensor());
  if (tensor_count_ < 0 || static_cast<int32_t>(done_.size()) != tensor_count_) {
    failed_ = true;
    return DataLoss("weights stream ended after " + std::to_string(done_.size()) + " of " +
                    std::to_string(std::max(tensor_count_, 0)) + " tensors");
  }
  std::map<std::string, at::Tensor> out;
  for (const auto& t : done_) {
    if (!out.emplace(t.name, t.storage).second) return DataLoss("weights stream: tensor " + t.name + " sent twice");
  }
  return out;
}

StatusOr<std::shared_ptr<const WeightsSnapshot>> WeightsAssembler::FinishSnapshot() {
  RETURN_IF_ERROR(Finish().status());  // completeness, checksums, no duplicates
  auto snapshot = std::make_shared<WeightsSnapshot>();
  snapshot->version = version_;
  snapshot->model_config_json = model_config_json_;
  snapshot->probe = probe_;
  for (const auto& t : done_) snapshot->total_bytes += t.size();
  snapshot->tensors = std::move(done_);
  done_.clear();
  snapshot->frozen_fingerprint = frozen_fingerprint_;
  // A trained-only stream lacks the frozen tensors the fingerprint covers: only the relay
  // that completes it (CompleteWithFrozen) can check it.
  if (!trained_only_ && FrozenFingerprint(*snapshot) != frozen_fingerprint_) {
    failed_ = true;
    return DataLoss("weights stream: the frozen fingerprint does not match the frozen tensors sent");
  }
  return std::shared_ptr<const WeightsSnapshot>(std::move(snapshot));
}

StatusOr<std::shared_ptr<const WeightsSnapshot>> CompleteWithFrozen(const WeightsSnapshot& received,
                                                                    const WeightsSnapshot& held) {
  if (held.frozen_fingerprint == 0 || held.frozen_fingerprint != received.frozen_fingerprint) {
    return FailedPrecondition("weights relay: a trained-only stream for frozen parameters this relay does not hold");
  }
  auto whole = std::make_shared<WeightsSnapshot>(received);
  for (const auto& t : held.tensors) {
    if (!t.frozen) continue;
    whole->tensors.push_back(t);  // shares the bytes
    whole->total_bytes += t.size();
  }
  if (FrozenFingerprint(*whole) != received.frozen_fingerprint) {
    return DataLoss("weights relay: the frozen tensors held do not match the stream's frozen fingerprint");
  }
  return std::shared_ptr<const WeightsSnapshot>(std::move(whole));
}

}  // namespace maskgrpo::rpc
