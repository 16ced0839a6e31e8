#include "rpc/convert.h"

#include <gtest/gtest.h>
#include "core/torch_api.h"

#include "core/world/registry.h"

namespace maskgrpo::rpc {
namespace {

TEST(Convert, PromptsRoundTripForEveryTask) {
  auto world = CreateWorld(WorldOptions{});
  ASSERT_TRUE(world.ok()) << world.status().ToString();
  for (const auto& prompt : (*world)->prompts(PromptSplitKind::kHeldout)) {
    v1::Prompt wire;
    ToProto(prompt, &wire);
    auto back = FromProto(wire, "prompt");
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->ToJson().Dump(), prompt.ToJson().Dump());
  }
}

TEST(Convert, FreeFormClassNamesTravelAndBadStructureNamesTheField) {
  Prompt coco{"a photo of a bench left of a giraffe", "position", {{"bench", 1, "", "", 0}, {"giraffe", 1, "", "left of", 0}}, {}};
  v1::Prompt wire;
  ToProto(coco, &wire);
  auto back = FromProto(wire, "items[2].prompt");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->include[1].class_name, "giraffe");
  auto bad = wire;
  bad.mutable_spec()->mutable_include(1)->set_relation_ref(5);
  auto r = FromProto(bad, "items[2].prompt");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "items[2].prompt.spec.include[1].relation_ref must name an earlier include entry");
  bad = wire;
  bad.mutable_spec()->mutable_include(1)->set_relation("behind");
  EXPECT_FALSE(FromProto(bad, "prompt").ok());
  bad = wire;
  bad.mutable_spec()->mutable_include(0)->set_count(0);
  EXPECT_FALSE(FromProto(bad, "prompt").ok());
  bad = wire;
  bad.mutable_spec()->mutable_include(0)->set_class_name("");
  EXPECT_FALSE(FromProto(bad, "prompt").ok());
  bad = wire;
  bad.mutable_spec()->clear_include();
  EXPECT_FALSE(FromProto(bad, "prompt").ok());  // a tag without objects
  bad.mutable_spec()->set_tag("");
  EXPECT_TRUE(FromProto(bad, "prompt").ok());   // a prompt without metadata
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
