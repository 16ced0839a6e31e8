// The Show-o world end to end on a tiny setup written in the published layouts by
// testdata/showo_world_fixture.py: Phi-style tokenizer files, a Show-o checkpoint folder and
// a MAGVIT-v2 checkpoint, both pickled by torch.save, and a GenEval-style prompt file.
#include "core/showo/showo_world.h"

#include <gtest/gtest.h>
#include "core/torch_api.h"

#include <cstdlib>
#include <filesystem>

#include "core/evaluate.h"
#include "core/runtime.h"
#include "core/safetensors.h"
#include "core/world/registry.h"

namespace maskgrpo::showo {
namespace {

namespace fs = std::filesystem;

class ShowoWorldTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string((fs::temp_directory_path() / ("showo_world_" + std::to_string(::getpid()))).string());
    fs::create_directories(*dir_);
    const std::string cmd = "/usr/bin/python3 " MASKGRPO_SOURCE_DIR "/core/showo/testdata/showo_world_fixture.py " + *dir_;
    status_ = std::system(cmd.c_str());
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override {
    ASSERT_EQ(status_, 0) << "the fixture script failed; it needs /usr/bin/python3 with Debian's python3-torch";
  }
  static WorldOptions Options() {
    WorldOptions o;
    o.name = "showo";
    o.prompt_file = *dir_ + "/prompts.jsonl";
    o.heldout_fraction = 0.34;
    o.tokenizer_dir = *dir_ + "/tokenizer";
    o.vq_model = *dir_ + "/magvit";
    o.max_text_len = 12;
    o.image_tokens = 16;
    return o;
  }
  static std::string* dir_;
  static int status_;
};
std::string* ShowoWorldTest::dir_ = nullptr;
int ShowoWorldTest::status_ = -1;

TEST_F(ShowoWorldTest, LoadsEveryFileAndSplitsThePrompts) {
  auto world = CreateWorld(Options());
  ASSERT_TRUE(world.ok()) << world.status().ToString();
  EXPECT_EQ((*world)->name(), "showo");
  EXPECT_EQ((*world)->image_size(), 8);
  const auto& train = (*world)->prompts(PromptSplitKind::kTrain);
  const auto& heldout = (*world)->prompts(PromptSplitKind::kHeldout);
  EXPECT_EQ(train.size() + heldout.size(), 6u);
  EXPECT_FALSE(heldout.empty());
  for (const auto& p : heldout)
    for (const auto& q : train) EXPECT_NE(p.text, q.text);
  auto* showo = dynamic_cast<ShowoWorld*>(world->get());
  ASSERT_NE(showo, nullptr);
  EXPECT_EQ(showo->layout().pad_id(), 266);  // [PAD] right after the 266-id vocabulary
  EXPECT_EQ(showo->layout().soi_id(), 267);
  EXPECT_EQ(showo->layout().eoi_id(), 268);
  EXPECT_EQ(showo->layout().image_token_offset(), 276);
}

TEST_F(ShowoWorldTest, PromptsBecomeShowosLeftPaddedT2IBlock) {
  auto world = std::move(CreateWorld(Options())).value();
  auto batch = world->EncodePrompts({"a photo", "a photo a b"}, 12);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  ASSERT_EQ(batch->text_ids.sizes(), (std::vector<int64_t>{2, 12}));
  for (int64_t row = 0; row < 2; ++row) {
    auto ids = batch->text_ids[row];
    const int64_t first = (ids != 266).nonzero()[0].item<int64_t>();  // first non-pad
    EXPECT_EQ(ids[first].item<int64_t>(), 271);      // <|t2i|>
    EXPECT_EQ(ids[first + 1].item<int64_t>(), 265);  // BOS = <|endoftext|>
    EXPECT_EQ(ids[11].item<int64_t>(), 265);         // EOS last
    EXPECT_TRUE(batch->text_valid[row].slice(0, 0, first).logical_not().all().item<bool>());
    EXPECT_TRUE(batch->text_valid[row].slice(0, first).all().item<bool>());
  }
  auto uncond = world->UnconditionalPrompt(12);
  std::vector<int64_t> want(9, 266);
  want.insert(want.end(), {271, 265, 265});
  EXPECT_TRUE(torch::equal(uncond.text_ids, torch::tensor(want).view({1, 12})));
  EXPECT_FALSE(world->EncodePrompts({"a photo"}, 16).ok());  // another text length than the world's
}

TEST_F(ShowoWorldTest, DecodesCodesLikeThePythonMagvit) {
  auto world = std::move(CreateWorld(Options())).value();
  auto expected = ReadSafetensors(*dir_ + "/expected.safetensors");
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();
  auto images = world->DecodeImages(expected->tensors.at("codes"));
  ASSERT_TRUE(images.ok()) << images.status().ToString();
  ASSERT_EQ(images->size(), 2u);
  const auto want = expected->tensors.at("images");  // [2, 8, 8, 3]
  for (int64_t i = 0; i < 2; ++i) {
    const auto& img = (*images)[static_cast<size_t>(i)];
    ASSERT_EQ(img.width, 8);
    ASSERT_EQ(img.height, 8);
    auto got = torch::from_blob(const_cast<uint8_t*>(img.rgb.data()), {8, 8, 3}, torch::kUInt8).to(torch::kLong);
    // Truncation to uint8 can flip a value sitting within float noise of an integer.
    EXPECT_LE((got - want[i]).abs().max().item<int64_t>(), 1);
    EXPECT_GE((got == want[i]).to(torch::kFloat).mean().item<double>(), 0.99);
  }
  EXPECT_FALSE(world->DecodeImages(torch::full({1, 16}, 16, torch::kLong)).ok());  // code out of range
}

TEST_F(ShowoWorldTest, LoadsThePublishedShowoFolderAndGeneratesImages) {
  ConfigureThreads(1);
  auto world = std::move(CreateWorld(Options())).value();
  auto model = world->LoadModel(*dir_ + "/showo", DeviceOptions{});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_TRUE((*model)->config().qk_layernorm);
  SampleOptions so;
  so.steps = 4;
  so.guidance = 1.75;
  so.seed = 3;
  auto images = GenerateImages(**model, *world, {"a photo", "a photo b"}, 2, so);
  ASSERT_TRUE(images.ok()) << images.status().ToString();
  ASSERT_EQ(images->size(), 4u);
  for (const auto& img : *images) EXPECT_TRUE(img.Valid() && img.width == 8);
  // Show-o has no built-in judge: in-process evaluation says so instead of inventing a score.
  EvalOptions eo;
  eo.sampling = so;
  auto eval = EvaluateHeldout(**model, *world, eo, nullptr);
  ASSERT_FALSE(eval.ok());
  EXPECT_NE(eval.status().message().find("no built-in judge"), std::string::npos);
}

TEST_F(ShowoWorldTest, BadFilesAndSettingsAreNamed) {
  auto expect_error = [](WorldOptions o, const std::string& fragment) {
    auto world = CreateWorld(o);
    ASSERT_FALSE(world.ok()) << "expected an error containing: " << fragment;
    EXPECT_NE(world.status().message().find(fragment), std::string::npos) << world.status().message();
  };
  auto o = Options();
  o.tokenizer_dir.clear();
  expect_error(o, "tokenizer_dir");
  o = Options();
  o.vq_model = *dir_ + "/no_such_file.bin";
  expect_error(o, "no_such_file.bin");
  o = Options();
  o.prompt_file.clear();
  expect_error(o, "prompt_file");
  o = Options();
  o.image_tokens = 15;
  expect_error(o, "square");
  o = Options();
  o.vq_model = *dir_ + "/showo";  // a transformer checkpoint is not a MAGVIT one
  expect_error(o, "decoder.conv_out.weight");
  o = Options();
  o.name = "sd3";
  expect_error(o, "unknown world 'sd3' (known: shapeworld, showo)");
  // A ShapeWorld model does not fit the Show-o world.
  auto world = std::move(CreateWorld(Options())).value();
  auto model = world->LoadModel(MASKGRPO_SOURCE_DIR "/models/shapeworld_base.safetensors", DeviceOptions{});
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("does not fit the Show-o world"), std::string::npos)
      << model.status().message();
}

}  // namespace
}  // namespace maskgrpo::showo
