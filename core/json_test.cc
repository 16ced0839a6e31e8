#include "core/json.h"

#include <gtest/gtest.h>

namespace maskgrpo {
namespace {

TEST(JsonTest, RoundTripsNestedValues) {
  auto parsed = Json::Parse(R"({"a": [1, 2.5, "x\n\"y"], "b": {"c": true, "d": null}, "e": -3})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->Find("e")->as_number(), -3);
  EXPECT_EQ(parsed->Find("a")->as_array()[2].as_string(), "x\n\"y");
  auto again = Json::Parse(parsed->Dump(2));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->Dump(), parsed->Dump());
}

TEST(JsonTest, RejectsMalformedInput) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "{\"a\":1} x", "\"unterminated", "{\"a\":1,\"a\":2}", "tru"}) {
    EXPECT_FALSE(Json::Parse(bad).ok()) << bad;
  }
}

TEST(JsonTest, RejectsHostileNesting) {
  EXPECT_FALSE(Json::Parse(std::string(1000, '[') + std::string(1000, ']')).ok());
}

}  // namespace
}  // namespace maskgrpo
