// Show-o's transformer loaded from checkpoints in the published layout, against an
// independent Python reference (testdata/showo_reference.py on Debian's python3-torch).
#include "core/showo/showo_model.h"

#include <gtest/gtest.h>
#include "core/torch_api.h"

#include <cstdlib>
#include <filesystem>

#include "core/safetensors.h"

namespace maskgrpo::showo {
namespace {

namespace fs = std::filesystem;

class ShowoReferenceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string((fs::temp_directory_path() / ("showo_ref_" + std::to_string(::getpid()))).string());
    fs::create_directories(*dir_);
    const std::string cmd = "/usr/bin/python3 " MASKGRPO_SOURCE_DIR "/core/showo/testdata/showo_reference.py " + *dir_;
    status_ = std::system(cmd.c_str());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override {
    ASSERT_EQ(status_, 0) << "the Python reference failed; it needs /usr/bin/python3 with Debian's python3-torch "
                             "(bash scripts/install_deps.sh installs it)";
    auto expected = ReadSafetensors(*dir_ + "/expected.safetensors");
    ASSERT_TRUE(expected.ok()) << expected.status().ToString();
    expected_ = std::move(*expected);
  }
  ShowoLoadOptions Options(const std::string& sub) const {
    ShowoLoadOptions o;
    o.checkpoint_dir = *dir_ + "/" + sub;
    o.text_len = 12;
    return o;
  }
  // Logits at the positions that are not pads (the pad rows' own outputs are never read;
  // Show-o lets them attend among pads, this model only to themselves).
  void ExpectLogitsMatch(const MaskedTransformer& model, const at::Tensor& want, double atol) {
    auto ids = expected_.tensors.at("input_ids");
    auto text_valid = ids.slice(1, 0, model.config().text_len) != model.config().pad_id;
    auto got = model.AllLogits(ids, text_valid);
    ASSERT_EQ(got.sizes(), want.sizes());
    auto keep = ids != model.config().pad_id;
    auto diff = (got - want).abs().amax(-1).masked_select(keep);
    EXPECT_LT(diff.max().item<double>(), atol) << "max |C++ - Python| over non-pad positions";
  }

  static std::string* dir_;
  static int status_;
  TensorFile expected_;
};
std::string* ShowoReferenceTest::dir_ = nullptr;
int ShowoReferenceTest::status_ = -1;

TEST_F(ShowoReferenceTest, ReadsTheLayoutFromTheFiles) {
  auto model = LoadShowoModel(Options("fp32"), DeviceOptions{});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const ModelConfig& c = (*model)->config();
  EXPECT_TRUE(c.qk_layernorm);
  EXPECT_EQ(c.hidden_size, 32);
  EXPECT_EQ(c.num_heads, 2);  // from q_layernorm's head size 16
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.rotary_dim, 8);
  EXPECT_EQ(c.image_token_offset, 30);  // llm vocab 20 + 10 Show-o tokens
  EXPECT_EQ(c.mask_id, 46);
  EXPECT_EQ(c.pad_id, 20);
  EXPECT_EQ(c.soi_id, 21);
  EXPECT_EQ(c.eoi_id, 22);
  EXPECT_EQ(c.image_len, 16);
}

TEST_F(ShowoReferenceTest, Float32LogitsMatchThePythonReference) {
  auto model = LoadShowoModel(Options("fp32"), DeviceOptions{});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ExpectLogitsMatch(**model, expected_.tensors.at("logits"), 1e-4);
}

TEST_F(ShowoReferenceTest, Bfloat16FileLoadsIntoAFloat32Model) {
  auto model = LoadShowoModel(Options("bf16"), DeviceOptions{});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ExpectLogitsMatch(**model, expected_.tensors.at("logits_bf16"), 1e-4);
}

TEST_F(ShowoReferenceTest, PickledBinLoadsLikeTheSafetensors) {
  auto model = LoadShowoModel(Options("bin"), DeviceOptions{});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ExpectLogitsMatch(**model, expected_.tensors.at("logits"), 1e-4);
}

TEST_F(ShowoReferenceTest, ShardedCheckpointLoadsLikeOneFile) {
  // Hugging Face's sharded layout: shards plus pytorch_model.safetensors.index.json.
  const std::string dir = *dir_ + "/sharded";
  fs::create_directories(dir);
  fs::copy_file(*dir_ + "/fp32/config.json", dir + "/config.json", fs::copy_options::overwrite_existing);
  auto whole = ReadSafetensors(*dir_ + "/fp32/pytorch_model.safetensors");
  ASSERT_TRUE(whole.ok());
  TensorFile shards[2];
  std::string weight_map;
  int i = 0;
  for (const auto& [name, t] : whole->tensors) {
    const int shard = (i++ % 2);
    shards[shard].tensors[name] = t;
    weight_map += std::string(weight_map.empty() ? "" : ",") + "\"" + name + "\": \"pytorch_model-0000" +
                  std::to_string(shard + 1) + "-of-00002.safetensors\"";
  }
  for (int k = 0; k < 2; ++k) {
    ASSERT_TRUE(
        WriteSafetensors(dir + "/pytorch_model-0000" + std::to_string(k + 1) + "-of-00002.safetensors", shards[k]).ok());
  }
  ASSERT_TRUE(WriteFileAtomically(dir + "/pytorch_model.safetensors.index.json",
                                  "{\"metadata\": {}, \"weight_map\": {" + weight_map + "}}").ok());
  auto model = LoadShowoModel(Options("sharded"), DeviceOptions{});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ExpectLogitsMatch(**model, expected_.tensors.at("logits"), 1e-4);
  // An index that names a tensor its shard lacks is an error naming both.
  ASSERT_TRUE(WriteFileAtomically(dir + "/pytorch_model.safetensors.index.json",
                                  "{\"weight_map\": {\"showo.extra.weight\": \"pytorch_model-00001-of-00002.safetensors\"," +
                                      weight_map + "}}").ok());
  auto bad = LoadShowoModel(Options("sharded"), DeviceOptions{});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'showo.extra.weight' is mapped to pytorch_model-00001-of-00002.safetensors"),
            std::string::npos)
      << bad.status().message();
}

TEST_F(ShowoReferenceTest, GuidedImageLogitsUseShowosFormula) {
  auto model = LoadShowoModel(Options("fp32"), DeviceOptions{});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto ids = expected_.tensors.at("input_ids");
  const auto& c = (*model)->config();
  auto logits = (*model)->ImageLogits(ids, ids.slice(1, 0, c.text_len) != c.pad_id);
  const double g = std::stod(expected_.metadata.at("guidance"));
  auto cfg = (1 + g) * logits.slice(0, 0, 1) - g * logits.slice(0, 1, 2);
  EXPECT_LT((cfg - expected_.tensors.at("cfg_image_logits")).abs().max().item<double>(), 1e-4);
}

TEST_F(ShowoReferenceTest, MissingAndExtraTensorsAreAllNamed) {
  const std::string damaged = *dir_ + "/damaged";
  fs::create_directories(damaged);
  fs::copy_file(*dir_ + "/fp32/config.json", damaged + "/config.json", fs::copy_options::overwrite_existing);
  auto file = ReadSafetensors(*dir_ + "/fp32/pytorch_model.safetensors");
  ASSERT_TRUE(file.ok());
  file->tensors.erase("showo.model.layers.1.self_attn.k_layernorm.weight");
  file->tensors.erase("showo.lm_head.bias");
  file->tensors["showo.mm_projector.0.weight"] = torch::zeros({2, 2});
  file->tensors["showo.model.layers.0.mlp.fc2.bias"] = torch::zeros({31});
  ASSERT_TRUE(WriteSafetensors(damaged + "/pytorch_model.safetensors", *file).ok());
  auto model = LoadShowoModel(Options("damaged"), DeviceOptions{});
  ASSERT_FALSE(model.ok());
  const std::string& m = model.status().message();
  EXPECT_NE(m.find("model.layers.1.self_attn.k_layernorm.weight"), std::string::npos) << m;
  EXPECT_NE(m.find("lm_head.bias"), std::string::npos) << m;
  EXPECT_NE(m.find("mm_projector.0.weight"), std::string::npos) << m;
  EXPECT_NE(m.find("model.layers.0.mlp.fc2.bias is [31], expected [32]"), std::string::npos) << m;
}

TEST_F(ShowoReferenceTest, AConfigThatDisagreesWithTheTensorsIsAnError) {
  const std::string dir = *dir_ + "/badconfig";
  fs::create_directories(dir);
  fs::copy_file(*dir_ + "/fp32/pytorch_model.safetensors", dir + "/pytorch_model.safetensors",
                fs::copy_options::overwrite_existing);
  ASSERT_TRUE(WriteFileAtomically(dir + "/config.json",
                                  R"({"vocab_size": 58498, "llm_vocab_size": 50295, "codebook_size": 8192,
                                      "num_vq_tokens": 1024})").ok());
  auto model = LoadShowoModel(Options("badconfig"), DeviceOptions{});
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("vocab_size 58498 but model.embed_tokens.weight has 47 rows"),
            std::string::npos)
      << model.status().message();
  auto missing = LoadShowoModel(Options("no_such_dir"), DeviceOptions{});
  EXPECT_FALSE(missing.ok());
}

TEST_F(ShowoReferenceTest, ShowO512ShapeMatchesThePublishedParameterCount) {
  // showo-stack.md 1.3: 1,448,176,770 parameters (counted without building the model).
  const ModelConfig c = ModelConfig::ShowO512();
  ASSERT_TRUE(c.Validate().ok());
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size, D = c.head_dim();
  const int64_t per_layer = 2 * H + 4 * (H * H + H) + 2 * 2 * D + (I * H + I) + (H * I + H);
  EXPECT_EQ(per_layer, 50354432);
  EXPECT_EQ(V * H + c.num_layers * per_layer + 2 * H + V * H + V, 1448176770);
  EXPECT_EQ(c.seq_len(), 1155);
  EXPECT_EQ(c.image_begin(), 130);
}

}  // namespace
}  // namespace maskgrpo::showo
