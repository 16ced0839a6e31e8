#include "core/sampler.h"

#include <gtest/gtest.h>
#include "core/torch_api.h"

#include "core/schedule.h"
#include "core/testing/tiny_model.h"
#include "core/transition.h"

namespace maskgrpo {
namespace {

class SamplerTest : public ::testing::TestWithParam<double> {
 protected:
  void SetUp() override {
    config_ = testing::TinyConfig(/*image_len=*/24, /*codes=*/12);
    model_ = std::move(MaskedTransformer::Create(config_, {}, 4)).value();
    prompts_ = testing::TinyPrompts(3, config_.text_len, 4, 1);
    uncond_ = testing::TinyPrompts(1, config_.text_len, 2, 2);
  }
  ModelConfig config_;
  std::unique_ptr<MaskedTransformer> model_;
  PromptBatch prompts_, uncond_;
};

TEST_P(SamplerTest, FollowsTheScheduleAndReplaysExactly) {
  SampleOptions o;
  o.steps = 8;
  o.guidance = GetParam();
  o.seed = 42;
  std::vector<torch::Tensor> seen_states;
  o.on_step = [&](int64_t, const at::Tensor& codes) { seen_states.push_back(codes.clone()); };
  auto traj = SampleTrajectories(*model_, prompts_, uncond_, o);
  ASSERT_TRUE(traj.ok()) << traj.status().ToString();
  const int64_t N = config_.image_len, T = o.steps;
  ASSERT_EQ(static_cast<int64_t>(seen_states.size()), T);

  // Every position revealed exactly once, at a step in [0, T), in the scheduled numbers.
  EXPECT_TRUE((traj->reveal_step >= 0).all().item<bool>());
  EXPECT_TRUE((traj->reveal_step < T).all().item<bool>());
  EXPECT_TRUE((traj->tokens >= 0).all().item<bool>());
  EXPECT_TRUE((traj->tokens < config_.num_image_codes).all().item<bool>());
  int64_t masked = N;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t after = MaskedAfterStep(N, T, t, masked);
    auto count = (traj->reveal_step == t).sum(1);
    EXPECT_TRUE((count == masked - after).all().item<bool>()) << "step " << t;
    masked = after;
    // The compact form rebuilds exactly the state the sampler saw before step t.
    EXPECT_TRUE(torch::equal(StateBeforeStep(*traj, t), seen_states[t])) << "state before step " << t;
  }

  // c_t is a real probability, not a boolean.
  EXPECT_TRUE((traj->min_revealed_prob > 0).all().item<bool>());
  EXPECT_TRUE((traj->min_revealed_prob < 1).all().item<bool>());

  // A separate forward pass on the rebuilt states reproduces the recorded log-probs.
  std::vector<int64_t> steps(T);
  std::iota(steps.begin(), steps.end(), 0);
  torch::NoGradGuard g;
  auto replay = ReplayStepLogProbs(*model_, prompts_, uncond_, *traj, steps, o.guidance);
  ASSERT_TRUE(replay.ok()) << replay.status().ToString();
  EXPECT_TRUE(torch::allclose(replay->candidate1, traj->logp_candidate1, 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(replay->candidate2, traj->logp_candidate2, 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(replay->full, traj->logp_full, 1e-4, 1e-4));
  // candidate1's second term is present wherever positions stay masked (all but the last step).
  auto second_term = (traj->logp_candidate1 - traj->logp_candidate2).slice(1, 0, T - 1);
  EXPECT_TRUE((second_term < -1e-6).all().item<bool>());
  EXPECT_TRUE(torch::allclose((traj->logp_candidate1 - traj->logp_candidate2).select(1, T - 1), torch::zeros({3})));
  // full covers every still-masked position, so it is the smallest.
  EXPECT_TRUE((traj->logp_full <= traj->logp_candidate2 + 1e-5).all().item<bool>());

  // A replay without the candidate1 term (a learner on candidate2 or full) gives the other
  // quantities unchanged and refuses to hand out the one it skipped.
  auto lean = ReplayStepLogProbs(*model_, prompts_, uncond_, *traj, steps, o.guidance, false, Candidate1Edge::kFixed,
                                 1.0, /*with_candidate1=*/false);
  ASSERT_TRUE(lean.ok()) << lean.status().ToString();
  EXPECT_FALSE(lean->candidate1.defined());
  EXPECT_TRUE(torch::equal(lean->Get(Transition::kCandidate2), replay->candidate2));
  EXPECT_TRUE(torch::equal(lean->Get(Transition::kFull), replay->full));
  EXPECT_TRUE(torch::equal(lean->entropy, replay->entropy));
  EXPECT_THROW(lean->Get(Transition::kCandidate1), c10::Error);
}

TEST_P(SamplerTest, TheNoiseEdgeIsRecordedAndReplayedAlike) {
  SampleOptions o;
  o.steps = 8;
  o.guidance = GetParam();
  o.seed = 43;
  o.record_full = false;
  auto fixed = SampleTrajectories(*model_, prompts_, uncond_, o);
  o.candidate1_edge = Candidate1Edge::kNoise;
  auto noise = SampleTrajectories(*model_, prompts_, uncond_, o);
  ASSERT_TRUE(fixed.ok() && noise.ok());
  // Same draws (the edge only changes what is recorded), different candidate1 at early steps.
  ASSERT_TRUE(torch::equal(fixed->tokens, noise->tokens));
  EXPECT_TRUE(torch::equal(fixed->logp_candidate2, noise->logp_candidate2));
  EXPECT_GT((fixed->logp_candidate1 - noise->logp_candidate1).select(1, 0).abs().min().item<double>(), 1e-3);
  std::vector<int64_t> steps{0, 3, 7};
  torch::NoGradGuard g;
  auto replay = ReplayStepLogProbs(*model_, prompts_, uncond_, *noise, steps, o.guidance, false, Candidate1Edge::kNoise,
                                   o.gumbel_tau0);
  ASSERT_TRUE(replay.ok()) << replay.status().ToString();
  auto idx = torch::tensor(steps, torch::kLong);
  EXPECT_TRUE(torch::allclose(replay->candidate1, noise->logp_candidate1.index_select(1, idx), 1e-4, 1e-4));
  // Replaying with the other edge does not reproduce it: the two must agree.
  auto wrong = ReplayStepLogProbs(*model_, prompts_, uncond_, *noise, steps, o.guidance);
  EXPECT_FALSE(torch::allclose(wrong->candidate1, noise->logp_candidate1.index_select(1, idx), 1e-4, 1e-4));
}

TEST_P(SamplerTest, NarrowForwardsDrawTheSameImages) {
  // The forward split into slices of 1 and 2 prompts (of 3): the draws run over the whole
  // batch either way, so the images and the recorded log-probs are those of one forward (up
  // to float reassociation inside the slices' matmuls).
  SampleOptions o;
  o.steps = 8;
  o.guidance = GetParam();
  o.seed = 44;
  o.max_forward_prompts = 3;
  auto wide = SampleTrajectories(*model_, prompts_, uncond_, o);
  ASSERT_TRUE(wide.ok()) << wide.status().ToString();
  for (int64_t slice : {1, 2}) {
    for (bool reuse : {true, false}) {
      o.max_forward_prompts = slice;
      o.reuse_prompt_context = reuse;
      auto narrow = SampleTrajectories(*model_, prompts_, uncond_, o);
      ASSERT_TRUE(narrow.ok()) << narrow.status().ToString();
      EXPECT_TRUE(torch::equal(narrow->tokens, wide->tokens)) << "slices of " << slice << ", reuse " << reuse;
      EXPECT_TRUE(torch::equal(narrow->reveal_step, wide->reveal_step)) << "slices of " << slice;
      EXPECT_TRUE(torch::allclose(narrow->logp_candidate1, wide->logp_candidate1, 1e-5, 1e-5));
      EXPECT_TRUE(torch::allclose(narrow->logp_candidate2, wide->logp_candidate2, 1e-5, 1e-5));
      EXPECT_TRUE(torch::allclose(narrow->logp_full, wide->logp_full, 1e-5, 1e-5));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(WithAndWithoutCfg, SamplerTest, ::testing::Values(0.0, 1.5));

TEST(SampleForwardPromptsTest, SlicesOnACpuAndNotElsewhere) {
  SampleOptions o;
  EXPECT_EQ(SampleForwardPrompts(o, at::Device(at::kCPU), 256), 64);
  EXPECT_EQ(SampleForwardPrompts(o, at::Device(at::kCPU), 10), 10);
  EXPECT_EQ(SampleForwardPrompts(o, at::Device(at::kCUDA, 0), 256), 256);
  o.max_forward_prompts = 100;
  EXPECT_EQ(SampleForwardPrompts(o, at::Device(at::kCUDA, 0), 256), 100);
  EXPECT_EQ(SampleForwardPrompts(o, at::Device(at::kCPU), 256), 100);
  EXPECT_EQ(SampleForwardPrompts(o, at::Device(at::kCPU), 30), 30);
}

TEST_F(SamplerTest, IsReproducibleForASeedAndVariesAcrossSeeds) {
  SampleOptions o;
  o.steps = 6;
  o.seed = 9;
  auto a = SampleTrajectories(*model_, prompts_, uncond_, o);
  auto b = SampleTrajectories(*model_, prompts_, uncond_, o);
  o.seed = 10;
  auto c = SampleTrajectories(*model_, prompts_, uncond_, o);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_TRUE(torch::equal(a->tokens, b->tokens));
  EXPECT_TRUE(torch::equal(a->reveal_step, b->reveal_step));
  EXPECT_FALSE(torch::equal(a->tokens, c->tokens));
}

TEST_F(SamplerTest, RejectsBadOptions) {
  SampleOptions o;
  o.steps = 0;
  EXPECT_FALSE(SampleTrajectories(*model_, prompts_, uncond_, o).ok());
  o.steps = config_.image_len + 1;
  EXPECT_FALSE(SampleTrajectories(*model_, prompts_, uncond_, o).ok());
  o.steps = 4;
  o.max_forward_prompts = -1;
  auto negative = SampleTrajectories(*model_, prompts_, uncond_, o);
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("max_forward_prompts"), std::string::npos) << negative.status().ToString();
}

TEST(TransitionTest, Candidate1SecondTermHasAGradientAndVanishesAtCEqualsOne) {
  // One state, 3 positions, 4 codes: position 0 revealed with token 2, positions 1-2 remain.
  auto logits = torch::tensor({{{1.0, 0.5, 2.0, -1.0}, {0.2, 0.1, 0.0, -0.3}, {3.0, -2.0, 0.5, 0.1}}},
                              torch::kDouble).requires_grad_(true);
  auto logp = torch::log_softmax(logits, -1);
  auto tokens = torch::tensor({{2, 0, 0}}, torch::kLong);
  auto revealed = torch::tensor({{true, false, false}});
  auto remaining = torch::tensor({{false, true, true}});
  auto c = logp.exp()[0][0][2].detach().unsqueeze(0);  // c_t = p_0(y_0)
  auto out = ComputeStepLogProbs(logp, tokens, revealed, remaining, c);
  auto second = out.candidate1 - out.candidate2;
  // By hand: sum over remaining i of log sum_k p_i(k) * sigmoid((log c - log p_i(k)) / s),
  // the soft form of log sum_{k: p_i(k) < c} p_i(k).
  auto p = logp.exp().detach()[0];
  const double s = kCandidate1ThresholdSoftness;
  auto by_hand = [&](double cut) {
    double total = 0;
    for (int i = 1; i <= 2; ++i) {
      double mass = 0;
      for (int k = 0; k < 4; ++k) {
        double pk = p[i][k].item<double>();
        mass += pk / (1.0 + std::exp(-(std::log(cut) - std::log(pk)) / s));
      }
      total += std::log(mass);
    }
    return total;
  };
  EXPECT_NEAR(second.item<double>(), by_hand(c.item<double>()), 1e-9);
  // Far from the edge the soft set is the hard one: here every p_i(k) is at least 0.1 nats from c.
  double hard = 0;
  for (int i = 1; i <= 2; ++i) {
    double mass = 0;
    for (int k = 0; k < 4; ++k) if (p[i][k].item<double>() < c.item<double>()) mass += p[i][k].item<double>();
    hard += std::log(mass);
  }
  EXPECT_NEAR(second.item<double>(), hard, 1e-3);
  EXPECT_LT(second.item<double>(), -0.5);
  second.sum().backward();
  EXPECT_GT(logits.grad().abs().sum().item<double>(), 1e-6);
  // The authors' defect: c_t stored as a bool becomes 1.0, every p < 1 qualifies, and the
  // term collapses to about log(1) = 0 (candidate1 == candidate2 up to the soft edge).
  auto degenerate = ComputeStepLogProbs(logp.detach(), tokens, revealed, remaining, torch::ones({1}, torch::kDouble));
  auto vanished = (degenerate.candidate1 - degenerate.candidate2).item<double>();
  EXPECT_NEAR(vanished, by_hand(1.0), 1e-9);
  EXPECT_GT(vanished, -0.01);
}

// The noise edge's premise, checked by simulation: with confidences log p + tau g and
// independent standard Gumbel g on both sides, a token of probability p ranks below one of
// probability c with chance sigmoid((log c - log p) / tau).
TEST(TransitionTest, TheNoiseEdgeIsTheChanceOfRankingBelowUnderGumbelNoise) {
  auto gen = at::detail::createCPUGenerator(9);
  const int64_t n = 400000;
  auto gumbel = [&] { return -torch::log(-torch::log(torch::rand({n}, gen, torch::kDouble).clamp(1e-300, 1.0))); };
  for (double tau : {0.9, 0.5, 0.1}) {
    for (double ratio : {0.5, 1.0, 2.0}) {  // p / c
      const double log_c = std::log(0.2), log_p = log_c + std::log(ratio);
      const double simulated = (log_p + tau * gumbel() < log_c + tau * gumbel()).to(torch::kDouble).mean().item<double>();
      const double logistic = 1.0 / (1.0 + std::exp(-(log_c - log_p) / tau));
      EXPECT_NEAR(simulated, logistic, 0.004) << "tau " << tau << " p/c " << ratio;
    }
  }
  // The widths: tau_t at early steps, floored at the fixed width late, fixed when asked.
  EXPECT_DOUBLE_EQ(Candidate1EdgeWidth(Candidate1Edge::kNoise, 1.0, 16, 0), GumbelTemperature(1.0, 16, 0));
  EXPECT_GT(Candidate1EdgeWidth(Candidate1Edge::kNoise, 1.0, 16, 0), 0.5);
  EXPECT_DOUBLE_EQ(Candidate1EdgeWidth(Candidate1Edge::kNoise, 1.0, 16, 15), kCandidate1ThresholdSoftness);
  EXPECT_DOUBLE_EQ(Candidate1EdgeWidth(Candidate1Edge::kFixed, 1.0, 16, 0), kCandidate1ThresholdSoftness);
  EXPECT_FALSE(ParseCandidate1Edge("soft").ok());
}

}  // namespace
}  // namespace maskgrpo
