#include "core/safetensors.h"

#include <gtest/gtest.h>
#include "core/torch_api.h"

#include <cstdio>

#include "core/model_io.h"
#include "core/testing/tiny_model.h"

namespace maskgrpo {
namespace {

std::string TempPath(const std::string& name) { return ::testing::TempDir() + "/" + name; }

std::string Header(const std::string& json) {
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + json;
}

TEST(SafetensorsTest, RoundTripsDtypesAndMetadata) {
  TensorFile f;
  f.tensors["a"] = torch::randn({3, 4});
  f.tensors["b"] = torch::randn({5}).to(torch::kBFloat16);
  f.tensors["c"] = torch::arange(6, torch::kLong).view({2, 3});
  f.tensors["d"] = torch::tensor({true, false, true});
  f.metadata["k"] = "v";
  auto bytes = EncodeSafetensors(f);
  ASSERT_TRUE(bytes.ok());
  auto back = DecodeSafetensors(*bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->metadata.at("k"), "v");
  for (const auto& [name, t] : f.tensors) {
    EXPECT_EQ(back->tensors.at(name).scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(back->tensors.at(name), t)) << name;
  }
}

TEST(SafetensorsTest, AnEmptyFileRoundTrips) {
  // The header "{}" with no tensors is a valid file (the fuzzer found that it decoded and
  // then encoded to the header "null").
  auto empty = DecodeSafetensors(Header("{}"));
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_TRUE(empty->tensors.empty());
  auto bytes = EncodeSafetensors(*empty);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto again = DecodeSafetensors(*bytes);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->tensors.empty());
  EXPECT_TRUE(again->metadata.empty());
}

TEST(SafetensorsTest, ReportsEachCorruption) {
  TensorFile f;
  f.tensors["weight"] = torch::randn({2, 2});
  std::string good = *EncodeSafetensors(f);
  struct Case {
    std::string bytes;
    std::string expect_in_message;
  } cases[] = {
      {good.substr(0, 5), "shorter than"},
      {good.substr(0, good.size() - 3), "weight"},  // truncated data
      {Header("{\"weight\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}"), "bad header"},
      {std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8), "implausible"},
      {Header("{\"weight\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 16]}}") + std::string(16, '\0'), "weight"},
      {Header("{\"weight\": {\"dtype\": \"Q4\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}") + std::string(16, '\0'), "weight"},
      {Header("{\"weight\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}") + std::string(20, '\0'), "not covered"},
  };
  for (const auto& c : cases) {
    auto r = DecodeSafetensors(c.bytes);
    ASSERT_FALSE(r.ok()) << c.expect_in_message;
    EXPECT_NE(r.status().message().find(c.expect_in_message), std::string::npos) << r.status().message();
  }
}

class ModelFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = std::move(MaskedTransformer::Create(testing::TinyConfig(), {}, 11)).value();
    path_ = TempPath("model.safetensors");
    ASSERT_TRUE(SaveModel(path_, *model_).ok());
    file_ = std::move(ReadSafetensors(path_)).value();
  }
  // Writes a modified copy of the saved file and tries to load it.
  Status LoadModified(const std::function<void(TensorFile*)>& edit) {
    TensorFile f = file_;
    edit(&f);
    const std::string p = TempPath("modified.safetensors");
    EXPECT_TRUE(WriteSafetensors(p, f).ok());
    return LoadModel(p, {}).status();
  }
  std::unique_ptr<MaskedTransformer> model_;
  std::string path_;
  TensorFile file_;
};

TEST_F(ModelFileTest, LoadsBackIdentically) {
  auto loaded = LoadModel(path_, {});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->config().ToJson().Dump(), model_->config().ToJson().Dump());
  auto a = model_->NamedParameters(), b = (*loaded)->NamedParameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
}

TEST_F(ModelFileTest, MissingExtraMisshapenOrMistypedTensorsAreNamed) {
  auto st = LoadModified([](TensorFile* f) { f->tensors.erase("model.layers.1.mlp.fc1.bias"); });
  EXPECT_NE(st.message().find("missing tensor 'model.layers.1.mlp.fc1.bias'"), std::string::npos) << st.message();
  st = LoadModified([](TensorFile* f) { f->tensors["model.layers.9.mlp.fc1.bias"] = torch::zeros({2}); });
  EXPECT_NE(st.message().find("unexpected tensor 'model.layers.9.mlp.fc1.bias'"), std::string::npos) << st.message();
  st = LoadModified([](TensorFile* f) { f->tensors["lm_head.weight"] = torch::zeros({3, 3}); });
  EXPECT_NE(st.message().find("'lm_head.weight' has shape"), std::string::npos) << st.message();
  st = LoadModified([](TensorFile* f) {
    f->tensors["lm_head.bias"] = torch::zeros(f->tensors["lm_head.bias"].sizes(), torch::kLong);
  });
  EXPECT_NE(st.message().find("'lm_head.bias' has non-floating dtype"), std::string::npos) << st.message();
  st = LoadModified([](TensorFile* f) { f->metadata.erase(kModelConfigKey); });
  EXPECT_NE(st.message().find(kModelConfigKey), std::string::npos) << st.message();
  st = LoadModified([](TensorFile* f) { f->metadata[kModelConfigKey] = "{\"hidden_size\": 32}"; });
  EXPECT_FALSE(st.ok());
}

TEST_F(ModelFileTest, TruncatedFileIsAnError) {
  auto bytes = std::move(ReadFileToString(path_)).value();
  const std::string p = TempPath("truncated.safetensors");
  ASSERT_TRUE(WriteFileAtomically(p, bytes.substr(0, bytes.size() / 2)).ok());
  auto st = LoadModel(p, {}).status();
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << st.ToString();
  EXPECT_NE(st.message().find("truncated"), std::string::npos) << st.message();
  EXPECT_EQ(LoadModel(TempPath("does-not-exist"), {}).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace maskgrpo
