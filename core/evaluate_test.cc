// Which prompts the evaluation uses: held-out by default, training prompts on request.
#include "core/evaluate.h"

#include <gtest/gtest.h>
#include "core/torch_api.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/runtime.h"
#include "core/shapeworld/text_tokenizer.h"
#include "core/world/registry.h"

namespace maskgrpo {
namespace {

bool PointsInto(const Prompt* p, const std::vector<Prompt>& list) {
  return !list.empty() && p >= list.data() && p < list.data() + list.size();
}

TEST(Evaluate, UsesTheRequestedSplitWithDistinctTrainingPromptsPerTask) {
  ConfigureThreads(1);
  auto world = std::move(CreateWorld(WorldOptions{})).value();
  const auto& train_prompts = world->prompts(PromptSplitKind::kTrain);
  const auto& heldout_prompts = world->prompts(PromptSplitKind::kHeldout);
  auto model = std::move(MaskedTransformer::Create(shapeworld::ShapeWorldModelConfig(32, 1, 2, 64, 8), {}, 5)).value();
  EvalOptions o;
  o.sampling.steps = 2;
  o.images_per_prompt = 1;
  o.prompts_per_task = 3;
  o.grid_images = 1;
  for (bool train : {false, true}) {
    o.train_split = train;
    auto r = EvaluateHeldout(*model, *world, o, nullptr);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->images.size(), static_cast<size_t>(6 * 3));  // GenEval's six tasks
    std::set<const Prompt*> distinct;
    for (const auto& img : r->images) {
      EXPECT_TRUE(PointsInto(img.prompt, train ? train_prompts : heldout_prompts)) << img.prompt->text;
      EXPECT_FALSE(PointsInto(img.prompt, train ? heldout_prompts : train_prompts)) << img.prompt->text;
      distinct.insert(img.prompt);
    }
    // Every task has at least 3 training prompts, so the training rows are all different.
    if (train) {
      EXPECT_EQ(distinct.size(), r->images.size());
    }
  }
}

TEST(Evaluate, ZeroPromptsPerTaskEvaluatesEveryHeldOutPromptOnce) {
  ConfigureThreads(1);
  auto world = std::move(CreateWorld(WorldOptions{})).value();
  const auto& heldout = world->prompts(PromptSplitKind::kHeldout);
  auto model = std::move(MaskedTransformer::Create(shapeworld::ShapeWorldModelConfig(32, 1, 2, 64, 8), {}, 5)).value();
  EvalOptions o;
  o.sampling.steps = 1;
  o.images_per_prompt = 2;
  o.prompts_per_task = 0;
  o.grid_images = 0;
  o.batch_images = 512;
  auto r = EvaluateHeldout(*model, *world, o, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->images.size(), heldout.size() * 2);
  std::map<const Prompt*, int> seen;
  for (const auto& img : r->images) ++seen[img.prompt];
  EXPECT_EQ(seen.size(), heldout.size());
  for (const auto& [p, n] : seen) EXPECT_EQ(n, 2) << p->text;
  // A minimum per task: tasks with few prompts get more images per prompt, equally.
  o.min_images_per_task = 9;
  r = EvaluateHeldout(*model, *world, o, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::map<std::string, std::map<const Prompt*, int>> by_task;
  for (const auto& img : r->images) ++by_task[img.prompt->tag][img.prompt];
  for (const auto& [tag, prompts] : by_task) {
    const int n = static_cast<int>(prompts.size());
    const int expected = std::max(2, (9 + n - 1) / n);
    for (const auto& [p, k] : prompts) EXPECT_EQ(k, expected) << tag << ": " << p->text;
  }
  o.prompts_per_task = -1;
  EXPECT_FALSE(EvaluateHeldout(*model, *world, o, nullptr).ok());
}

// `generate` samples in chunks (the sampler's memory grows with its batch); each chunk has its
// own seed, so a chunk's images are those of a call on that chunk's prompts alone with that seed.
TEST(Generate, SamplesInChunksEachWithItsOwnSeed) {
  ConfigureThreads(1);
  auto world = std::move(CreateWorld(WorldOptions{})).value();
  const auto& heldout = world->prompts(PromptSplitKind::kHeldout);
  ASSERT_GE(heldout.size(), 2u);
  const std::string a = heldout[0].text, b = heldout[1].text;
  auto model = std::move(MaskedTransformer::Create(shapeworld::ShapeWorldModelConfig(32, 1, 2, 64, 8), {}, 5)).value();
  SampleOptions so;
  so.steps = 2;
  so.seed = 11;
  auto rgb = [](const std::vector<RgbImage>& images, size_t begin, size_t end) {
    std::vector<std::vector<uint8_t>> out;
    for (size_t i = begin; i < end; ++i) out.push_back(images.at(i).rgb);
    return out;
  };
  auto whole = GenerateImages(*model, *world, {a, b}, 3, so);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  ASSERT_EQ(whole->size(), 6u);
  auto one_chunk = GenerateImages(*model, *world, {a, b}, 3, so, 6);
  ASSERT_TRUE(one_chunk.ok());
  EXPECT_EQ(rgb(*one_chunk, 0, 6), rgb(*whole, 0, 6));

  std::vector<std::pair<int, int>> heard;
  auto chunked = GenerateImages(*model, *world, {a, b}, 3, so, 4, [&](int done, int total) { heard.emplace_back(done, total); });
  ASSERT_TRUE(chunked.ok()) << chunked.status().ToString();
  ASSERT_EQ(chunked->size(), 6u);
  EXPECT_EQ(heard, (std::vector<std::pair<int, int>>{{4, 6}, {6, 6}}));
  auto first = GenerateImages(*model, *world, {a, a, a, b}, 1, so);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(rgb(*chunked, 0, 4), rgb(*first, 0, 4));
  SampleOptions second_seed = so;
  second_seed.seed = so.seed + 1000003;
  auto second = GenerateImages(*model, *world, {b, b}, 1, second_seed);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(rgb(*chunked, 4, 6), rgb(*second, 0, 2));

  EXPECT_FALSE(GenerateImages(*model, *world, {a}, 1, so, -1).ok());
  EXPECT_FALSE(GenerateImages(*model, *world, {a}, 0, so).ok());
}

}  // namespace
}  // namespace maskgrpo
