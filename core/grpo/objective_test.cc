// The GRPO objective's pieces on hand-built inputs: advantages, the clipped loss, KL,
// step subsets and token counts, the std filter and the .npy writer.
#include <gtest/gtest.h>
#include "core/torch_api.h"

#include <cmath>

#include "core/grpo/advantages.h"
#include "core/grpo/loss.h"
#include "core/grpo/npy.h"
#include "core/grpo/reduction.h"
#include "core/grpo/std_filter.h"

namespace maskgrpo::grpo {
namespace {

TEST(Advantages, GroupMeanAndUnbiasedStd) {
  // Group 1: {1, 2, 3, 4}: mean 2.5, unbiased std sqrt(5/3). Group 2: {0, 0, 0, 2}.
  auto adv = GroupAdvantages({1, 2, 3, 4, 0, 0, 0, 2}, 4, {1e-4, false});
  ASSERT_TRUE(adv.ok());
  const double s1 = std::sqrt(5.0 / 3.0), s2 = 1.0;  // {0,0,0,2}: mean .5, ss 3, /3 = 1
  EXPECT_NEAR((*adv)[0], -1.5 / (s1 + 1e-4), 1e-12);
  EXPECT_NEAR((*adv)[3], 1.5 / (s1 + 1e-4), 1e-12);
  EXPECT_NEAR((*adv)[4], -0.5 / (s2 + 1e-4), 1e-12);
  EXPECT_NEAR((*adv)[7], 1.5 / (s2 + 1e-4), 1e-12);
  // Whole-batch std: the same std for both groups, means still per group.
  auto batch = GroupAdvantages({1, 2, 3, 4, 0, 0, 0, 2}, 4, {1e-4, true});
  ASSERT_TRUE(batch.ok());
  const double sb = UnbiasedStd({1, 2, 3, 4, 0, 0, 0, 2});
  EXPECT_NEAR((*batch)[0], -1.5 / (sb + 1e-4), 1e-12);
  EXPECT_NEAR((*batch)[7], 1.5 / (sb + 1e-4), 1e-12);
  // A constant group gives zero advantages, not NaN.
  auto flat = GroupAdvantages({0.3, 0.3, 0.3}, 3, {});
  ASSERT_TRUE(flat.ok());
  for (double a : *flat) EXPECT_EQ(a, 0.0);
}

TEST(Advantages, NegativeScaleShrinksOnlyNegativeAdvantages) {
  // {1, 2, 3, 4}: advantages -1.5/s, -0.5/s, 0.5/s, 1.5/s with s = sqrt(5/3) + eps.
  auto adv = GroupAdvantages({1, 2, 3, 4}, 4, {1e-4, false, 0.25});
  ASSERT_TRUE(adv.ok());
  const double s = std::sqrt(5.0 / 3.0) + 1e-4;
  EXPECT_NEAR((*adv)[0], -0.25 * 1.5 / s, 1e-12);
  EXPECT_NEAR((*adv)[1], -0.25 * 0.5 / s, 1e-12);
  EXPECT_NEAR((*adv)[2], 0.5 / s, 1e-12);
  EXPECT_NEAR((*adv)[3], 1.5 / s, 1e-12);
  EXPECT_FALSE(GroupAdvantages({1, 2}, 2, {1e-4, false, -0.1}).ok());
  EXPECT_FALSE(GroupAdvantages({1, 2}, 2, {1e-4, false, 1.5}).ok());
  EXPECT_FALSE(GroupAdvantages({1, 2}, 2, {1e-4, false, NAN}).ok());
}

TEST(Advantages, RejectsBadInput) {
  EXPECT_FALSE(GroupAdvantages({1, 2, 3}, 2, {}).ok());
  EXPECT_FALSE(GroupAdvantages({1, 2}, 1, {}).ok());
  EXPECT_FALSE(GroupAdvantages({1, NAN}, 2, {}).ok());
  EXPECT_FALSE(GroupAdvantages({1, INFINITY}, 2, {}).ok());
  EXPECT_FALSE(GroupAdvantages({1, 2}, 2, {0.0, false}).ok());
}

torch::Tensor T2(std::vector<double> v, int64_t rows) {
  return torch::tensor(v, torch::kDouble).view({rows, -1});
}

TEST(GrpoLoss, MatchesAHandComputedValue) {
  // Two samples, two steps. Ratios exp(new - old):
  //   sample 0 (A = +1): e^0.1 = 1.10517 (inside [0.9, 1.2]); e^0.3 = 1.34986 (clipped to 1.2)
  //   sample 1 (A = -2): e^-0.2 = 0.81873 (below 0.9: clipped term -1.8 is the smaller? no:
  //     min(0.81873 * -2, 0.9 * -2) = min(-1.63746, -1.8) = -1.8); e^0 = 1 -> -2
  // loss = -mean(1.10517, 1.2, -1.8, -2) = -(-1.49483) / 4 = 0.3737
  auto old_lp = T2({-1.0, -2.0, -1.0, -3.0}, 2);
  auto new_lp = T2({-0.9, -1.7, -1.2, -3.0}, 2).requires_grad_(true);
  auto adv = torch::tensor({1.0, -2.0}, torch::kDouble);
  auto counts = T2({1, 1, 1, 1}, 2);
  auto r = GrpoLoss(new_lp, old_lp, adv, counts, {}, {});
  const double expected = -(std::exp(0.1) + 1.2 + -1.8 + -2.0) / 4.0;
  EXPECT_NEAR(r.loss.item<double>(), expected, 1e-12);
  EXPECT_NEAR(r.policy_loss, expected, 1e-12);
  EXPECT_DOUBLE_EQ(r.clip_fraction, 0.5);  // (0, 1) above the ceiling with A > 0; (1, 0) below the floor with A < 0
  EXPECT_EQ(r.kl, 0.0);
  // The gradient flows only through the unclipped terms: d/dnew = -A * ratio / 4.
  r.loss.backward();
  auto g = new_lp.grad();
  EXPECT_NEAR(g[0][0].item<double>(), -1.0 * std::exp(0.1) / 4.0, 1e-12);
  EXPECT_EQ(g[0][1].item<double>(), 0.0);
  EXPECT_EQ(g[1][0].item<double>(), 0.0);
  EXPECT_NEAR(g[1][1].item<double>(), 2.0 * 1.0 / 4.0, 1e-12);
}

TEST(GrpoLoss, ClipActsOnTheRightSide) {
  auto run = [](double log_ratio, double a) {
    auto old_lp = T2({0.0}, 1);
    auto new_lp = T2({log_ratio}, 1).requires_grad_(true);
    auto r = GrpoLoss(new_lp, old_lp, torch::tensor({a}, torch::kDouble), T2({1}, 1), {}, {});
    r.loss.backward();
    return std::make_pair(r.clip_fraction, new_lp.grad().item<double>());
  };
  // Positive advantage: clipped above 1 + 0.2, never below.
  EXPECT_EQ(run(std::log(1.3), 1.0), std::make_pair(1.0, 0.0));
  EXPECT_EQ(run(std::log(1.15), 1.0).first, 0.0);
  EXPECT_LT(run(std::log(0.5), 1.0).second, 0.0);  // still pushed up
  // Negative advantage: clipped below 1 - 0.1, never above.
  EXPECT_EQ(run(std::log(0.85), -1.0), std::make_pair(1.0, 0.0));
  EXPECT_EQ(run(std::log(0.95), -1.0).first, 0.0);
  EXPECT_GT(run(std::log(2.0), -1.0).second, 0.0);  // still pushed down
}

TEST(GrpoLoss, OnPolicyRatioIsOneAndKlIsZeroForIdenticalPolicies) {
  auto lp = T2({-3.0, -1.5, -0.2, -7.0}, 2);
  GrpoLossOptions o;
  o.kl_beta = 0.5;
  auto r = GrpoLoss(lp.clone().requires_grad_(true), lp, torch::tensor({0.7, -0.7}, torch::kDouble), T2({1, 1, 1, 1}, 2),
                    lp, o);
  EXPECT_DOUBLE_EQ(r.ratio_mean, 1.0);
  EXPECT_EQ(r.approx_kl, 0.0);
  EXPECT_EQ(r.kl, 0.0);
  EXPECT_EQ(r.clip_fraction, 0.0);
  // A different reference gives a positive KL: k3(d) = e^d - d - 1 with d = ref - new.
  auto ref = lp + T2({0.5, -0.5, 0.0, 0.0}, 2);
  auto r2 = GrpoLoss(lp.clone().requires_grad_(true), lp, torch::tensor({0.7, -0.7}, torch::kDouble),
                     T2({1, 1, 1, 1}, 2), ref, o);
  const double k3 = (std::exp(0.5) - 0.5 - 1 + std::exp(-0.5) + 0.5 - 1) / 4.0;
  EXPECT_NEAR(r2.kl, k3, 1e-12);
  EXPECT_GT(r2.kl, 0.0);
  EXPECT_NEAR(r2.loss.item<double>(), r2.policy_loss + 0.5 * k3, 1e-12);
}

TEST(GrpoLoss, MeanReductionDividesByTheStepsTokens) {
  auto old_lp = T2({-4.0, -10.0}, 1);
  auto new_lp = T2({-3.6, -10.0}, 1);
  GrpoLossOptions o;
  o.reduce = StepReduce::kMean;
  // Per-token log ratio 0.4 / 4 = 0.1 -> ratio e^0.1, unclipped (the sum would be clipped).
  auto r = GrpoLoss(new_lp, old_lp, torch::tensor({1.0}, torch::kDouble), T2({4, 5}, 1), {}, o);
  EXPECT_NEAR(r.policy_loss, -(std::exp(0.1) + 1.0) / 2.0, 1e-12);
  EXPECT_EQ(r.clip_fraction, 0.0);
  o.reduce = StepReduce::kSum;
  auto s = GrpoLoss(new_lp, old_lp, torch::tensor({1.0}, torch::kDouble), T2({4, 5}, 1), {}, o);
  EXPECT_EQ(s.clip_fraction, 0.5);
}

TEST(GrpoLoss, TokenWeightingWeighsEachStepByItsTokens) {
  // One sample (A = +1), two steps revealing 1 and 3 tokens, mean reduction. Log ratios per
  // token 0.05 and 0.02: ratios e^0.05 and e^0.02, both inside the clip range.
  auto old_lp = T2({-1.0, -6.0}, 1);
  auto new_lp = T2({-0.95, -5.94}, 1).requires_grad_(true);
  auto counts = T2({1, 3}, 1);
  GrpoLossOptions o;
  o.reduce = StepReduce::kMean;
  o.kl_beta = 0.5;
  auto ref = T2({-1.2, -6.3}, 1);  // per-token d = ref - new: -0.25, -0.12
  o.weight = StepWeight::kEqual;
  auto eq = GrpoLoss(new_lp, old_lp, torch::tensor({1.0}, torch::kDouble), counts, ref, o);
  EXPECT_NEAR(eq.policy_loss, -(std::exp(0.05) + std::exp(0.02)) / 2.0, 1e-12);
  o.weight = StepWeight::kTokens;
  auto tok = GrpoLoss(new_lp, old_lp, torch::tensor({1.0}, torch::kDouble), counts, ref, o);
  EXPECT_NEAR(tok.policy_loss, -(1 * std::exp(0.05) + 3 * std::exp(0.02)) / 4.0, 1e-12);
  auto k3 = [](double d) { return std::exp(d) - d - 1; };
  EXPECT_NEAR(tok.kl, (1 * k3(-0.25) + 3 * k3(-0.12)) / 4.0, 1e-12);
  EXPECT_NEAR(eq.kl, (k3(-0.25) + k3(-0.12)) / 2.0, 1e-12);
  // The policy term's gradient per step log-probability is -A ratio w / n: each of the 4
  // tokens then gets -A ratio / 4 with token weights, where equal weights give the lone
  // early token 3x a late token's (-e^0.05 / 2 against -e^0.02 / 6).
  tok.loss.backward();
  auto g = new_lp.grad().clone();
  const double dkl0 = 0.5 * (1 - std::exp(-0.25)) / 4.0, dkl1 = 0.5 * 3 * (1 - std::exp(-0.12)) / 3 / 4.0;
  EXPECT_NEAR(g[0][0].item<double>(), -std::exp(0.05) / 4.0 + dkl0, 1e-12);
  EXPECT_NEAR(g[0][1].item<double>(), -std::exp(0.02) / 4.0 + dkl1, 1e-12);
  EXPECT_FALSE(ParseStepWeight("token").ok());
  EXPECT_EQ(*ParseStepWeight("tokens"), StepWeight::kTokens);
  EXPECT_STREQ(StepWeightName(*ParseStepWeight("equal")), "equal");
}

TEST(GrpoLoss, PartsWeightedByPartWeightSumToTheWholeMinibatchLoss) {
  // Three samples with different token counts (a step subset), split into parts of 2 and 1
  // rows as the learner's micro-batches do: the weighted parts must equal the whole.
  auto gen = at::detail::createCPUGenerator(3);
  auto old_lp = -torch::rand({3, 2}, gen, torch::kDouble) * 5;
  auto new_lp = old_lp + torch::rand({3, 2}, gen, torch::kDouble) * 0.2 - 0.1;
  auto ref = old_lp + torch::rand({3, 2}, gen, torch::kDouble) * 0.4 - 0.2;
  auto adv = torch::tensor({1.0, -0.5, 0.3}, torch::kDouble);
  auto counts = T2({1, 7, 2, 2, 5, 30}, 3);
  for (StepWeight w : {StepWeight::kEqual, StepWeight::kTokens}) {
    GrpoLossOptions o;
    o.reduce = StepReduce::kMean;
    o.weight = w;
    o.kl_beta = 0.2;
    const double whole = GrpoLoss(new_lp, old_lp, adv, counts, ref, o).loss.item<double>();
    double parts = 0;
    for (auto rows : {torch::tensor({0, 2}, torch::kLong), torch::tensor({1}, torch::kLong)}) {
      auto c = counts.index_select(0, rows);
      parts += PartWeight(c, counts, w) * GrpoLoss(new_lp.index_select(0, rows), old_lp.index_select(0, rows),
                                                   adv.index_select(0, rows), c, ref.index_select(0, rows), o)
                                              .loss.item<double>();
    }
    EXPECT_NEAR(parts, whole, 1e-12) << StepWeightName(w);
  }
  EXPECT_DOUBLE_EQ(PartWeight(T2({1, 7}, 1), counts, StepWeight::kEqual), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(PartWeight(T2({1, 7}, 1), counts, StepWeight::kTokens), 8.0 / 47.0);
}

TEST(Reduction, SelectsFirstLastAndRandomSubsets) {
  EXPECT_EQ(*SelectSteps(6, {StepSubset::kAll, 0}, 1), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(*SelectSteps(6, {StepSubset::kFirst, 2}, 1), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(*SelectSteps(6, {StepSubset::kLast, 3}, 1), (std::vector<int64_t>{3, 4, 5}));
  auto r = *SelectSteps(16, {StepSubset::kRandom, 5}, 7);
  ASSERT_EQ(r.size(), 5u);
  EXPECT_TRUE(std::is_sorted(r.begin(), r.end()));
  EXPECT_EQ(std::adjacent_find(r.begin(), r.end()), r.end());
  EXPECT_EQ(r, *SelectSteps(16, {StepSubset::kRandom, 5}, 7));  // a function of the seed
  EXPECT_NE(r, *SelectSteps(16, {StepSubset::kRandom, 5}, 8));
  EXPECT_FALSE(SelectSteps(6, {StepSubset::kFirst, 0}, 1).ok());
  EXPECT_FALSE(SelectSteps(6, {StepSubset::kLast, 7}, 1).ok());
  EXPECT_FALSE(ParseStepSubset("middle").ok());
}

TEST(Reduction, CountsTheTokensOfEachStep) {
  TrajectoryBatch t;
  t.steps = 3;
  t.reveal_step = torch::tensor({0, 1, 1, 2, 2, 2}, torch::kLong).view({1, 6});
  auto c2 = StepTokenCounts(t, {0, 1, 2}, Transition::kCandidate2);
  auto c1 = StepTokenCounts(t, {0, 2}, Transition::kCandidate1);
  EXPECT_TRUE(torch::equal(c2, torch::tensor({1.0f, 2.0f, 3.0f}).view({1, 3})));
  EXPECT_TRUE(torch::equal(c1, torch::tensor({6.0f, 3.0f}).view({1, 2})));
}

TEST(StdFilter, PercentileMatchesNumpy) {
  // numpy.percentile([5, 1, 3, 2, 4], 10) == 1.4; 50 -> 3; 100 -> 5
  std::deque<double> v{5, 1, 3, 2, 4};
  EXPECT_NEAR(Percentile(v, 10), 1.4, 1e-12);
  EXPECT_NEAR(Percentile(v, 50), 3.0, 1e-12);
  EXPECT_NEAR(Percentile(v, 100), 5.0, 1e-12);
  EXPECT_NEAR(Percentile({7}, 10), 7.0, 1e-12);
}

TEST(StdFilter, WarmupThresholdAndResampleCap) {
  FilterOptions o;
  o.window = 10;
  o.percentile = 75;
  o.warmup = 4;
  o.max_resamples = 2;
  StdFilter f(o);
  // Warm-up: low stds are accepted until the window holds 4 entries.
  for (double s : {0.01, 0.5, 0.6, 0.7}) EXPECT_EQ(f.Decide(s, 0), FilterDecision::kAccept);
  EXPECT_NEAR(f.Threshold(), 0.625, 1e-12);  // numpy.percentile([0.01, 0.5, 0.6, 0.7], 75)
  EXPECT_EQ(f.Decide(0.1, 0), FilterDecision::kResample);
  EXPECT_EQ(f.Decide(0.1, 1), FilterDecision::kResample);
  EXPECT_EQ(f.Decide(0.1, 2), FilterDecision::kDrop);  // the cap
  EXPECT_EQ(f.Decide(0.9, 0), FilterDecision::kAccept);
  const auto& c = f.counters();
  EXPECT_EQ(c.observed, 8);
  EXPECT_EQ(c.accepted, 5);
  EXPECT_EQ(c.low_std, 3);
  EXPECT_EQ(c.resampled, 2);
  EXPECT_EQ(c.dropped, 1);
  EXPECT_EQ(c.zero_std, 0);
  // The window keeps the last `window` stds.
  for (int i = 0; i < 20; ++i) f.Decide(1.0, 0);
  EXPECT_EQ(f.history().size(), 10u);
}

TEST(StdFilter, ZeroStdGroupsAreNeverAccepted) {
  for (bool enabled : {true, false}) {
    FilterOptions o;
    o.enabled = enabled;
    o.warmup = 0;
    o.max_resamples = 1;
    StdFilter f(o);
    EXPECT_EQ(f.Decide(0.0, 0), enabled ? FilterDecision::kResample : FilterDecision::kDrop);
    EXPECT_EQ(f.Decide(0.0, 1), FilterDecision::kDrop);
    EXPECT_EQ(f.Decide(NAN, 1), FilterDecision::kDrop);
    EXPECT_EQ(f.counters().zero_std, 3);
    EXPECT_EQ(f.counters().accepted, 0);
    // With the filter off, a low but non-zero std is used.
    if (!enabled) {
      EXPECT_EQ(f.Decide(1e-3, 0), FilterDecision::kAccept);
    }
  }
}

TEST(StdFilter, StateRoundTripsAndBadStateChangesNothing) {
  FilterOptions o;
  o.warmup = 2;
  StdFilter f(o);
  for (double s : {0.3, 0.1, 0.0, 0.2}) f.Decide(s, 0);
  StdFilter g(o);
  ASSERT_TRUE(g.FromJson(f.ToJson()).ok());
  EXPECT_EQ(g.ToJson().Dump(), f.ToJson().Dump());
  auto bad = Json::Parse(R"({"counters": {"observed": 1}, "history": [0.1]})").value();
  EXPECT_FALSE(g.FromJson(bad).ok());
  auto negative = Json::Parse(
      R"({"counters": {"observed": 1, "accepted": 1, "zero_std": 0, "low_std": 0, "resampled": 0, "dropped": 0},
          "history": [-0.5]})").value();
  EXPECT_FALSE(g.FromJson(negative).ok());
  EXPECT_EQ(g.ToJson().Dump(), f.ToJson().Dump());
}

TEST(Npy, WritesAVersionOneHeaderNumpyAccepts) {
  auto bytes = EncodeNpy(torch::arange(6, torch::kLong).view({2, 3}));
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t header_len = static_cast<unsigned char>((*bytes)[8]) | static_cast<unsigned char>((*bytes)[9]) << 8;
  EXPECT_EQ((10 + header_len) % 64, 0u);
  const std::string header = bytes->substr(10, header_len);
  EXPECT_NE(header.find("'descr': '<i8'"), std::string::npos);
  EXPECT_NE(header.find("'shape': (2, 3)"), std::string::npos);
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(bytes->size(), 10 + header_len + 6 * 8);
  auto one_d = EncodeNpy(torch::zeros({4}, torch::kDouble));
  EXPECT_NE(one_d->find("'shape': (4,)"), std::string::npos);
  EXPECT_FALSE(EncodeNpy(torch::zeros({2}, torch::kHalf)).ok());
}

TEST(Npy, ReadsBackWhatItWritesAndRejectsDamage) {
  for (const auto& t : {torch::arange(6, torch::kLong).view({2, 3}), torch::rand({3}, torch::kDouble),
                        torch::rand({2, 1, 2}), torch::zeros({0, 4}, torch::kInt)}) {
    auto back = DecodeNpy(EncodeNpy(t).value());
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->scalar_type(), t.scalar_type());
    EXPECT_EQ(back->sizes(), t.sizes());
    EXPECT_TRUE(torch::equal(*back, t));
  }
  const std::string good = EncodeNpy(torch::arange(6, torch::kLong)).value();
  auto truncated = DecodeNpy(good.substr(0, good.size() - 8));
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("40 data bytes"), std::string::npos) << truncated.status().message();
  EXPECT_FALSE(DecodeNpy("not numpy at all").ok());
  std::string fortran = good;
  fortran.replace(fortran.find("False"), 5, "True ");
  EXPECT_FALSE(DecodeNpy(fortran).ok());
}

// A version 1 .npy file with the given header dict (padded as numpy pads it) and data.
std::string NpyFile(const std::string& dict, const std::string& data) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

// Found by fuzzing (fuzz/regressions/npy): the array was allocated at the header's size before
// the file was checked to hold it, so a small file could ask for gigabytes.
TEST(Npy, AShapeLargerThanTheFileIsRefusedBeforeAllocating) {
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': ";
  ASSERT_TRUE(DecodeNpy(NpyFile(dict + "(2, 3), }", std::string(24, '\0'))).ok());  // the helper is right
  // 2^62 x 4 floats: the product overflows 64 bits.
  auto bomb = DecodeNpy(NpyFile(dict + "(4611686018427387904, 4), }", std::string(24, '\0')));
  ASSERT_FALSE(bomb.ok());
  EXPECT_NE(bomb.status().message().find("needs more than the 24 data bytes"), std::string::npos)
      << bomb.status().message();
  EXPECT_FALSE(DecodeNpy(NpyFile(dict + "(897280897, 3), }", std::string(24, '\0'))).ok());
  EXPECT_FALSE(DecodeNpy(NpyFile(dict + "(2x, 3), }", std::string(24, '\0'))).ok());  // trailing garbage
}

}  // namespace
}  // namespace maskgrpo::grpo
