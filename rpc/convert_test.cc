#include "rpc/convert.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace maskgrpo::rpc {
namespace {

TEST(Convert, PromptSpecsRoundTripForEveryTask) {
  const auto split = shapeworld::BuildPromptSplit();
  for (const auto& spec : split.heldout) {
    v1::PromptSpec wire;
    ToProto(spec, &wire);
    auto back = FromProto(wire, "spec");
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    back->text = spec.text;
    EXPECT_EQ(back->ToJson().Dump(), spec.ToJson().Dump());
  }
}

TEST(Convert, BadSpecsNameTheField) {
  v1::PromptSpec wire;
  ToProto(shapeworld::MakePosition(0, shapeworld::Relation::kLeftOf, 1), &wire);
  auto bad = wire;
  bad.mutable_include(1)->set_class_name("dog");
  auto r = FromProto(bad, "items[2].prompt.spec");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "items[2].prompt.spec.include[1].class_name: unknown class 'dog'");
  bad = wire;
  bad.mutable_include(1)->set_relation_ref(5);
  EXPECT_FALSE(FromProto(bad, "spec").ok());
  bad = wire;
  bad.set_tag("juggling");
  EXPECT_FALSE(FromProto(bad, "spec").ok());
  bad = wire;
  bad.mutable_include(0)->set_count(0);
  EXPECT_FALSE(FromProto(bad, "spec").ok());
}

TEST(Convert, ImagesCheckTheirByteCount) {
  v1::Image image;
  image.set_height(2);
  image.set_width(2);
  image.set_rgb(std::string(12, '\x07'));
  auto ok = FromProto(image, "image");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->rgb.size(), 12u);
  image.set_rgb(std::string(11, '\x07'));
  auto bad = FromProto(image, "items[0].image");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("items[0].image.rgb"), std::string::npos);
}

TEST(Convert, TrajectoriesRoundTripAndLengthsAreChecked) {
  TrajectoryBatch t;
  t.steps = 4;
  t.tokens = torch::randint(0, 10, {3, 8}, torch::kLong);
  t.reveal_step = torch::randint(0, 4, {3, 8}, torch::kLong);
  t.min_revealed_prob = torch::rand({3, 4});
  t.logp_candidate1 = -torch::rand({3, 4});
  t.logp_candidate2 = -torch::rand({3, 4});
  t.logp_full = -torch::rand({3, 4});
  v1::TrajectoryGroup wire;
  ToProto(t, &wire);
  auto back = FromProto(wire, 8, "group");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(torch::equal(back->tokens, t.tokens));
  EXPECT_TRUE(torch::equal(back->reveal_step, t.reveal_step));
  EXPECT_TRUE(torch::equal(back->logp_candidate1, t.logp_candidate1));
  EXPECT_TRUE(torch::equal(back->logp_full, t.logp_full));
  EXPECT_FALSE(FromProto(wire, 9, "group").ok());  // wrong N for the model
  auto short_tokens = wire;
  short_tokens.mutable_tokens()->RemoveLast();
  auto r = FromProto(short_tokens, 8, "group");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("group.tokens"), std::string::npos);
}

}  // namespace
}  // namespace maskgrpo::rpc
