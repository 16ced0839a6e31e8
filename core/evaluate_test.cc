// Which prompts the evaluation uses: held-out by default, training prompts on request.
#include "core/evaluate.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

#include "core/runtime.h"
#include "core/shapeworld/text_tokenizer.h"

namespace maskgrpo {
namespace {

bool PointsInto(const shapeworld::PromptSpec* p, const std::vector<shapeworld::PromptSpec>& list) {
  return !list.empty() && p >= list.data() && p < list.data() + list.size();
}

TEST(Evaluate, UsesTheRequestedSplitWithDistinctTrainingPromptsPerTask) {
  ConfigureThreads(1);
  shapeworld::World world;
  auto model = std::move(MaskedTransformer::Create(shapeworld::ShapeWorldModelConfig(32, 1, 2, 64, 8), {}, 5)).value();
  EvalOptions o;
  o.sampling.steps = 2;
  o.images_per_prompt = 1;
  o.prompts_per_task = 3;
  o.grid_images = 1;
  for (bool train : {false, true}) {
    o.train_split = train;
    auto r = EvaluateHeldout(*model, world, o, nullptr);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->images.size(), static_cast<size_t>(shapeworld::kNumTasks * 3));
    std::set<const shapeworld::PromptSpec*> distinct;
    for (const auto& img : r->images) {
      EXPECT_TRUE(PointsInto(img.spec, train ? world.split.train : world.split.heldout)) << img.spec->text;
      EXPECT_FALSE(PointsInto(img.spec, train ? world.split.heldout : world.split.train)) << img.spec->text;
      distinct.insert(img.spec);
    }
    // Every task has at least 3 training prompts, so the training rows are all different.
    if (train) {
      EXPECT_EQ(distinct.size(), r->images.size());
    }
  }
}

}  // namespace
}  // namespace maskgrpo
