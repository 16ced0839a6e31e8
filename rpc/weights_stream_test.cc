#include "rpc/weights_stream.h"

#include <gtest/gtest.h>
#include "core/torch_api.h"

#include "core/testing/tiny_model.h"
#include "core/weight_probe.h"
#include "rpc/convert.h"
#include "rpc/crc32c.h"

namespace maskgrpo::rpc {
namespace {

std::unique_ptr<MaskedTransformer> TinyModel(uint64_t seed) {
  ModelConfig c = testing::TinyConfig();
  auto m = MaskedTransformer::Create(c, DeviceOptions{"cpu", "float32"}, seed);
  EXPECT_TRUE(m.ok());
  return std::move(*m);
}

std::vector<v1::WeightsChunk> Stream(const WeightsSnapshot& s, int64_t chunk, bool trained_only = false) {
  std::vector<v1::WeightsChunk> out;
  ForEachWeightsChunk(
      s, chunk,
      [&](const v1::WeightsChunk& c) {
        out.push_back(c);
        return true;
      },
      trained_only);
  return out;
}

StatusOr<std::map<std::string, at::Tensor>> Assemble(const std::vector<v1::WeightsChunk>& chunks, WeightsAssembler* a) {
  for (const auto& c : chunks) RETURN_IF_ERROR(a->Add(c));
  return a->Finish();
}

TEST(Crc32c, MatchesTheStandardCheckValue) {
  // The CRC-32C check value of "123456789" (RFC 3720, appendix B.4).
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(Crc32c("6789", 4, Crc32c("12345", 5)), 0xE3069283u);
  EXPECT_EQ(Crc32cPortable("123456789", 9), 0xE3069283u);
}

TEST(Crc32c, TheFastPathAgreesWithTheTableAtEveryLengthAndAlignment) {
  // Unaligned heads and short tails take the byte-at-a-time instruction; the body takes the
  // 8-byte one. (On a CPU without SSE4.2 both calls run the table and this checks nothing new.)
  std::string data(4099, '\0');
  uint32_t state = 12345;
  for (char& ch : data) {
    state = state * 1103515245u + 12345u;
    ch = static_cast<char>(state >> 16);
  }
  for (size_t start = 0; start < 9; ++start) {
    for (size_t len : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{63}, size_t{4090}}) {
      EXPECT_EQ(Crc32c(data.data() + start, len, 77), Crc32cPortable(data.data() + start, len, 77))
          << "start " << start << " length " << len;
    }
  }
}

TEST(WeightsStream, RoundTripsAModelInSmallChunks) {
  auto source = TinyModel(1);
  auto target = TinyModel(2);
  auto snapshot = SnapshotWeights(*source, 7);
  ASSERT_TRUE(snapshot.ok());
  auto chunks = Stream(**snapshot, 1000);
  ASSERT_GT(chunks.size(), (*snapshot)->tensors.size());  // big tensors span several chunks
  WeightsAssembler assembler(7);
  for (const auto& c : chunks) {
    ASSERT_LE(c.data().size(), 1000u);
    ASSERT_TRUE(assembler.Add(c).ok());
  }
  auto tensors = assembler.Finish();
  ASSERT_TRUE(tensors.ok()) << tensors.status().ToString();
  EXPECT_EQ(assembler.bytes_received(), (*snapshot)->total_bytes);
  ASSERT_TRUE(target->LoadState(*tensors).ok());
  for (size_t i = 0; i < source->Parameters().size(); ++i) {
    EXPECT_TRUE(torch::equal(source->Parameters()[i], target->Parameters()[i]));
  }
  // The weight probe travels on the first chunk only and passes on the applied copy.
  EXPECT_TRUE(chunks[0].has_probe());
  for (size_t i = 1; i < chunks.size(); ++i) EXPECT_FALSE(chunks[i].has_probe());
  EXPECT_EQ(assembler.probe().SerializeAsString(), (*snapshot)->probe.SerializeAsString());
  EXPECT_EQ(assembler.probe().positions_size(), assembler.probe().expected_logp_size());
  EXPECT_GT(assembler.probe().positions_size(), 0);
  EXPECT_TRUE(CheckWeightProbe(*target, FromProto(assembler.probe())).ok());
  EXPECT_EQ(CheckWeightProbe(*TinyModel(2), FromProto(assembler.probe())).code(), StatusCode::kDataLoss);
}

TEST(WeightsStream, CorruptionTruncationAndWrongVersionAreErrors) {
  auto model = TinyModel(1);
  auto snapshot = SnapshotWeights(*model, 3);
  ASSERT_TRUE(snapshot.ok());
  auto chunks = Stream(**snapshot, 4096);
  {  // a flipped byte fails its tensor's checksum
    auto bad = chunks;
    std::string data = bad[1].data();
    data[0] ^= 0x40;
    bad[1].set_data(data);
    WeightsAssembler a(3);
    Status st;
    for (const auto& c : bad) {
      st = a.Add(c);
      if (!st.ok()) break;
    }
    auto r = st.ok() ? a.Finish().status() : st;
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.message().find("CRC-32C"), std::string::npos) << r.message();
  }
  {  // a stream cut short
    WeightsAssembler a(3);
    for (size_t i = 0; i + 1 < chunks.size(); ++i) ASSERT_TRUE(a.Add(chunks[i]).ok());
    EXPECT_FALSE(a.Finish().ok());
  }
  {  // chunks of another version
    WeightsAssembler a(4);
    EXPECT_FALSE(a.Add(chunks[0]).ok());
  }
  {  // a chunk out of order
    WeightsAssembler a(3);
    ASSERT_TRUE(a.Add(chunks[0]).ok());
    auto skipped = chunks[1];
    skipped.set_offset(skipped.offset() + 1);
    EXPECT_FALSE(a.Add(skipped).ok());
  }
  {  // a whole stream, then a chunk that fails: the stream stays failed (found by weights_stream)
    WeightsAssembler a(3);
    for (const auto& c : chunks) ASSERT_TRUE(a.Add(c).ok());
    auto extra = chunks.back();
    extra.set_version(4);
    EXPECT_FALSE(a.Add(extra).ok());
    auto finished = a.Finish();
    ASSERT_FALSE(finished.ok());
    EXPECT_NE(finished.status().message().find("already failed"), std::string::npos) << finished.status().message();
  }
  {  // a shape whose element count overflows int64 is refused before anything is allocated
    WeightsAssembler a(3);
    auto huge = chunks[0];
    huge.clear_shape();
    for (int i = 0; i < 4; ++i) huge.add_shape(int64_t{1} << 20);
    huge.set_tensor_bytes(0);
    Status st = a.Add(huge);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("bad shape"), std::string::npos) << st.message();
  }
  {  // a consistent header for a tensor beyond the bound: refused, nothing reserved for it
    WeightsAssembler a(3);
    auto big = chunks[0];
    big.clear_shape();
    big.add_shape(int64_t{1} << 33);  // 2^33 float32 = 32 GiB
    big.set_tensor_bytes(int64_t{1} << 35);
    Status st = a.Add(big);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("announces 34359738368 bytes, more than 17179869184"), std::string::npos)
        << st.message();
  }
  {  // the bound is the assembler's: one of 64 bytes refuses the model's first tensor
    WeightsAssembler a(3, /*max_tensor_bytes=*/64);
    ASSERT_GT(chunks[0].tensor_bytes(), 64);
    EXPECT_FALSE(a.Add(chunks[0]).ok());
  }
}

// An empty tensor has no storage (a null data pointer): streaming and assembling it must not
// hand that pointer to memcpy, which the weights_stream fuzz target found under UBSan.
TEST(WeightsStream, AnEmptyTensorStreamsAndAssembles) {
  WeightsSnapshot s;
  s.version = 2;
  s.model_config_json = "{}";
  for (auto shape : {std::vector<int64_t>{0, 5}, std::vector<int64_t>{3}}) {
    TensorBytes t;
    t.name = shape[0] == 0 ? "empty" : "three";
    t.dtype = "F32";
    t.shape = shape;
    t.storage = torch::arange(shape[0] == 0 ? 0 : 3, torch::kFloat).reshape(shape);
    t.crc32c = Crc32c(t.data(), static_cast<size_t>(t.size()));
    s.total_bytes += t.size();
    s.tensors.push_back(t);
  }
  const auto chunks = Stream(s, 4);
  ASSERT_EQ(chunks.size(), 4u);  // the empty tensor's header with no data, then 12 bytes in 3 chunks
  EXPECT_TRUE(chunks[0].data().empty());
  WeightsAssembler a(2);
  for (const auto& c : chunks) ASSERT_TRUE(a.Add(c).ok());
  auto tensors = a.Finish();
  ASSERT_TRUE(tensors.ok()) << tensors.status().ToString();
  EXPECT_EQ(tensors->at("empty").sizes(), (std::vector<int64_t>{0, 5}));
  EXPECT_TRUE(torch::equal(tensors->at("three"), torch::arange(3, torch::kFloat)));
}

TEST(WeightsStream, AWorkerHoldingTheFrozenParametersReceivesOnlyTheTrainedOnes) {
  const std::string frozen = "model.embed_tokens.weight";
  auto source = TinyModel(1);
  auto target = TinyModel(2);
  auto v7 = SnapshotWeights(*source, 7, /*with_probe=*/true, {frozen});
  ASSERT_TRUE(v7.ok()) << v7.status().ToString();
  const uint64_t fp = (*v7)->frozen_fingerprint;
  ASSERT_NE(fp, 0u);
  EXPECT_FALSE(SendTrainedOnly(**v7, 0));       // a new worker
  EXPECT_FALSE(SendTrainedOnly(**v7, fp + 1));  // frozen values of another run
  EXPECT_TRUE(SendTrainedOnly(**v7, fp));

  // The first stream is whole and carries the fingerprint.
  WeightsAssembler full(7);
  auto tensors = Assemble(Stream(**v7, 4096), &full);
  ASSERT_TRUE(tensors.ok()) << tensors.status().ToString();
  EXPECT_FALSE(full.trained_only());
  EXPECT_EQ(full.frozen_fingerprint(), fp);
  EXPECT_EQ(tensors->size(), source->NamedParameters().size());
  ASSERT_TRUE(target->LoadState(*tensors).ok());

  // The next version: trained tensors move, the frozen one does not; its fingerprint is the same.
  {
    torch::NoGradGuard g;
    for (auto& [name, p] : source->NamedParameters()) {
      if (name != frozen) p.add_(0.25);
    }
  }
  auto v8 = SnapshotWeights(*source, 8, /*with_probe=*/true, {frozen});
  ASSERT_TRUE(v8.ok());
  EXPECT_EQ((*v8)->frozen_fingerprint, fp);
  WeightsAssembler partial(8);
  auto trained = Assemble(Stream(**v8, 4096, /*trained_only=*/true), &partial);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  EXPECT_TRUE(partial.trained_only());
  EXPECT_EQ(partial.frozen_fingerprint(), fp);
  EXPECT_EQ(trained->count(frozen), 0u);
  EXPECT_EQ(trained->size(), source->NamedParameters().size() - 1);
  int64_t frozen_bytes = 0;
  for (const auto& t : (*v8)->tensors) frozen_bytes += t.frozen ? t.size() : 0;
  EXPECT_EQ(partial.bytes_received(), (*v8)->total_bytes - frozen_bytes);
  // A whole-model load refuses the subset; a subset load over the held frozen tensor gives
  // the source exactly, and the probe (computed on the whole model) passes.
  EXPECT_FALSE(target->LoadState(*trained).ok());
  ASSERT_TRUE(target->LoadState(*trained, MaskedTransformer::Coverage::kSubset).ok());
  for (size_t i = 0; i < source->Parameters().size(); ++i) {
    EXPECT_TRUE(torch::equal(source->Parameters()[i], target->Parameters()[i])) << i;
  }
  EXPECT_TRUE(CheckWeightProbe(*target, FromProto(partial.probe())).ok());
  // Applied over other frozen values (a worker of another run), the probe catches it.
  auto stranger = TinyModel(3);
  ASSERT_TRUE(stranger->LoadState(*trained, MaskedTransformer::Coverage::kSubset).ok());
  EXPECT_EQ(CheckWeightProbe(*stranger, FromProto(partial.probe())).code(), StatusCode::kDataLoss);

  // Changing the frozen values changes the fingerprint, so such a worker gets a whole stream.
  {
    torch::NoGradGuard g;
    for (auto& [name, p] : source->NamedParameters()) {
      if (name == frozen) p.add_(1.0);
    }
  }
  auto v9 = SnapshotWeights(*source, 9, /*with_probe=*/false, {frozen});
  ASSERT_TRUE(v9.ok());
  EXPECT_NE((*v9)->frozen_fingerprint, fp);
  EXPECT_FALSE(SendTrainedOnly(**v9, fp));
}

TEST(WeightsStream, FrozenNamesAndTrainedOnlyHeadersAreChecked) {
  auto model = TinyModel(1);
  auto bad = SnapshotWeights(*model, 1, /*with_probe=*/false, {"no.such.weight"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("no.such.weight"), std::string::npos);
  // Nothing frozen: fingerprint 0, never trained-only (a worker's 0 means "holds nothing").
  auto none = SnapshotWeights(*model, 1, /*with_probe=*/false);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ((*none)->frozen_fingerprint, 0u);
  EXPECT_FALSE(SendTrainedOnly(**none, 0));
  EXPECT_EQ(Stream(**none, 1 << 20, /*trained_only=*/true)[0].tensor_count(),
            static_cast<int32_t>(model->NamedParameters().size()));
  // Everything frozen: a trained-only stream would be empty, so the stream stays whole.
  std::vector<std::string> all;
  for (const auto& [name, p] : model->NamedParameters()) all.push_back(name);
  auto everything = SnapshotWeights(*model, 1, /*with_probe=*/false, all);
  ASSERT_TRUE(everything.ok());
  EXPECT_FALSE(SendTrainedOnly(**everything, (*everything)->frozen_fingerprint));
  // A trained-only stream must name the frozen values it builds on.
  auto frozen = SnapshotWeights(*model, 1, /*with_probe=*/false, {"lm_head.bias"});
  ASSERT_TRUE(frozen.ok());
  auto chunks = Stream(**frozen, 1 << 20, /*trained_only=*/true);
  ASSERT_TRUE(chunks[0].trained_only());
  chunks[0].set_frozen_fingerprint(0);
  WeightsAssembler a(1);
  auto st = a.Add(chunks[0]);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("frozen_fingerprint"), std::string::npos) << st.message();
}

// A weights relay serves what it received: chunk for chunk the learner's stream (the same
// checksums, probe and frozen flags), and after a trained-only stream the version completed
// with the frozen tensors it held, so a worker that holds nothing gets a whole, exact model.
TEST(WeightsStream, ARelayReservesTheLearnersStreamAndCompletesTrainedOnlyOnes) {
  auto source = TinyModel(1);
  const std::string frozen = "model.embed_tokens.weight";
  auto v1 = SnapshotWeights(*source, 1, /*with_probe=*/true, {frozen});
  ASSERT_TRUE(v1.ok());
  WeightsAssembler first(1);
  for (const auto& c : Stream(**v1, 4096)) ASSERT_TRUE(first.Add(c).ok());
  auto held = first.FinishSnapshot();
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  EXPECT_EQ((*held)->frozen_fingerprint, (*v1)->frozen_fingerprint);
  // Re-streamed, every chunk is the learner's.
  const auto learner_chunks = Stream(**v1, 4096), relay_chunks = Stream(**held, 4096);
  ASSERT_EQ(learner_chunks.size(), relay_chunks.size());
  for (size_t i = 0; i < learner_chunks.size(); ++i) {
    EXPECT_EQ(learner_chunks[i].SerializeAsString(), relay_chunks[i].SerializeAsString()) << "chunk " << i;
  }

  // Version 2 arrives trained-only; the relay completes it with the frozen tensor it holds.
  {
    torch::NoGradGuard g;
    for (auto& [name, p] : source->NamedParameters()) {
      if (name != frozen) p.mul_(0.5);
    }
  }
  auto v2 = SnapshotWeights(*source, 2, /*with_probe=*/true, {frozen});
  ASSERT_TRUE(v2.ok());
  WeightsAssembler second(2);
  for (const auto& c : Stream(**v2, 4096, /*trained_only=*/true)) ASSERT_TRUE(second.Add(c).ok());
  auto received = second.FinishSnapshot();
  ASSERT_TRUE(received.ok()) << received.status().ToString();
  EXPECT_EQ((*received)->tensors.size(), (*v2)->tensors.size() - 1);
  auto whole = CompleteWithFrozen(**received, **held);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ((*whole)->total_bytes, (*v2)->total_bytes);
  // A worker that holds nothing gets the whole version from the relay: exact, and the probe passes.
  WeightsAssembler fresh(2);
  auto tensors = Assemble(Stream(**whole, 4096), &fresh);
  ASSERT_TRUE(tensors.ok()) << tensors.status().ToString();
  auto target = TinyModel(9);
  ASSERT_TRUE(target->LoadState(*tensors).ok());
  for (size_t i = 0; i < source->Parameters().size(); ++i) {
    EXPECT_TRUE(torch::equal(source->Parameters()[i], target->Parameters()[i])) << i;
  }
  EXPECT_TRUE(CheckWeightProbe(*target, FromProto(fresh.probe())).ok());

  // Frozen tensors of another run (another fingerprint) cannot complete the stream.
  auto other = SnapshotWeights(*TinyModel(5), 1, /*with_probe=*/false, {frozen});
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(CompleteWithFrozen(**received, **other).status().code(), StatusCode::kFailedPrecondition);
  // A whole stream whose fingerprint does not match its frozen tensors is refused.
  auto chunks = Stream(**v1, 4096);
  chunks[0].set_frozen_fingerprint(chunks[0].frozen_fingerprint() ^ 1);
  WeightsAssembler lied(1);
  for (const auto& c : chunks) ASSERT_TRUE(lied.Add(c).ok());
  auto refused = lied.FinishSnapshot();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("frozen fingerprint"), std::string::npos) << refused.status().message();
}

}  // namespace
}  // namespace maskgrpo::rpc
