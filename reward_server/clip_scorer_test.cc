// The CLIP-family scorers put together from their parts (tokenizer, preprocessing, CLIP
// towers, aesthetic head; each checked against its own reference elsewhere): the scores are
// the published formulas of those parts, text embeddings are cached, bad input is named.
#include "reward_server/clip_scorer.h"

#include <gtest/gtest.h>
#include "core/torch_api.h"

#include <cmath>
#include <filesystem>

#include "core/clip/clip_model.h"
#include "core/clip/clip_tokenizer.h"
#include "core/image/clip_preprocess.h"
#include "core/safetensors.h"

namespace maskgrpo::reward {
namespace {

namespace fs = std::filesystem;

// An open_clip-format BPE file: 512 byte symbols, a few merges, SOT/EOT (524 ids).
constexpr const char* kMerges = "#version: test\nh e\nl l\nl o</w>\nhe ll\nhell o</w>\nl d</w>\nw o\nwo r\nwor ld</w>\n";

clip::ClipConfig TinyConfig() {
  clip::ClipConfig c;
  c.embed_dim = 768;  // the aesthetic head takes ViT-L/14's 768-d embeddings
  c.vision_width = 32;
  c.vision_layers = 1;
  c.vision_patch_size = 8;
  c.vision_image_size = 224;  // the preprocessing's size: a 28x28 grid of 8-pixel patches
  c.vision_mlp_width = 64;
  c.vision_heads = 2;
  c.text_width = 32;
  c.text_layers = 1;
  c.text_context_length = 16;
  c.text_vocab_size = 524;
  c.text_mlp_width = 64;
  c.text_heads = 2;
  c.activation = "gelu";
  return c;
}

class ClipScorerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("clip_scorer_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    auto shapes = clip::ClipParameterShapes(TinyConfig(), clip::ClipLayout::kOpenClip);
    ASSERT_TRUE(shapes.ok()) << shapes.status().ToString();
    auto gen = at::detail::createCPUGenerator(11);
    TensorFile weights;
    for (const auto& [name, shape] : *shapes) weights.tensors[name] = at::normal(0.0, 0.05, shape, gen);
    weights.tensors["logit_scale"] = torch::tensor(std::log(100.0), torch::kFloat);
    ASSERT_TRUE(WriteSafetensors((dir_ / "clip.safetensors").string(), weights).ok());
    ASSERT_TRUE(WriteFileAtomically((dir_ / "bpe.txt").string(), kMerges).ok());
    TensorFile head;
    const std::pair<const char*, std::vector<int64_t>> layers[] = {{"0", {1024, 768}}, {"2", {128, 1024}}, {"4", {64, 128}},
                                                                   {"6", {16, 64}},   {"7", {1, 16}}};
    for (const auto& [index, shape] : layers) {
      head.tensors[std::string("layers.") + index + ".weight"] = at::normal(0.0, 0.1, shape, gen);
      head.tensors[std::string("layers.") + index + ".bias"] = at::normal(0.0, 0.1, {shape[0]}, gen);
    }
    ASSERT_TRUE(WriteSafetensors((dir_ / "head.safetensors").string(), head).ok());
    for (int i = 0; i < 2; ++i) {
      RgbImage img;
      img.width = img.height = 64;
      for (int p = 0; p < 64 * 64; ++p) img.rgb.insert(img.rgb.end(), {uint8_t(p * (i + 3)), uint8_t(p / 64 * 4), uint8_t(200 - i * 90)});
      items_[i].image = img;
      items_[i].prompt.text = i == 0 ? "hello world" : "a photo of a world";
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  config::ScorerConfig Config(const std::string& name) const {
    config::ScorerConfig c;
    c.set_name(name);
    c.set_model_path((dir_ / "clip.safetensors").string());
    if (name == "aesthetic") {
      c.set_head_path((dir_ / "head.safetensors").string());
    } else {
      c.set_tokenizer_path((dir_ / "bpe.txt").string());
    }
    c.set_architecture("custom");
    c.set_vision_heads(2);
    c.set_text_heads(2);
    return c;
  }
  // The published formula computed from the parts directly.
  std::vector<double> Expected(bool hps) const {
    auto file = ReadSafetensors((dir_ / "clip.safetensors").string());
    clip::ClipConfig heads;
    heads.vision_heads = heads.text_heads = 2;
    auto model = std::move(clip::ClipModel::Create(*file, heads, DeviceOptions{})).value();
    auto tok = std::move(clip::ClipTokenizer::Load((dir_ / "bpe.txt").string())).value();
    std::vector<RgbImage> images{items_[0].image, items_[1].image};
    auto pixels = hps ? HpsTensorPreprocess(images, HpsPreprocessOptions{}, DeviceOptions{}).value()
                      : ClipPreprocess(images, ClipPreprocessOptions{}, DeviceOptions{}).value();
    auto img = model->EncodeImage(pixels).value();
    std::vector<int64_t> ids;
    for (const auto& item : items_) {
      auto row = tok.Tokenize(item.prompt.text, 16).value();
      ids.insert(ids.end(), row.begin(), row.end());
    }
    auto txt = model->EncodeText(torch::tensor(ids).view({2, 16})).value();
    auto cos = torch::cosine_similarity(img, txt, -1).to(torch::kDouble);
    if (!hps) cos = cos * std::exp(model->logit_scale());
    return {cos[0].item<double>(), cos[1].item<double>()};
  }

  fs::path dir_;
  RewardItem items_[2];
};

TEST_F(ClipScorerTest, ClipScoreAndHpsv2AreTheirFormulasAndTheCacheChangesNothing) {
  for (const std::string name : {"clip_score", "pickscore", "hpsv2"}) {
    auto scorer = MakeScorer(Config(name));
    ASSERT_TRUE(scorer.ok()) << name << ": " << scorer.status().ToString();
    const auto want = Expected(name == "hpsv2");
    for (int pass = 0; pass < 2; ++pass) {  // the second pass reads the text cache
      auto got = (*scorer)->Score({&items_[0], &items_[1]});
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      for (int i = 0; i < 2; ++i) EXPECT_NEAR((*got)[i], want[i], 1e-4) << name << " item " << i << " pass " << pass;
    }
  }
}

TEST_F(ClipScorerTest, AestheticIsTheHeadOnNormalisedImageEmbeddings) {
  auto scorer = MakeScorer(Config("aesthetic"));
  ASSERT_TRUE(scorer.ok()) << scorer.status().ToString();
  auto file = ReadSafetensors((dir_ / "clip.safetensors").string());
  clip::ClipConfig heads;
  heads.vision_heads = heads.text_heads = 2;
  auto model = std::move(clip::ClipModel::Create(*file, heads, DeviceOptions{})).value();
  auto pixels = ClipPreprocess({items_[0].image}, ClipPreprocessOptions{}, DeviceOptions{}).value();
  auto x = model->EncodeImage(pixels).value().to(torch::kDouble);
  x = x / x.norm(2, -1, true);
  auto head = ReadSafetensors((dir_ / "head.safetensors").string());
  for (const char* i : {"0", "2", "4", "6", "7"}) {
    x = torch::nn::functional::linear(x, head->tensors.at(std::string("layers.") + i + ".weight").to(torch::kDouble),
                                      head->tensors.at(std::string("layers.") + i + ".bias").to(torch::kDouble));
  }
  auto got = (*scorer)->Score({&items_[0]});
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_NEAR((*got)[0], x.item<double>(), 1e-4);
}

TEST_F(ClipScorerTest, BadInputAndBadSetupAreNamed) {
  auto scorer = std::move(MakeScorer(Config("clip_score"))).value();
  RewardItem long_prompt = items_[0];
  long_prompt.prompt.text = std::string(10000, 'w');
  EXPECT_TRUE(scorer->CheckItem(long_prompt, "items[0]").ok());  // truncated, never an error
  EXPECT_TRUE(scorer->Score({&long_prompt}).ok());
  RewardItem bad_utf8 = items_[0];
  bad_utf8.prompt.text = "a \xff photo";
  EXPECT_FALSE(scorer->CheckItem(bad_utf8, "items[0]").ok());
  RewardItem empty = items_[0];
  empty.image = RgbImage{};
  auto st = scorer->CheckItem(empty, "items[3]");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("items[3].image"), std::string::npos) << st.message();

  auto c = Config("clip_score");
  c.clear_tokenizer_path();
  EXPECT_NE(MakeScorer(c).status().message().find("tokenizer_path"), std::string::npos);
  c = Config("aesthetic");
  c.clear_head_path();
  EXPECT_NE(MakeScorer(c).status().message().find("head_path"), std::string::npos);
  c = Config("clip_score");
  c.set_architecture("ViT-H-14");  // the tiny file is not ViT-H-14-sized: the disagreement is named
  c.clear_vision_heads();
  c.clear_text_heads();
  EXPECT_FALSE(MakeScorer(c).ok());
  auto damaged = ReadSafetensors((dir_ / "clip.safetensors").string());
  damaged->tensors.erase("visual.proj");
  ASSERT_TRUE(WriteSafetensors((dir_ / "clip.safetensors").string(), *damaged).ok());
  auto missing = MakeScorer(Config("clip_score"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("visual.proj"), std::string::npos) << missing.status().message();
}

}  // namespace
}  // namespace maskgrpo::reward
