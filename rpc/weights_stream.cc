#include "rpc/weights_stream.h"

#include <torch/torch.h>

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

}  // namespace

StatusOr<std::shared_ptr<const WeightsSnapshot>> SnapshotWeights(const MaskedTransformer& model, int64_t version,
                                                                 bool with_probe) {
  auto snapshot = std::make_shared<WeightsSnapshot>();
  snapshot->version = version;
  snapshot->model_config_json = model.config().ToJson().Dump();
  if (with_probe) {
    ASSIGN_OR_RETURN(WeightProbe probe, MakeWeightProbe(model, static_cast<uint64_t>(version)));
    ToProto(probe, &snapshot->probe);
  }
  try {
    for (const auto& [name, p] : model.NamedParameters()) {
      auto cpu = p.detach().to(torch::kCPU).contiguous();
      const DtypeInfo* dtype = nullptr;
      for (const auto& d : kDtypes) {
        if (d.type == cpu.scalar_type()) dtype = &d;
      }
      if (!dtype) return Internal("parameter " + name + " has an unsupported dtype");
      TensorBytes t;
      t.name = name;
      t.dtype = dtype->name;
      t.shape = cpu.sizes().vec();
      t.bytes.assign(static_cast<const char*>(cpu.data_ptr()), cpu.numel() * dtype->size);
      t.crc32c = Crc32c(t.bytes.data(), t.bytes.size());
      snapshot->total_bytes += static_cast<int64_t>(t.bytes.size());
      snapshot->tensors.push_back(std::move(t));
    }
  } catch (const c10::Error& e) {
    return Internal(std::string("weights snapshot: ") + e.what_without_backtrace());
  }
  return std::shared_ptr<const WeightsSnapshot>(std::move(snapshot));
}

bool ForEachWeightsChunk(const WeightsSnapshot& snapshot, int64_t max_chunk_bytes,
                         const std::function<bool(const v1::WeightsChunk&)>& emit) {
  bool first_of_stream = true;
  for (const auto& t : snapshot.tensors) {
    int64_t offset = 0;
    const int64_t size = static_cast<int64_t>(t.bytes.size());
    do {
      v1::WeightsChunk chunk;
      chunk.set_version(snapshot.version);
      if (first_of_stream) {
        chunk.set_tensor_count(static_cast<int32_t>(snapshot.tensors.size()));
        chunk.set_model_config(snapshot.model_config_json);
        if (!snapshot.probe.positions().empty()) *chunk.mutable_probe() = snapshot.probe;
        first_of_stream = false;
      }
      if (offset == 0) {
        chunk.set_tensor_name(t.name);
        chunk.set_dtype(t.dtype);
        for (int64_t d : t.shape) chunk.add_shape(d);
        chunk.set_tensor_bytes(size);
        chunk.set_crc32c(t.crc32c);
      }
      const int64_t n = std::min(max_chunk_bytes, size - offset);
      chunk.set_offset(offset);
      chunk.set_data(t.bytes.data() + offset, static_cast<size_t>(n));
      offset += n;
      if (!emit(chunk)) return false;
    } while (offset < size);
  }
  return true;
}

bool WriteWeightsStream(const WeightsSnapshot& snapshot, grpc::ServerContext* context,
                        grpc::ServerWriter<v1::WeightsChunk>* writer, int64_t* bytes_sent) {
  *bytes_sent = 0;
  return ForEachWeightsChunk(snapshot, kMaxWeightsChunkBytes, [&](const v1::WeightsChunk& c) {
    if (context->IsCancelled()) return false;
    *bytes_sent += static_cast<int64_t>(c.data().size());
    return writer->Write(c);
  });
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
    current_ = std::make_unique<Incoming>();
    current_->name = c.tensor_name();
    current_->expected_crc = c.crc32c();
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
  std::memcpy(static_cast<char*>(current_->tensor.data_ptr()) + current_->filled, c.data().data(), static_cast<size_t>(n));
  current_->crc = Crc32c(c.data().data(), static_cast<size_t>(n), current_->crc);
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
  done_.emplace_back(std::move(current_->name), std::move(current_->tensor));
  current_.reset();
  return Status::Ok();
}

StatusOr<std::map<std::string, at::Tensor>> WeightsAssembler::Finish() {
  RETURN_IF_ERROR(CloseTensor());
  if (tensor_count_ < 0 || static_cast<int32_t>(done_.size()) != tensor_count_) {
    failed_ = true;
    return DataLoss("weights stream ended after " + std::to_string(done_.size()) + " of " +
                    std::to_string(std::max(tensor_count_, 0)) + " tensors");
  }
  std::map<std::string, at::Tensor> out;
  for (auto& [name, tensor] : done_) {
    if (!out.emplace(name, tensor).second) return DataLoss("weights stream: tensor " + name + " sent twice");
  }
  return out;
}

}  // namespace maskgrpo::rpc
