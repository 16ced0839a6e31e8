// Row views and row copies of prompt and trajectory batches (the learner's micro-batches, the
// replay's slices).
#include "core/trajectory.h"

#include <gtest/gtest.h>

#include "core/torch_api.h"

namespace maskgrpo {
namespace {

TrajectoryBatch Numbered(int64_t batch, int64_t steps, int64_t positions, bool with_full) {
  TrajectoryBatch t;
  t.steps = steps;
  t.tokens = torch::arange(batch * positions, torch::kLong).view({batch, positions});
  t.reveal_step = t.tokens % steps;
  t.min_revealed_prob = torch::arange(batch * steps, torch::kFloat).view({batch, steps});
  t.logp_candidate1 = -t.min_revealed_prob;
  t.logp_candidate2 = -2 * t.min_revealed_prob;
  if (with_full) t.logp_full = -3 * t.min_revealed_prob;
  return t;
}

TEST(TrajectoryRows, RowsAreViewsOfEveryRecordedQuantity) {
  const TrajectoryBatch t = Numbered(5, 3, 4, /*with_full=*/true);
  const TrajectoryBatch part = t.Rows(1, 4);
  EXPECT_EQ(part.steps, 3);
  ASSERT_EQ(part.size(), 3);
  EXPECT_TRUE(torch::equal(part.tokens, t.tokens.slice(0, 1, 4)));
  EXPECT_TRUE(torch::equal(part.reveal_step, t.reveal_step.slice(0, 1, 4)));
  EXPECT_TRUE(torch::equal(part.min_revealed_prob, t.min_revealed_prob.slice(0, 1, 4)));
  EXPECT_TRUE(torch::equal(part.logp_candidate1, t.logp_candidate1.slice(0, 1, 4)));
  EXPECT_TRUE(torch::equal(part.logp_candidate2, t.logp_candidate2.slice(0, 1, 4)));
  EXPECT_TRUE(torch::equal(part.logp_full, t.logp_full.slice(0, 1, 4)));
  EXPECT_EQ(part.tokens.data_ptr<int64_t>(), t.tokens.data_ptr<int64_t>() + 4);  // a view, not a copy
}

TEST(TrajectoryRows, SelectCopiesTheRowsAndKeepsUnrecordedQuantitiesUndefined) {
  const TrajectoryBatch t = Numbered(5, 3, 4, /*with_full=*/false);
  const auto index = torch::tensor({4, 0, 2}, torch::kLong);
  const TrajectoryBatch picked = t.Select(index);
  ASSERT_EQ(picked.size(), 3);
  EXPECT_EQ(picked.tokens[0][0].item<int64_t>(), 16);  // row 4 starts at 4 * 4
  EXPECT_EQ(picked.tokens[1][0].item<int64_t>(), 0);
  EXPECT_TRUE(torch::equal(picked.logp_candidate2[2], t.logp_candidate2[2]));
  EXPECT_FALSE(picked.logp_full.defined());
  EXPECT_FALSE(t.Rows(0, 2).logp_full.defined());

  PromptBatch prompts{torch::arange(10, torch::kLong).view({5, 2}), torch::ones({5, 2}, torch::kBool)};
  prompts.text_valid[3][1] = false;
  const PromptBatch some = prompts.Select(torch::tensor({3}, torch::kLong));
  EXPECT_EQ(some.text_ids[0][0].item<int64_t>(), 6);
  EXPECT_FALSE(some.text_valid[0][1].item<bool>());
  EXPECT_TRUE(torch::equal(prompts.Rows(2, 5).text_ids, prompts.text_ids.slice(0, 2, 5)));
}

TEST(TrajectoryRows, ToMovesEveryRecordedQuantityAndKeepsUnrecordedOnesUndefined) {
  TrajectoryBatch t = Numbered(4, 2, 3, /*with_full=*/false);
  t.logp_candidate1 = at::Tensor();  // a learner that never records it
  const TrajectoryBatch host = t.To(torch::kCPU);
  EXPECT_EQ(host.steps, 2);
  EXPECT_TRUE(torch::equal(host.tokens, t.tokens));
  EXPECT_TRUE(torch::equal(host.reveal_step, t.reveal_step));
  EXPECT_TRUE(torch::equal(host.min_revealed_prob, t.min_revealed_prob));
  EXPECT_TRUE(torch::equal(host.logp_candidate2, t.logp_candidate2));
  EXPECT_FALSE(host.logp_candidate1.defined());
  EXPECT_FALSE(host.logp_full.defined());
  const PromptBatch prompts{torch::arange(6, torch::kLong).view({3, 2}), torch::ones({3, 2}, torch::kBool)};
  EXPECT_TRUE(torch::equal(prompts.To(torch::kCPU).text_ids, prompts.text_ids));
  if (torch::cuda::is_available()) {  // where a GPU exists, a round trip keeps every value
    const TrajectoryBatch back = t.To(torch::kCUDA).To(torch::kCPU);
    EXPECT_TRUE(back.tokens.device().is_cpu());
    EXPECT_TRUE(torch::equal(back.tokens, t.tokens));
    EXPECT_TRUE(torch::equal(back.logp_candidate2, t.logp_candidate2));
    EXPECT_FALSE(back.logp_candidate1.defined());
  }
}

}  // namespace
}  // namespace maskgrpo
