#include "reward_server/torchscript_scorer.h"

#include <gtest/gtest.h>
#include <torch/script.h>

#include <filesystem>

namespace maskgrpo::reward {
namespace {

namespace fs = std::filesystem;

// Writes a scripted module with the given forward body to a temporary file.
std::string SaveModule(const std::string& name, const std::string& forward) {
  torch::jit::Module m(name);
  m.define("def forward(self, images: Tensor, prompts: List[str]) -> Tensor:\n" + forward);
  const auto path = fs::temp_directory_path() / ("maskgrpo_" + std::to_string(::getpid()) + "_" + name + ".pt");
  m.save(path.string());
  return path.string();
}

RewardItem Solid(uint8_t value, const std::string& text) {
  RewardItem item;
  item.image.width = item.image.height = 64;
  item.image.rgb.assign(static_cast<size_t>(item.image.width) * item.image.height * 3, value);
  item.prompt.text = text;
  return item;
}

TEST(TorchScriptScorer, ScoresImagesWithTheirPrompts) {
  // Brightness plus 0.5 per prompt that mentions "red": checks both inputs arrive in order.
  const std::string path = SaveModule("brightness", R"(
    out = images.mean(dim=[1, 2, 3])
    for i in range(len(prompts)):
        if "red" in prompts[i]:
            out[i] = out[i] + 0.5
    return out
)");
  auto scorer = MakeScorer("torchscript", path);
  ASSERT_TRUE(scorer.ok()) << scorer.status().ToString();
  RewardItem black = Solid(0, "a photo of a red circle"), white = Solid(255, "a photo of a blue square");
  auto scores = (*scorer)->Score({&black, &white});
  ASSERT_TRUE(scores.ok()) << scores.status().ToString();
  ASSERT_EQ(scores->size(), 2u);
  EXPECT_NEAR((*scores)[0], 0.5, 1e-6);
  EXPECT_NEAR((*scores)[1], 1.0, 1e-6);
}

TEST(TorchScriptScorer, BadModelsAndOutputsAreErrorsNotRewards) {
  EXPECT_NE(MakeScorer("torchscript", "").status().message().find("model_path is required"), std::string::npos);
  EXPECT_NE(MakeScorer("torchscript", "/nonexistent/model.pt").status().message().find("/nonexistent/model.pt"),
            std::string::npos);
  EXPECT_NE(MakeScorer("shapeworld_dense", "/x.pt").status().message().find("only for the torchscript and CLIP-family scorers"),
            std::string::npos);

  RewardItem a = Solid(10, "x"), b = Solid(20, "y");
  auto wrong_shape = MakeScorer("torchscript", SaveModule("wrong_shape", "    return images.mean(dim=[2, 3])\n"));
  ASSERT_TRUE(wrong_shape.ok());
  EXPECT_NE((*wrong_shape)->Score({&a, &b}).status().message().find("shape"), std::string::npos);

  auto nan = MakeScorer("torchscript", SaveModule("nan", "    return images.mean(dim=[1, 2, 3]) * float('nan')\n"));
  ASSERT_TRUE(nan.ok());
  EXPECT_NE((*nan)->Score({&a, &b}).status().message().find("non-finite"), std::string::npos);

  auto throws = MakeScorer("torchscript", SaveModule("throws", "    return images.view(-1, 7, 13).mean(dim=[1, 2])\n"));
  ASSERT_TRUE(throws.ok());
  EXPECT_NE((*throws)->Score({&a, &b}).status().message().find("forward failed"), std::string::npos);
}

}  // namespace
}  // namespace maskgrpo::reward
