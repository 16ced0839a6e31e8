#include "core/transformer.h"

#include <gtest/gtest.h>
#include "core/torch_api.h"

#include "core/testing/tiny_model.h"
#include "core/transition.h"

namespace maskgrpo {
namespace {

using testing::TinyConfig;

class TransformerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = TinyConfig();
    auto model = MaskedTransformer::Create(config_, DeviceOptions{"cpu", "float32"}, 3);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    model_ = std::move(model).value();
    // One sequence: 4 real text tokens, 2 pads, then soi, image tokens, eoi.
    auto gen = at::detail::createCPUGenerator(5);
    auto text = torch::randint(1, 10, {1, config_.text_len}, gen, torch::kLong);
    text.slice(1, 4).fill_(0);
    valid_ = text != 0;
    auto image = torch::randint(config_.image_token_offset, config_.mask_id + 1, {1, config_.image_len}, gen, torch::kLong);
    ids_ = torch::cat({text, torch::full({1, 1}, config_.soi_id, torch::kLong), image,
                       torch::full({1, 1}, config_.eoi_id, torch::kLong)}, 1);
  }
  torch::Tensor Logits(const torch::Tensor& ids, const torch::Tensor& valid) {
    torch::NoGradGuard g;
    return model_->AllLogits(ids, valid);
  }
  int64_t ImagePos(int64_t i) const { return config_.image_begin() + i; }

  ModelConfig config_;
  std::unique_ptr<MaskedTransformer> model_;
  torch::Tensor ids_, valid_;
};

TEST_F(TransformerTest, HasHuggingFacePhiParameterNames) {
  std::set<std::string> names;
  for (const auto& [name, p] : model_->NamedParameters()) names.insert(name);
  for (const char* expected : {"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
                               "model.layers.1.self_attn.dense.bias", "model.layers.0.mlp.fc1.weight",
                               "model.layers.1.mlp.fc2.bias", "model.layers.0.input_layernorm.weight",
                               "model.final_layernorm.bias", "lm_head.weight", "lm_head.bias"}) {
    EXPECT_TRUE(names.count(expected)) << expected;
  }
}

TEST_F(TransformerTest, ChangingAnImageTokenLeavesTextPositionsUnchanged) {
  auto base = Logits(ids_, valid_);
  auto ids2 = ids_.clone();
  ids2[0][ImagePos(3)] = config_.mask_id;
  ids2[0][ImagePos(9)] = config_.image_token_offset;
  auto changed = Logits(ids2, valid_);
  const int64_t L = config_.text_len;
  EXPECT_TRUE(torch::equal(base.slice(1, 0, L), changed.slice(1, 0, L)));
  // ...while every image position sees it (bidirectional within the image span).
  for (int64_t i = 0; i < config_.image_len; ++i) {
    EXPECT_GT((base[0][ImagePos(i)] - changed[0][ImagePos(i)]).abs().max().item<float>(), 1e-6) << "image pos " << i;
  }
}

TEST_F(TransformerTest, ChangingAPadChangesNothingElse) {
  auto base = Logits(ids_, valid_);
  auto ids2 = ids_.clone();
  ids2[0][5] = 7;  // position 5 is a pad (valid_ false there)
  auto changed = Logits(ids2, valid_);
  auto diff = (base - changed).abs().amax(-1)[0];  // [S]
  for (int64_t p = 0; p < config_.seq_len(); ++p) {
    if (p == 5) continue;  // the pad row itself is never read
    EXPECT_EQ(diff[p].item<float>(), 0.0f) << "position " << p;
  }
}

TEST_F(TransformerTest, TextRowsAreCausalAndImageRowsSeeAllText) {
  auto base = Logits(ids_, valid_);
  auto ids2 = ids_.clone();
  ids2[0][2] = ids2[0][2].item<int64_t>() % 9 + 1;  // change a real text token
  auto changed = Logits(ids2, valid_);
  auto diff = (base - changed).abs().amax(-1)[0];
  EXPECT_EQ(diff[0].item<float>(), 0.0f);  // earlier text rows do not see later text
  EXPECT_EQ(diff[1].item<float>(), 0.0f);
  EXPECT_GT(diff[3].item<float>(), 0.0f);  // later text rows do
  for (int64_t i = 0; i < config_.image_len; ++i) EXPECT_GT(diff[ImagePos(i)].item<float>(), 0.0f);
}

TEST_F(TransformerTest, AttentionMaskMatchesOmniAttention) {
  auto mask = model_->AttentionMask(valid_)[0];
  const int64_t L = config_.text_len, S = config_.seq_len();
  for (int64_t q = 0; q < S; ++q) {
    for (int64_t k = 0; k < S; ++k) {
      bool k_valid = k >= L || valid_[0][k].item<bool>();
      bool expected = q < L ? (k <= q && k < L && k_valid) : k_valid;
      if (q == k) expected = true;
      EXPECT_EQ(mask[q][k].item<bool>(), expected) << q << "," << k;
    }
  }
}

TEST_F(TransformerTest, ImageLogitsAreTheImageCodeSliceOfTheFullHead) {
  torch::NoGradGuard g;
  auto full = model_->AllLogits(ids_, valid_);
  auto image = model_->ImageLogits(ids_, valid_);
  auto expected = full.slice(1, config_.image_begin(), config_.image_begin() + config_.image_len)
                      .slice(2, config_.image_token_offset, config_.image_token_offset + config_.num_image_codes);
  EXPECT_TRUE(torch::allclose(image, expected, 1e-5, 1e-5));
}

// The split forward (prompt keys and values once, then the image span alone) against the
// full-sequence forward with the [B, S, S] omni-attention mask, in float64 so that only
// reassociation separates them: values and every parameter's gradient.
TEST(SplitForwardTest, MatchesTheFullForwardInValueAndGradient) {
  for (bool qk_layernorm : {false, true}) {
    auto c = TinyConfig();
    c.qk_layernorm = qk_layernorm;
    auto model = std::move(MaskedTransformer::Create(c, DeviceOptions{"cpu", "float64"}, 4)).value();
    // Three prompts: 5 real tokens, 1 real token, and an empty one (all pads).
    auto gen = at::detail::createCPUGenerator(9);
    auto text = torch::randint(1, 10, {3, c.text_len}, gen, torch::kLong);
    text[0].slice(0, 5).fill_(0);
    text[1].slice(0, 1).fill_(0);
    text[2].fill_(0);
    auto valid = text != 0;
    auto image = torch::randint(c.image_token_offset, c.mask_id + 1, {3, c.image_len}, gen, torch::kLong);
    auto ids = torch::cat({text, torch::full({3, 1}, c.soi_id, torch::kLong), image,
                           torch::full({3, 1}, c.eoi_id, torch::kLong)}, 1);
    auto weights = torch::randn({3, c.image_len, c.num_image_codes}, gen, torch::kDouble);

    auto split = model->ImageLogits(ids, valid);
    auto full = model->AllLogits(ids, valid)
                    .slice(1, c.image_begin(), c.image_begin() + c.image_len)
                    .slice(2, c.image_token_offset, c.image_token_offset + c.num_image_codes);
    ASSERT_EQ(split.sizes(), full.sizes());
    EXPECT_LT((split - full).abs().max().item<double>(), 1e-10) << "qk_layernorm " << qk_layernorm;

    auto grads = [&](const torch::Tensor& logits) {
      auto params = model->Parameters();
      auto out = torch::autograd::grad({(logits * weights).sum()}, params, {}, /*retain_graph=*/false,
                                       /*create_graph=*/false, /*allow_unused=*/true);
      for (size_t i = 0; i < out.size(); ++i) {
        if (!out[i].defined()) out[i] = torch::zeros_like(params[i]);
      }
      return out;
    };
    auto g_split = grads(split);
    auto g_full = grads(full);
    double worst = 0, largest = 0;
    for (size_t i = 0; i < g_split.size(); ++i) {
      worst = std::max(worst, (g_split[i] - g_full[i]).abs().max().item<double>());
      largest = std::max(largest, g_full[i].abs().max().item<double>());
    }
    EXPECT_GT(largest, 1e-3);  // the comparison is not between zeros
    EXPECT_LT(worst, 1e-9) << "qk_layernorm " << qk_layernorm;
  }
}

TEST(SplitForwardTest, AnEncodedPromptServesRepeatedAndExpandedRows) {
  auto c = TinyConfig();
  auto model = std::move(MaskedTransformer::Create(c, DeviceOptions{"cpu", "float64"}, 5)).value();
  torch::NoGradGuard g;
  auto prompts = testing::TinyPrompts(2, c.text_len, 3, 1);
  auto gen = at::detail::createCPUGenerator(2);
  auto span = torch::cat({torch::full({4, 1}, c.soi_id, torch::kLong),
                          torch::randint(c.image_token_offset, c.mask_id + 1, {4, c.image_len}, gen, torch::kLong),
                          torch::full({4, 1}, c.eoi_id, torch::kLong)}, 1);
  // Rows 0,1 use prompt 0 and rows 2,3 prompt 1: encoded once each, repeated twice.
  auto repeated = model->SpanImageLogits(model->EncodeText(prompts.text_ids, prompts.text_valid).RepeatRows(2), span);
  auto rows_text = prompts.text_ids.repeat_interleave(2, 0), rows_valid = prompts.text_valid.repeat_interleave(2, 0);
  auto direct = model->ImageLogits(torch::cat({rows_text, span}, 1), rows_valid);
  EXPECT_LT((repeated - direct).abs().max().item<double>(), 1e-12);
  // One prompt seen by all four rows without copying, and two contexts joined.
  auto one = model->EncodeText(prompts.text_ids.slice(0, 0, 1), prompts.text_valid.slice(0, 0, 1));
  auto expanded = model->SpanImageLogits(one.ExpandRows(4), span);
  auto direct0 = model->ImageLogits(torch::cat({prompts.text_ids[0].expand({4, c.text_len}), span}, 1),
                                    prompts.text_valid[0].expand({4, c.text_len}));
  EXPECT_LT((expanded - direct0).abs().max().item<double>(), 1e-12);
  auto joined = model->SpanImageLogits(one.ExpandRows(2).Concat(one.ExpandRows(2)), span);
  EXPECT_LT((joined - direct0).abs().max().item<double>(), 1e-12);
  // A context of the wrong batch is an error, not a silent broadcast.
  EXPECT_THROW(model->SpanImageLogits(one, span), c10::Error);
}

TEST(CfgTest, GuidedLogitsFollowTheFormula) {
  auto cond = torch::tensor({1.0f, -2.0f, 0.5f});
  auto uncond = torch::tensor({0.0f, 1.0f, 0.5f});
  auto g = GuidedLogits(cond, uncond, 2.0);  // 3 * cond - 2 * uncond
  EXPECT_TRUE(torch::allclose(g, torch::tensor({3.0f, -8.0f, 0.5f})));
  EXPECT_TRUE(torch::equal(GuidedLogits(cond, uncond, 0.0), cond));
}

TEST(RotaryTest, RotatesOnlyTheConfiguredDims) {
  const int64_t S = 10, D = 16, rd = 8;
  auto [cos, sin] = RotaryTables(S, rd, 10000.0);
  auto x = torch::randn({1, 2, S, D}, torch::kDouble);
  auto y = ApplyRotary(x, cos, sin, rd);
  EXPECT_TRUE(torch::equal(y.slice(-1, rd), x.slice(-1, rd)));              // pass-through dims
  EXPECT_TRUE(torch::allclose(y.select(2, 0), x.select(2, 0)));             // position 0: identity
  EXPECT_GT((y.slice(2, 1).slice(-1, 0, rd) - x.slice(2, 1).slice(-1, 0, rd)).abs().max().item<double>(), 1e-3);
  // A rotation: the norm of each rotated pair (i, i + rd/2) is preserved.
  auto pair_norm = [&](const torch::Tensor& t) {
    return t.slice(-1, 0, rd / 2).pow(2) + t.slice(-1, rd / 2, rd).pow(2);
  };
  EXPECT_TRUE(torch::allclose(pair_norm(y), pair_norm(x)));
}

TEST(TransformerConfigTest, RejectsBadConfigs) {
  auto c = TinyConfig();
  c.num_heads = 3;  // 32 not divisible by 3
  auto st = MaskedTransformer::Create(c, {}, 0).status();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("num_heads"), std::string::npos);
  c = TinyConfig();
  c.rotary_dim = 18;
  EXPECT_FALSE(MaskedTransformer::Create(c, {}, 0).ok());
  EXPECT_FALSE(MaskedTransformer::Create(TinyConfig(), DeviceOptions{"tpu", "float32"}, 0).ok());
  EXPECT_FALSE(MaskedTransformer::Create(TinyConfig(), DeviceOptions{"cpu", "int8"}, 0).ok());
}

TEST(TransformerDtypeTest, RunsInBfloat16) {
  auto c = TinyConfig();
  auto model = MaskedTransformer::Create(c, DeviceOptions{"cpu", "bfloat16"}, 1);
  ASSERT_TRUE(model.ok());
  EXPECT_EQ((*model)->dtype(), at::kBFloat16);
  auto prompts = testing::TinyPrompts(2, c.text_len, 3);
  auto ids = torch::cat({prompts.text_ids, torch::full({2, 1}, c.soi_id, torch::kLong),
                         torch::full({2, c.image_len}, c.mask_id, torch::kLong), torch::full({2, 1}, c.eoi_id, torch::kLong)}, 1);
  torch::NoGradGuard g;
  auto logits = (*model)->ImageLogits(ids, prompts.text_valid);
  EXPECT_EQ(logits.scalar_type(), at::kFloat);
  EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
}

TEST(TransformerLoadStateTest, RejectsBadStateAndChangesNothing) {
  auto model = std::move(MaskedTransformer::Create(TinyConfig(), {}, 1)).value();
  std::map<std::string, at::Tensor> state;
  for (const auto& [name, p] : model->NamedParameters()) state[name] = p.detach().clone() + 1.0;
  auto before = model->NamedParameters()[0].second.clone();
  auto bad = state;
  bad["lm_head.bias"] = torch::zeros({3});
  auto st = model->LoadState(bad);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("lm_head.bias"), std::string::npos);
  bad = state;
  bad["model.final_layernorm.weight"] = torch::full_like(bad["model.final_layernorm.weight"], NAN);
  EXPECT_FALSE(model->LoadState(bad).ok());
  bad = state;
  bad["extra.weight"] = torch::zeros({1});
  st = model->LoadState(bad);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("extra.weight"), std::string::npos);
  EXPECT_TRUE(torch::equal(model->NamedParameters()[0].second, before));
  EXPECT_TRUE(model->LoadState(state).ok());
  EXPECT_FALSE(torch::equal(model->NamedParameters()[0].second, before));
}

TEST(TransformerLoadStateTest, SubsetReplacesOnlyTheNamedTensors) {
  auto model = std::move(MaskedTransformer::Create(TinyConfig(), {}, 1)).value();
  const auto params = model->NamedParameters();
  const std::string head = "lm_head.bias";
  std::map<std::string, at::Tensor> subset;
  for (const auto& [name, p] : params) {
    if (name == head) subset[name] = p.detach().clone() + 2.0;
  }
  ASSERT_EQ(subset.size(), 1u);
  // A subset is refused without kSubset (a full stream that lost a tensor).
  auto st = model->LoadState(subset);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("missing tensor"), std::string::npos);
  std::map<std::string, at::Tensor> before;
  for (const auto& [name, p] : params) before[name] = p.detach().clone();
  ASSERT_TRUE(model->LoadState(subset, MaskedTransformer::Coverage::kSubset).ok());
  for (const auto& [name, p] : model->NamedParameters()) {
    if (name == head) {
      EXPECT_TRUE(torch::equal(p, before[name] + 2.0)) << name;
    } else {
      EXPECT_TRUE(torch::equal(p, before[name])) << name;
    }
  }
  // Unknown names and bad values are still refused, and change nothing.
  auto bad = subset;
  bad["extra.weight"] = torch::zeros({1});
  EXPECT_FALSE(model->LoadState(bad, MaskedTransformer::Coverage::kSubset).ok());
  bad = subset;
  bad[head] = torch::full_like(bad[head], NAN);
  EXPECT_FALSE(model->LoadState(bad, MaskedTransformer::Coverage::kSubset).ok());
  for (const auto& [name, p] : model->NamedParameters()) {
    EXPECT_TRUE(torch::equal(p, name == head ? before[name] + 2.0 : before[name])) << name;
  }
}

}  // namespace
}  // namespace maskgrpo
