#include "core/weight_probe.h"

#include <gtest/gtest.h>
#include "core/torch_api.h"

#include <map>

#include "core/testing/tiny_model.h"
#include "core/transformer.h"

namespace maskgrpo {
namespace {

std::unique_ptr<MaskedTransformer> Tiny(const std::string& dtype, uint64_t seed) {
  auto m = MaskedTransformer::Create(testing::TinyConfig(), DeviceOptions{"cpu", dtype}, seed);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return std::move(m).value();
}

std::map<std::string, at::Tensor> State(const MaskedTransformer& m) {
  std::map<std::string, at::Tensor> s;
  for (const auto& [name, t] : m.NamedParameters()) s[name] = t.detach().clone();
  return s;
}

TEST(WeightProbeTest, AFaithfulCopyPassesAndIsDeterministic) {
  auto learner = Tiny("float32", 1);
  auto probe = MakeWeightProbe(*learner, 7);
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  EXPECT_FALSE(probe->positions.empty());
  EXPECT_DOUBLE_EQ(probe->tolerance, 5e-3);
  for (int64_t p : probe->positions) EXPECT_EQ(probe->codes[p], -1) << "probed positions are masked";
  auto again = MakeWeightProbe(*learner, 7);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->codes, probe->codes);
  EXPECT_EQ(again->expected_logp, probe->expected_logp);

  auto worker = Tiny("float32", 99);  // other random weights, then the learner's applied
  ASSERT_TRUE(worker->LoadState(State(*learner)).ok());
  EXPECT_TRUE(CheckWeightProbe(*worker, *probe).ok()) << CheckWeightProbe(*worker, *probe).ToString();
}

TEST(WeightProbeTest, WeightsAppliedToTheWrongTensorFailTheProbe) {
  auto learner = Tiny("float32", 1);
  auto probe = MakeWeightProbe(*learner, 7);
  ASSERT_TRUE(probe.ok());
  auto state = State(*learner);
  // Two tensors of the same shape swapped: every size and checksum still matches.
  std::string a, b;
  for (const auto& [name, t] : state) {
    for (const auto& [other, u] : state) {
      if (a.empty() && name < other && t.sizes() == u.sizes() && t.dim() == 2 && !torch::equal(t, u)) {
        a = name;
        b = other;
      }
    }
  }
  ASSERT_FALSE(a.empty()) << "the tiny model has no two same-shaped matrices";
  std::swap(state[a], state[b]);
  auto worker = Tiny("float32", 1);
  ASSERT_TRUE(worker->LoadState(state).ok());
  Status st = CheckWeightProbe(*worker, *probe);
  EXPECT_EQ(st.code(), StatusCode::kDataLoss) << a << " <-> " << b << ": " << st.ToString();
  EXPECT_NE(st.message().find("weight probe mismatch"), std::string::npos);
}

TEST(WeightProbeTest, OneStaleLayerFailsTheProbe) {
  auto learner = Tiny("float32", 1);
  auto state = State(*learner);
  auto probe = MakeWeightProbe(*learner, 3);
  ASSERT_TRUE(probe.ok());
  // The worker kept one tensor of an older version (the learner's last update moved it).
  const std::string name = learner->NamedParameters().back().first;
  state[name] = state[name] + 0.05 * torch::randn_like(state[name]);
  auto worker = Tiny("float32", 1);
  ASSERT_TRUE(worker->LoadState(state).ok());
  EXPECT_EQ(CheckWeightProbe(*worker, *probe).code(), StatusCode::kDataLoss) << name;
}

TEST(WeightProbeTest, ABfloat16WorkerOfAFloat32LearnerPassesWithTheLooserTolerance) {
  auto learner = Tiny("float32", 1);
  auto probe = MakeWeightProbe(*learner, 5);
  ASSERT_TRUE(probe.ok());
  auto worker = Tiny("bfloat16", 1);
  auto state = State(*learner);
  for (auto& [name, t] : state) t = t.to(torch::kBFloat16);
  ASSERT_TRUE(worker->LoadState(state).ok());
  EXPECT_TRUE(CheckWeightProbe(*worker, *probe).ok()) << CheckWeightProbe(*worker, *probe).ToString();
}

TEST(WeightProbeTest, AProbeThatDoesNotFitTheModelIsRejectedNotScored) {
  auto learner = Tiny("float32", 1);
  auto good = MakeWeightProbe(*learner, 7);
  ASSERT_TRUE(good.ok());
  auto bad = *good;
  bad.text_ids.pop_back();
  EXPECT_EQ(CheckWeightProbe(*learner, bad).code(), StatusCode::kInvalidArgument);
  bad = *good;
  bad.tokens[0] = learner->config().num_image_codes;
  EXPECT_EQ(CheckWeightProbe(*learner, bad).code(), StatusCode::kInvalidArgument);
  bad = *good;
  bad.positions.push_back(0);
  EXPECT_EQ(CheckWeightProbe(*learner, bad).code(), StatusCode::kInvalidArgument);
  bad = *good;
  bad.codes[0] = -2;
  EXPECT_EQ(CheckWeightProbe(*learner, bad).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace maskgrpo
