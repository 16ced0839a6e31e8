// The learner on a tiny model: finite-difference gradients of every transition definition
// and of the loss (float64), candidate1's second term, on-policy ratios, group validation
// and checkpoints.
#include "core/grpo/learner.h"

#include <gtest/gtest.h>
#include "core/torch_api.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "core/sampler.h"
#include "core/testing/tiny_model.h"

namespace maskgrpo::grpo {
namespace {

constexpr int64_t kG = 4;

class LearnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = testing::TinyConfig(/*image_len=*/12, /*codes=*/10);
    uncond_ = testing::TinyPrompts(1, config_.text_len, 1, 9);
  }
  std::unique_ptr<MaskedTransformer> Model(const std::string& dtype, uint64_t seed = 3) {
    return std::move(MaskedTransformer::Create(config_, {"cpu", dtype}, seed)).value();
  }
  // Two groups of kG samples from `model`.
  std::vector<ScoredGroup> Groups(const MaskedTransformer& model, double guidance, uint64_t seed = 11) {
    std::vector<ScoredGroup> out;
    for (int g = 0; g < 2; ++g) {
      auto prompt = testing::TinyPrompts(1, config_.text_len, 3, seed + g);
      SampleOptions so;
      so.steps = 4;
      so.guidance = guidance;
      so.seed = seed * 31 + g;
      PromptBatch rep{prompt.text_ids.expand({kG, -1}).contiguous(), prompt.text_valid.expand({kG, -1}).contiguous()};
      ScoredGroup sg;
      sg.prompt = prompt;
      sg.trajectories = std::move(SampleTrajectories(model, rep, uncond_, so)).value();
      for (int64_t i = 0; i < kG; ++i) sg.rewards.push_back(0.1 * ((i * 7 + g * 3) % 5));
      out.push_back(std::move(sg));
    }
    return out;
  }
  ModelConfig config_;
  PromptBatch uncond_;
};

// Directional derivative check: (f(p + eps v) - f(p - eps v)) / 2 eps == grad f . v.
void ExpectGradientMatchesFiniteDifference(const MaskedTransformer& model, const std::function<torch::Tensor()>& f,
                                           const std::string& what) {
  auto params = model.Parameters();
  for (auto& p : params) p.mutable_grad() = torch::Tensor();
  f().backward();
  auto gen = at::detail::createCPUGenerator(5);
  std::vector<torch::Tensor> dirs;
  double analytic = 0;
  for (auto& p : params) {
    dirs.push_back(torch::randn(p.sizes(), gen, torch::kDouble));
    ASSERT_TRUE(p.grad().defined()) << what;
    analytic += (p.grad() * dirs.back()).sum().item<double>();
  }
  const double eps = 1e-6;
  auto shift = [&](double s) {
    torch::NoGradGuard g;
    for (size_t i = 0; i < params.size(); ++i) params[i].add_(dirs[i] * s);
  };
  double plus, minus;
  {
    torch::NoGradGuard g;
    shift(eps);
    plus = f().item<double>();
    shift(-2 * eps);
    minus = f().item<double>();
    shift(eps);
  }
  const double numeric = (plus - minus) / (2 * eps);
  EXPECT_NEAR(analytic, numeric, 1e-5 * std::max(1.0, std::abs(numeric))) << what;
  EXPECT_GT(std::abs(analytic), 1e-6) << what << ": gradient vanished";
}

TEST_F(LearnerTest, TransitionGradientsMatchFiniteDifferences) {
  auto model = Model("float64");
  auto groups = Groups(*model, /*guidance=*/1.5);
  const auto& g = groups[0];
  PromptBatch rep{g.prompt.text_ids.expand({kG, -1}), g.prompt.text_valid.expand({kG, -1})};
  auto weights = torch::randn({kG, 4}, at::detail::createCPUGenerator(2), torch::kDouble);
  for (Transition tr : {Transition::kCandidate1, Transition::kCandidate2, Transition::kFull}) {
    auto f = [&] {
      auto lp = std::move(ReplayStepLogProbs(*model, rep, uncond_, g.trajectories, {0, 1, 2, 3}, 1.5)).value();
      return (lp.Get(tr) * weights).sum();
    };
    ExpectGradientMatchesFiniteDifference(*model, f, TransitionName(tr));
  }
}

TEST_F(LearnerTest, RemaskLikelihoodMatchesByHandAndItsGradientFiniteDifferences) {
  auto model = Model("float64");
  auto groups = Groups(*model, /*guidance=*/1.5);
  const auto& g = groups[0];
  PromptBatch rep{g.prompt.text_ids.expand({kG, -1}), g.prompt.text_valid.expand({kG, -1})};
  const int64_t S = 3, N = config_.image_len;
  auto masks = DrawRemasks(kG, S, N, 17);
  // Deterministic, every draw masks 1..N positions, and the draws differ.
  EXPECT_TRUE(torch::equal(masks, DrawRemasks(kG, S, N, 17)));
  EXPECT_FALSE(torch::equal(masks, DrawRemasks(kG, S, N, 18)));
  auto counts = masks.sum(-1);
  EXPECT_GE(counts.min().item<int64_t>(), 1);
  EXPECT_LE(counts.max().item<int64_t>(), N);
  torch::Tensor entropy;
  auto lp = RemaskLogProbs(*model, rep, uncond_, g.trajectories.tokens, masks, 1.5, false, &entropy);
  ASSERT_TRUE(lp.ok()) << lp.status().ToString();
  ASSERT_EQ(lp->sizes(), (std::vector<int64_t>{kG, S}));
  EXPECT_TRUE(entropy.gt(0).all().item<bool>());
  // By hand, one draw at a time: the masked state's guided log-probabilities of the true tokens.
  for (int64_t b = 0; b < kG; b += 3)
    for (int64_t s = 0; s < S; ++s) {
      auto m = masks[b][s];
      auto tokens = g.trajectories.tokens[b];
      auto state = torch::where(m, torch::full({}, -1, tokens.options()), tokens).unsqueeze(0);
      auto logp = ImageLogProbs(*model, PromptBatch{rep.text_ids.slice(0, b, b + 1), rep.text_valid.slice(0, b, b + 1)},
                                uncond_, state, 1.5)[0];
      double expected = 0;
      for (int64_t i = 0; i < N; ++i)
        if (m[i].item<bool>()) expected += logp[i][tokens[i].item<int64_t>()].item<double>();
      EXPECT_NEAR((*lp)[b][s].item<double>(), expected, 1e-9) << b << "," << s;
    }
  auto weights = torch::randn({kG, S}, at::detail::createCPUGenerator(2), torch::kDouble);
  ExpectGradientMatchesFiniteDifference(
      *model, [&] { return (std::move(RemaskLogProbs(*model, rep, uncond_, g.trajectories.tokens, masks, 1.5)).value() * weights).sum(); },
      "remask");
  EXPECT_FALSE(RemaskLogProbs(*model, rep, uncond_, g.trajectories.tokens, masks.select(1, 0), 1.5).ok());
}

TEST_F(LearnerTest, LossGradientMatchesFiniteDifferences) {
  auto model = Model("float64");
  auto reference = Model("float64", /*seed=*/8);
  auto groups = Groups(*model, 0.0);
  const auto& g = groups[1];
  PromptBatch rep{g.prompt.text_ids.expand({kG, -1}), g.prompt.text_valid.expand({kG, -1})};
  std::vector<int64_t> steps{1, 3};
  auto idx = torch::tensor(steps, torch::kLong);
  // Behaviour log-probs a little away from the current ones, inside the clip range, so the
  // check does not sit on a kink.
  auto offsets = torch::rand({kG, 2}, at::detail::createCPUGenerator(4), torch::kDouble) * 0.05 - 0.025;
  auto adv = torch::tensor(std::move(GroupAdvantages(g.rewards, kG, {})).value(), torch::kDouble);
  for (auto [reduce, weight] : {std::pair{StepReduce::kSum, StepWeight::kEqual}, std::pair{StepReduce::kMean, StepWeight::kEqual},
                                 std::pair{StepReduce::kMean, StepWeight::kTokens}}) {
    GrpoLossOptions o;
    o.kl_beta = 0.3;
    o.reduce = reduce;
    o.weight = weight;
    auto counts = StepTokenCounts(g.trajectories, steps, Transition::kCandidate1);
    auto old_lp = g.trajectories.logp_candidate1.index_select(1, idx).to(torch::kDouble) +
                  offsets * (reduce == StepReduce::kMean ? counts.to(torch::kDouble) : torch::ones_like(offsets));
    auto ref = std::move(ReplayStepLogProbs(*reference, rep, uncond_, g.trajectories, steps, 0.0)).value().candidate1.detach();
    auto f = [&] {
      auto lp = std::move(ReplayStepLogProbs(*model, rep, uncond_, g.trajectories, steps, 0.0)).value();
      return GrpoLoss(lp.candidate1, old_lp, adv, counts, ref, o).loss;
    };
    ExpectGradientMatchesFiniteDifference(*model, f, std::string("loss/") + StepReduceName(reduce) + "/" +
                                                         StepWeightName(weight));
  }
}

TEST_F(LearnerTest, Candidate1SecondTermIsNonZeroWithAGradientAndVanishesAtCOne) {
  auto model = Model("float32");
  auto groups = Groups(*model, 0.0);
  const auto& g = groups[0];
  PromptBatch rep{g.prompt.text_ids.expand({kG, -1}), g.prompt.text_valid.expand({kG, -1})};
  auto lp = std::move(ReplayStepLogProbs(*model, rep, uncond_, g.trajectories, {0, 1, 2}, 0.0)).value();
  auto second = (lp.candidate1 - lp.candidate2).sum();
  EXPECT_LT(second.item<double>(), -1e-3);
  second.backward();
  double grad_sq = 0;
  for (const auto& p : model->Parameters()) {
    if (p.grad().defined()) grad_sq += p.grad().pow(2).sum().item<double>();
  }
  EXPECT_GT(grad_sq, 1e-12);
  // With c_t = 1 (what a boolean buffer turns every c_t into) the term is log 1 = 0: the
  // authors' defect. The real c_t must not be that.
  torch::NoGradGuard no_grad;
  auto state = StateBeforeStep(g.trajectories, 1);
  auto logp = ImageLogProbs(*model, rep, uncond_, state, 0.0);
  auto revealed = g.trajectories.reveal_step == 1, remaining = g.trajectories.reveal_step > 1;
  auto at_one = ComputeStepLogProbs(logp, g.trajectories.tokens, revealed, remaining, torch::ones({kG}));
  EXPECT_LT((at_one.candidate1 - at_one.candidate2).abs().max().item<double>(), 1e-4);
  EXPECT_TRUE((g.trajectories.min_revealed_prob < 0.99).all().item<bool>());
}

// detach_unconditional keeps the guided values and drops only the unconditional path of
// the gradient: it must equal the gradient of log_softmax((1 + w) cond - w uncond) with the
// unconditional log-probabilities held constant (softmax ignores per-position constants,
// so log-probabilities stand in for logits), and differ from the plain gradient.
TEST_F(LearnerTest, DetachedUnconditionalKeepsValuesAndOnlyTheConditionalGradient) {
  auto model = Model("float64");
  auto groups = Groups(*model, 2.0);
  const auto& g = groups[0];
  const double w = 2.0;
  PromptBatch rep{g.prompt.text_ids.expand({kG, -1}), g.prompt.text_valid.expand({kG, -1})};
  PromptBatch un_rep{uncond_.text_ids.expand({kG, -1}), uncond_.text_valid.expand({kG, -1})};
  auto state = StateBeforeStep(g.trajectories, 1);
  auto picked = [&](const torch::Tensor& logp) { return logp.gather(2, g.trajectories.tokens.unsqueeze(2)).sum(); };
  auto gradient = [&](const std::function<torch::Tensor()>& f, double* value) {
    for (auto& p : model->Parameters()) p.mutable_grad() = torch::Tensor();
    auto v = f();
    v.backward();
    *value = v.item<double>();
    std::vector<torch::Tensor> out;
    for (const auto& p : model->Parameters()) out.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
    return out;
  };
  double v_plain, v_detached, v_expected;
  auto plain = gradient([&] { return picked(ImageLogProbs(*model, rep, uncond_, state, w)); }, &v_plain);
  auto detached =
      gradient([&] { return picked(ImageLogProbs(*model, rep, uncond_, state, w, 1.0, true)); }, &v_detached);
  auto expected = gradient(
      [&] {
        auto cond = ImageLogProbs(*model, rep, uncond_, state, 0.0);
        auto un = ImageLogProbs(*model, un_rep, uncond_, state, 0.0).detach();
        return picked(torch::log_softmax(GuidedLogits(cond, un, w), -1));
      },
      &v_expected);
  EXPECT_NEAR(v_detached, v_plain, 1e-9);
  EXPECT_NEAR(v_expected, v_plain, 1e-9);
  double diff_expected = 0, diff_plain = 0, norm = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    diff_expected += (detached[i] - expected[i]).pow(2).sum().item<double>();
    diff_plain += (detached[i] - plain[i]).pow(2).sum().item<double>();
    norm += detached[i].pow(2).sum().item<double>();
  }
  EXPECT_GT(norm, 1e-8);
  EXPECT_LT(diff_expected, 1e-18 + 1e-12 * norm);
  EXPECT_GT(diff_plain, 1e-4 * norm);  // the unconditional path carries real gradient
}

TEST_F(LearnerTest, OnPolicyRatioIsOne) {
  for (Transition tr : {Transition::kCandidate1, Transition::kCandidate2, Transition::kFull, Transition::kRemask}) {
    auto model = Model("float32");
    auto groups = Groups(*model, 2.0);
    LearnerOptions o;
    o.transition = tr;
    o.guidance = 2.0;
    o.minibatches = 1;
    o.micro_batch = 3;  // chunks that do not divide the batch
    auto learner = std::move(GrpoLearner::Create(std::move(model), nullptr, uncond_, o)).value();
    auto stats = learner->Update(groups);
    ASSERT_TRUE(stats.ok()) << stats.status().ToString();
    EXPECT_NEAR(stats->ratio_mean, 1.0, 1e-5) << TransitionName(tr);
    EXPECT_LT(stats->approx_kl, 1e-8) << TransitionName(tr);
    EXPECT_EQ(stats->clip_fraction, 0.0) << TransitionName(tr);
    EXPECT_GT(stats->grad_norm, 0.0) << TransitionName(tr);
    EXPECT_EQ(learner->version(), 1);
  }
}

// The default objective (remask, every re-masked token weighing the same): one update must
// raise the per-token likelihood of the images with positive advantages against those with
// negative ones, judged under re-masking draws the update never saw.
TEST_F(LearnerTest, DefaultRemaskUpdateFavoursTheRewardedImages) {
  auto groups = Groups(*Model("float64"), 2.0);
  LearnerOptions o;
  o.transition = Transition::kRemask;
  o.loss.reduce = StepReduce::kMean;
  o.loss.weight = StepWeight::kTokens;
  o.guidance = 2.0;
  o.minibatches = 1;
  o.warmup_updates = 0;
  o.adamw.learning_rate = 3e-3;
  auto learner = std::move(GrpoLearner::Create(Model("float64"), nullptr, uncond_, o)).value();
  auto before = Model("float64");  // the same seed: the learner's initial weights
  const int64_t S = 16, N = config_.image_len;
  auto per_token = [&](const MaskedTransformer& m, const ScoredGroup& g, const torch::Tensor& masks) {
    torch::NoGradGuard no_grad;
    PromptBatch rep{g.prompt.text_ids.expand({kG, -1}), g.prompt.text_valid.expand({kG, -1})};
    auto lp = std::move(RemaskLogProbs(m, rep, uncond_, g.trajectories.tokens, masks, 2.0)).value();
    return (lp.sum(1) / masks.sum({1, 2}).to(torch::kDouble));  // [kG] mean log-prob per masked token
  };
  std::vector<torch::Tensor> masks;
  std::vector<torch::Tensor> old_lp;
  for (size_t g = 0; g < groups.size(); ++g) {
    masks.push_back(DrawRemasks(kG, S, N, 1000 + g));
    old_lp.push_back(per_token(*before, groups[g], masks.back()));
  }
  auto stats = learner->Update(groups);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  double aligned = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    auto r = torch::tensor(groups[g].rewards, torch::kDouble);
    auto adv = (r - r.mean()) / r.std();
    auto delta = per_token(learner->policy(), groups[g], masks[g]) - old_lp[g];
    aligned += (adv * delta).sum().item<double>();
    // Within each group the best image gained more likelihood than the worst.
    EXPECT_GT(delta[r.argmax()].item<double>(), delta[r.argmin()].item<double>()) << "group " << g;
  }
  EXPECT_GT(aligned, 0.0);
}

TEST_F(LearnerTest, OnPolicyRatioIsOneWithTheNoiseEdge) {
  auto model = Model("float32");
  std::vector<ScoredGroup> groups;
  for (int g = 0; g < 2; ++g) {
    auto prompt = testing::TinyPrompts(1, config_.text_len, 3, 20 + g);
    SampleOptions so;
    so.steps = 4;
    so.guidance = 2.0;
    so.gumbel_tau0 = 0.8;
    so.seed = 77 + g;
    so.candidate1_edge = Candidate1Edge::kNoise;
    PromptBatch rep{prompt.text_ids.expand({kG, -1}).contiguous(), prompt.text_valid.expand({kG, -1}).contiguous()};
    ScoredGroup sg;
    sg.prompt = prompt;
    sg.trajectories = std::move(SampleTrajectories(*model, rep, uncond_, so)).value();
    for (int64_t i = 0; i < kG; ++i) sg.rewards.push_back(0.1 * ((i * 5 + g) % 4));
    groups.push_back(std::move(sg));
  }
  for (Candidate1Edge edge : {Candidate1Edge::kNoise, Candidate1Edge::kFixed}) {
    LearnerOptions o;
    o.transition = Transition::kCandidate1;
    o.guidance = 2.0;
    o.gumbel_tau0 = 0.8;
    o.candidate1_edge = edge;
    o.minibatches = 1;
    auto learner = std::move(GrpoLearner::Create(Model("float32"), nullptr, uncond_, o)).value();
    auto stats = learner->Update(groups);
    ASSERT_TRUE(stats.ok()) << stats.status().ToString();
    if (edge == Candidate1Edge::kNoise) {
      EXPECT_NEAR(stats->ratio_mean, 1.0, 1e-5);
      EXPECT_LT(stats->approx_kl, 1e-8);
    } else {
      // A learner replaying the other edge sees off-policy ratios: the settings must match.
      EXPECT_GT(stats->approx_kl, 1e-4);
    }
  }
}

TEST_F(LearnerTest, MicroBatchesGiveTheSameUpdate) {
  std::vector<torch::Tensor> weights;
  for (int64_t micro : {8, 3}) {
    auto model = Model("float64");
    auto groups = Groups(*model, 0.0);
    LearnerOptions o;
    o.minibatches = 1;
    o.micro_batch = micro;
    auto learner = std::move(GrpoLearner::Create(std::move(model), nullptr, uncond_, o)).value();
    ASSERT_TRUE(learner->Update(groups).ok());
    weights.push_back(learner->policy().Parameters()[0].detach().clone());
  }
  EXPECT_TRUE(torch::allclose(weights[0], weights[1], 1e-10, 1e-12));
}

TEST(DealMinibatchesTest, EverySampleOnceAndWholeGroupsWhenAsked) {
  auto gen = at::detail::createCPUGenerator(5);
  for (bool whole : {false, true}) {
    const int64_t G = 4, groups = 6, B = G * groups;
    auto dealt = DealMinibatches(B, G, 3, whole, gen);
    ASSERT_EQ(dealt.size(), 3u);
    std::vector<int> seen(B, 0);
    for (const auto& rows : dealt) {
      EXPECT_EQ(rows.size(), 8u);
      std::map<int64_t, int> per_group;
      for (int64_t r : rows) ++seen[r], ++per_group[r / G];
      if (whole) {
        for (const auto& [g, n] : per_group) EXPECT_EQ(n, G) << "group " << g << " split across minibatches";
      }
    }
    for (int64_t r = 0; r < B; ++r) EXPECT_EQ(seen[r], 1) << r;
  }
  // A permutation of samples splits groups (with overwhelming probability for this seed).
  auto dealt = DealMinibatches(24, 4, 3, false, gen);
  bool split = false;
  for (const auto& rows : dealt) {
    std::map<int64_t, int> per_group;
    for (int64_t r : rows) ++per_group[r / 4];
    for (const auto& [g, n] : per_group) split = split || n != 4;
  }
  EXPECT_TRUE(split);
  // Fewer groups than minibatches: one minibatch per group.
  EXPECT_EQ(DealMinibatches(8, 4, 3, true, gen).size(), 2u);
}

TEST_F(LearnerTest, GroupMinibatchesTrainAndReportEntropy) {
  auto model = Model("float32");
  auto groups = Groups(*model, 2.0);
  LearnerOptions o;
  o.guidance = 2.0;
  o.minibatches = 2;
  o.group_minibatches = true;
  auto learner = std::move(GrpoLearner::Create(std::move(model), nullptr, uncond_, o)).value();
  auto stats = learner->Update(groups);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->optimizer_steps, std::min<int64_t>(2, static_cast<int64_t>(groups.size())));
  // A random model over K codes: the entropy is positive and at most log K.
  EXPECT_GT(stats->entropy, 0.0);
  EXPECT_LE(stats->entropy, std::log(static_cast<double>(config_.num_image_codes)) + 1e-6);
}

TEST_F(LearnerTest, BadGroupsAreRejectedAndChangeNothing) {
  auto model = Model("float32");
  auto good = Groups(*model, 0.0);
  auto learner = std::move(GrpoLearner::Create(std::move(model), nullptr, uncond_, {})).value();
  auto before = learner->policy().Parameters()[0].detach().clone();
  auto expect_rejected = [&](const std::function<void(ScoredGroup&)>& corrupt, const std::string& field) {
    auto groups = good;
    groups[1].trajectories.tokens = groups[1].trajectories.tokens.clone();
    groups[1].trajectories.reveal_step = groups[1].trajectories.reveal_step.clone();
    groups[1].trajectories.logp_candidate1 = groups[1].trajectories.logp_candidate1.clone();
    corrupt(groups[1]);
    auto st = learner->Update(groups);
    ASSERT_FALSE(st.ok()) << field;
    EXPECT_NE(st.status().message().find(field), std::string::npos) << st.status().message();
    EXPECT_EQ(learner->version(), 0);
    EXPECT_TRUE(torch::equal(before, learner->policy().Parameters()[0]));
  };
  expect_rejected([](ScoredGroup& g) { g.rewards[2] = NAN; }, "rewards");
  expect_rejected([](ScoredGroup& g) { g.rewards.pop_back(); }, "rewards");
  expect_rejected([&](ScoredGroup& g) { g.trajectories.tokens[0][0] = config_.num_image_codes; }, "tokens");
  expect_rejected([](ScoredGroup& g) { g.trajectories.tokens[1][2] = -1; }, "tokens");
  expect_rejected([](ScoredGroup& g) { g.trajectories.reveal_step[0][0] = 9; }, "reveal_step");
  expect_rejected([](ScoredGroup& g) { g.trajectories.logp_candidate1[0][0] = INFINITY; }, "behaviour log-probs");
  expect_rejected([](ScoredGroup& g) { g.policy_version = 3; }, "policy_version");
  expect_rejected([](ScoredGroup& g) { g.prompt.text_ids = torch::zeros({1, 2}, torch::kLong); }, "text_ids");
}

TEST_F(LearnerTest, CheckpointRestoresWeightsOptimizerAndVersion) {
  const std::string dir = ::testing::TempDir() + "/learner_ckpt";
  std::filesystem::remove_all(dir);
  LearnerOptions o;
  o.minibatches = 1;
  auto model = Model("float64");
  auto groups = Groups(*model, 0.0);
  auto a = std::move(GrpoLearner::Create(std::move(model), nullptr, uncond_, o)).value();
  ASSERT_TRUE(a->Update(groups).ok());
  ASSERT_TRUE(a->SaveCheckpoint(dir).ok());
  // b: a fresh learner restored from the checkpoint; both then take the same update.
  auto b = std::move(GrpoLearner::Create(Model("float64", 99), nullptr, uncond_, o)).value();
  ASSERT_TRUE(b->LoadCheckpoint(dir).ok());
  EXPECT_EQ(b->version(), 1);
  ASSERT_TRUE(a->Update(groups).ok());
  ASSERT_TRUE(b->Update(groups).ok());
  auto pa = a->policy().Parameters(), pb = b->policy().Parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << i;
  // A corrupt checkpoint is an error and leaves the learner as it was.
  {
    std::ofstream(dir + "/learner.json") << "{\"version\": -2}";
  }
  auto before = b->policy().Parameters()[0].detach().clone();
  EXPECT_FALSE(b->LoadCheckpoint(dir).ok());
  EXPECT_EQ(b->version(), 2);
  {
    std::ofstream(dir + "/learner.json") << "{\"version\": 1}";
    std::ofstream(dir + "/optimizer.pt") << "not a torch archive";
  }
  EXPECT_FALSE(b->LoadCheckpoint(dir).ok());
  EXPECT_EQ(b->version(), 2);
  EXPECT_TRUE(torch::equal(before, b->policy().Parameters()[0]));
}

// The moving average follows ema = d * ema + (1 - d) * policy after every update, starting
// from the initial weights, is kept in float32 for a bfloat16 policy, and travels with the
// checkpoint; a checkpoint without it does not resume a learner that keeps one.
TEST_F(LearnerTest, MovingAverageFollowsThePolicyAndResumes) {
  LearnerOptions o;
  o.minibatches = 1;
  o.ema_decay = 0.75;
  auto model = Model("float64");
  auto groups = Groups(*model, 0.0);
  std::vector<torch::Tensor> expected;
  for (const auto& p : model->Parameters()) expected.push_back(p.detach().clone());
  auto a = std::move(GrpoLearner::Create(std::move(model), nullptr, uncond_, o)).value();
  ASSERT_NE(a->ema(), nullptr);
  for (int u = 0; u < 2; ++u) {
    ASSERT_TRUE(a->Update(groups).ok());
    const auto now = a->policy().Parameters();
    for (size_t i = 0; i < expected.size(); ++i) expected[i] = 0.75 * expected[i] + 0.25 * now[i].detach();
  }
  {
    const auto ema = a->ema()->Parameters(), policy = a->policy().Parameters();
    size_t differ = 0;
    for (size_t i = 0; i < ema.size(); ++i) {
      EXPECT_TRUE(torch::allclose(ema[i], expected[i], 1e-12, 1e-14)) << i;
      EXPECT_FALSE(ema[i].requires_grad()) << i;
      differ += torch::equal(ema[i], policy[i]) ? 0 : 1;
    }
    EXPECT_GT(differ, ema.size() / 2) << "the average equals the policy: it is not averaging";
  }

  const std::string dir = ::testing::TempDir() + "/learner_ema_ckpt";
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(a->SaveCheckpoint(dir).ok());
  ASSERT_TRUE(std::filesystem::exists(dir + "/ema.safetensors"));
  auto b = std::move(GrpoLearner::Create(Model("float64", 99), nullptr, uncond_, o)).value();
  ASSERT_TRUE(b->LoadCheckpoint(dir).ok());
  ASSERT_TRUE(a->Update(groups).ok());
  ASSERT_TRUE(b->Update(groups).ok());
  const auto ea = a->ema()->Parameters(), eb = b->ema()->Parameters();
  for (size_t i = 0; i < ea.size(); ++i) EXPECT_TRUE(torch::equal(ea[i], eb[i])) << i;

  // A learner without the average ignores the file; one with it refuses a checkpoint that
  // lacks it, names the file, and stays as it was.
  LearnerOptions off = o;
  off.ema_decay = 0;
  auto c = std::move(GrpoLearner::Create(Model("float64", 99), nullptr, uncond_, off)).value();
  EXPECT_EQ(c->ema(), nullptr);
  EXPECT_TRUE(c->LoadCheckpoint(dir).ok());
  std::filesystem::remove(dir + "/ema.safetensors");
  auto d = std::move(GrpoLearner::Create(Model("float64", 99), nullptr, uncond_, o)).value();
  const auto d_before = d->ema()->Parameters()[0].detach().clone();
  const Status st = d->LoadCheckpoint(dir);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("ema.safetensors"), std::string::npos) << st.message();
  EXPECT_EQ(d->version(), 0);
  EXPECT_TRUE(torch::equal(d_before, d->ema()->Parameters()[0]));

  // bfloat16 policy: the average is float32.
  auto e = std::move(GrpoLearner::Create(Model("bfloat16"), nullptr, uncond_, o)).value();
  EXPECT_EQ(e->ema()->dtype(), at::kFloat);
  for (double bad : {-0.1, 1.0, std::nan("")}) {
    LearnerOptions b_o = o;
    b_o.ema_decay = bad;
    EXPECT_FALSE(ValidateLearnerOptions(b_o).ok()) << bad;
  }
}

TEST_F(LearnerTest, FrozenParametersStayWhileTheOthersTrain) {
  auto model = Model("float32");
  auto groups = Groups(*model, 2.0);
  LearnerOptions o;
  o.guidance = 2.0;
  o.frozen_parameters = {"^model[.]embed_tokens[.]", "^lm_head[.]bias$"};
  std::map<std::string, torch::Tensor> before;
  for (const auto& [name, p] : model->NamedParameters()) before[name] = p.detach().clone();
  auto learner = std::move(GrpoLearner::Create(std::move(model), nullptr, uncond_, o)).value();
  EXPECT_EQ(learner->frozen_names(), (std::vector<std::string>{"model.embed_tokens.weight", "lm_head.bias"}));
  auto stats = learner->Update(groups);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  int changed = 0;
  for (const auto& [name, p] : learner->policy().NamedParameters()) {
    const bool frozen = name == "model.embed_tokens.weight" || name == "lm_head.bias";
    if (frozen) {
      EXPECT_TRUE(torch::equal(p, before[name])) << name << " is frozen but moved";
    } else {
      changed += torch::equal(p, before[name]) ? 0 : 1;
    }
  }
  EXPECT_GT(changed, 10) << "the trainable parameters did not move";

  // A checkpoint of a run with frozen parameters does not load into a learner that freezes
  // others (its optimiser state covers other parameters), and the learner stays as it was.
  const std::string dir = ::testing::TempDir() + "/learner_frozen_ckpt";
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(learner->SaveCheckpoint(dir).ok());
  LearnerOptions other = o;
  other.frozen_parameters = {"^model[.]embed_tokens[.]"};
  auto b = std::move(GrpoLearner::Create(Model("float32", 99), nullptr, uncond_, other)).value();
  auto b_before = b->policy().Parameters()[3].detach().clone();
  EXPECT_FALSE(b->LoadCheckpoint(dir).ok());
  EXPECT_EQ(b->version(), 0);
  EXPECT_TRUE(torch::equal(b_before, b->policy().Parameters()[3]));
  // The same frozen set resumes.
  auto c = std::move(GrpoLearner::Create(Model("float32", 99), nullptr, uncond_, o)).value();
  EXPECT_TRUE(c->LoadCheckpoint(dir).ok());
  EXPECT_EQ(c->version(), 1);
}

TEST_F(LearnerTest, FrozenParameterPatternsAreChecked) {
  auto expect_error = [&](std::vector<std::string> patterns, const std::string& needle) {
    LearnerOptions o;
    o.frozen_parameters = std::move(patterns);
    auto l = GrpoLearner::Create(Model("float32"), nullptr, uncond_, o);
    ASSERT_FALSE(l.ok()) << needle;
    EXPECT_EQ(l.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(l.status().message().find(needle), std::string::npos) << l.status().message();
  };
  expect_error({"(unclosed"}, "'(unclosed' is not a valid regular expression");
  expect_error({"^embed_tokens"}, "'^embed_tokens' matches no parameter");
  expect_error({"."}, "freezes every parameter");
}

}  // namespace
}  // namespace maskgrpo::grpo
