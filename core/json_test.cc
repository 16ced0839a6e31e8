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

// Found by fuzzing (fuzz/regressions/json): numbers were written with 6 significant digits.
TEST(JsonTest, NumbersSurviveADumpExactly) {
  for (double v : {0.1, 1.0 / 3.0, 456789012.5, 1.5e-300, -2.718281828459045, 1e300, 123456789.125}) {
    auto back = Json::Parse(Json(v).Dump());
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->as_number(), v) << Json(v).Dump();
  }
  EXPECT_EQ(Json(0.1).Dump(), "0.1");  // the shortest form that reads back, not 0.10000000000000001
  EXPECT_EQ(Json(0.5).Dump(), "0.5");
}

TEST(JsonTest, RejectsMalformedInput) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "{\"a\":1} x", "\"unterminated", "{\"a\":1,\"a\":2}", "tru"}) {
    EXPECT_FALSE(Json::Parse(bad).ok()) << bad;
  }
}

TEST(JsonTest, DecodesUnicodeEscapesIncludingSurrogatePairs) {
  // vocab.json files escape non-ASCII; code points above the BMP come as UTF-16 pairs.
  auto parsed = Json::Parse(R"(["\u0120", "\u00e9\u4e2d", "\ud83d\ude00", "\uD834\uDD1E"])");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->as_array()[0].as_string(), "\xC4\xA0");                  // U+0120
  EXPECT_EQ(parsed->as_array()[1].as_string(), "\xC3\xA9\xE4\xB8\xAD");      // U+00E9 U+4E2D
  EXPECT_EQ(parsed->as_array()[2].as_string(), "\xF0\x9F\x98\x80");          // U+1F600
  EXPECT_EQ(parsed->as_array()[3].as_string(), "\xF0\x9D\x84\x9E");          // U+1D11E
  // Lone or mismatched surrogates and malformed hex have no code point: errors, not guesses.
  for (const char* bad : {R"("\ud83d")", R"("\ud83dx")", R"("\ude00")", R"("\ud83d\u0041")",
                          R"("\ud83d\ud83d")", R"("\u12zz")", R"("\u12")"}) {
    EXPECT_FALSE(Json::Parse(bad).ok()) << bad;
  }
}

TEST(JsonTest, RejectsHostileNesting) {
  EXPECT_FALSE(Json::Parse(std::string(1000, '[') + std::string(1000, ']')).ok());
}

}  // namespace
}  // namespace maskgrpo
