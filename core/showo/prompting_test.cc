#include "core/showo/prompting.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/showo/unicode_classes.h"

namespace maskgrpo::showo {
namespace {

using Ids = std::vector<int64_t>;

// A stand-in for Phi-1.5's files with the real ids where the layout depends on them: byte
// symbols at GPT-2's ids 0..255 (bytes_to_unicode order), "Hello" = 15496, "Ġworld" = 995,
// <|endoftext|> = 50256, and 38 whitespace added tokens at 50257..50294 (so len = 50295).
struct PhiLike {
  ByteLevelBpeTokenizer tokenizer;
  std::map<std::string, int64_t> ids;
};

PhiLike MakePhiLike() {
  std::map<std::string, int64_t> ids;
  // GPT-2 numbers the printable bytes first, then the 68 others (mapped to U+0100..).
  std::vector<int> order;
  auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
  for (int b = 0; b < 256; ++b) if (printable(b)) order.push_back(b);
  for (int b = 0; b < 256; ++b) if (!printable(b)) order.push_back(b);
  char32_t shifted = 256;
  for (size_t id = 0; id < order.size(); ++id) {
    const int b = order[id];
    std::string symbol;
    AppendUtf8(printable(b) ? static_cast<char32_t>(b) : shifted++, &symbol);
    ids[symbol] = static_cast<int64_t>(id);
  }
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"H", "e"}, {"l", "l"}, {"He", "ll"}, {"Hell", "o"}, {"Ġ", "w"}, {"o", "r"}, {"Ġw", "or"}, {"Ġwor", "ld"}, {"l", "d"}};
  std::map<std::string, int64_t> fixed = {{"Hello", 15496}, {"Ġworld", 995}};
  std::string merges_txt = "#version: 0.2\n";
  int64_t next = 1000;
  for (const auto& [l, r] : merges) {
    merges_txt += l + " " + r + "\n";
    auto it = fixed.find(l + r);
    ids[l + r] = it != fixed.end() ? it->second : next++;
  }
  ids["<|endoftext|>"] = 50256;
  Json::Object vocab;
  for (const auto& [token, id] : ids) vocab[token] = Json(id);
  // Phi-1.5's whitespace tokens: spaces of length 31..2, then tabs of length 9..2.
  std::vector<AddedToken> added;
  int64_t id = 50257;
  for (int n = 31; n >= 2; --n) added.push_back({std::string(static_cast<size_t>(n), ' '), id++});
  for (int n = 9; n >= 2; --n) added.push_back({std::string(static_cast<size_t>(n), '\t'), id++});
  auto tok = ByteLevelBpeTokenizer::FromStrings(Json(vocab).Dump(), "vocab.json", merges_txt, "merges.txt", added);
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  return {std::move(tok).value(), ids};
}

ShowoTextLayout MakeLayout() {
  auto layout = ShowoTextLayout::Create(MakePhiLike().tokenizer);
  EXPECT_TRUE(layout.ok()) << layout.status().ToString();
  return std::move(layout).value();
}

Ids Repeat(int64_t id, int n) { return Ids(static_cast<size_t>(n), id); }
Ids Concat(Ids a, const Ids& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(ShowoPromptingTest, SpecialTokenIdsFollowShowoOrder) {
  PhiLike phi = MakePhiLike();
  EXPECT_EQ(phi.tokenizer.size(), 50295);
  auto layout = ShowoTextLayout::Create(phi.tokenizer);
  ASSERT_TRUE(layout.ok()) << layout.status().ToString();
  EXPECT_EQ(layout->pad_id(), 50295);
  EXPECT_EQ(layout->soi_id(), 50296);
  EXPECT_EQ(layout->eoi_id(), 50297);
  EXPECT_EQ(layout->t2i_id(), 50300);
  EXPECT_EQ(layout->bos_id(), 50256);
  EXPECT_EQ(layout->eos_id(), 50256);
  EXPECT_EQ(layout->image_token_offset(), 50305);
  const std::vector<std::string> expected = {"[PAD]", "<|soi|>", "<|eoi|>", "<|sov|>", "<|eov|>",
                                             "<|t2i|>", "<|mmu|>", "<|t2v|>", "<|v2v|>", "<|lvg|>"};
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(layout->tokenizer().TokenId(expected[i]), 50295 + static_cast<int64_t>(i)) << expected[i];
  }
  // Adding them again (a tokenizer that already has them) changes nothing.
  auto again = ShowoTextLayout::Create(layout->tokenizer());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->pad_id(), 50295);
  EXPECT_EQ(again->image_token_offset(), 50305);
}

TEST(ShowoPromptingTest, HelloWorldRowMatchesSpec) {
  ShowoTextLayout layout = MakeLayout();
  // showo-stack.md 2.3: [50295]*124 + [50300, 50256, 15496, 995, 50256]
  const Ids expected = Concat(Repeat(50295, 124), {50300, 50256, 15496, 995, 50256});
  auto row = layout.EncodeT2I("Hello world");
  ASSERT_TRUE(row.ok()) << row.status().ToString();
  EXPECT_EQ(*row, expected);
  // A prompt that already starts with bos keeps a single bos.
  EXPECT_EQ(*layout.EncodeT2I("<|endoftext|>Hello world"), expected);
  // The whitespace added tokens take effect before BPE: "  Hello" -> [50286, 15496].
  EXPECT_EQ(*layout.EncodeT2I("  Hello"), Concat(Repeat(50295, 124), {50300, 50256, 50286, 15496, 50256}));
}

TEST(ShowoPromptingTest, EmptyPromptGivesTheUnconditionalRow) {
  ShowoTextLayout layout = MakeLayout();
  auto row = layout.EncodeT2I("");
  ASSERT_TRUE(row.ok()) << row.status().ToString();
  EXPECT_EQ(*row, Concat(Repeat(50295, 126), {50300, 50256, 50256}));
}

TEST(ShowoPromptingTest, LongPromptsKeep126TokensThenEos) {
  ShowoTextLayout layout = MakeLayout();
  // "Hello" + " world" * n: n + 1 text tokens.
  auto prompt = [](int words) {
    std::string p = "Hello";
    for (int i = 0; i < words; ++i) p += " world";
    return p;
  };
  const Ids text_126 = Concat({15496}, Repeat(995, 125));
  // 126 text tokens fit exactly: no pad, nothing cut.
  EXPECT_EQ(*layout.EncodeT2I(prompt(125)), Concat(Concat({50300, 50256}, text_126), {50256}));
  // 127 and 200 text tokens: temp[:128] + [eos] keeps the first 126 text tokens.
  for (int words : {126, 199}) {
    auto row = layout.EncodeT2I(prompt(words));
    ASSERT_TRUE(row.ok());
    ASSERT_EQ(row->size(), 129u);
    EXPECT_EQ(*row, Concat(Concat({50300, 50256}, text_126), {50256})) << words;
  }
  // A shorter text block follows the same rule.
  EXPECT_EQ(*layout.EncodeT2I("Hello world world", 4), (Ids{50300, 50256, 15496, 50256}));
  EXPECT_EQ(*layout.EncodeT2I("Hello", 6), (Ids{50295, 50295, 50300, 50256, 15496, 50256}));
  EXPECT_FALSE(layout.EncodeT2I("Hello", 2).ok());
}

TEST(ShowoPromptingTest, FullRowLayoutNumbers) {
  ShowoRowLayout l = FullRowLayout(1024);
  EXPECT_EQ(l.text_len, 129);
  EXPECT_EQ(l.soi_index, 129);
  EXPECT_EQ(l.image_begin, 130);
  EXPECT_EQ(l.image_end, 1154);
  EXPECT_EQ(l.eoi_index, 1154);
  EXPECT_EQ(l.length, 1155);
  EXPECT_EQ(FullRowLayout(256).length, 387);

  ShowoTextLayout layout = MakeLayout();
  // All image tokens masked (code 8192 -> 58497), as at the start of generation.
  auto row = layout.FullRow("Hello world", Ids(1024, 8192));
  ASSERT_TRUE(row.ok()) << row.status().ToString();
  ASSERT_EQ(static_cast<int64_t>(row->size()), l.length);
  const Ids expected = Concat(Concat(Concat(Repeat(50295, 124), {50300, 50256, 15496, 995, 50256, 50296}),
                                     Repeat(58497, 1024)),
                              {50297});
  EXPECT_EQ(*row, expected);
  EXPECT_EQ((*row)[static_cast<size_t>(l.soi_index)], 50296);
  EXPECT_EQ((*row)[static_cast<size_t>(l.eoi_index)], 50297);
  EXPECT_EQ((*layout.FullRow("", {0, 8191}))[130], 50305);
  EXPECT_EQ((*layout.FullRow("", {0, 8191}))[131], 58496);
  EXPECT_FALSE(layout.FullRow("", {8193}).ok());
  EXPECT_FALSE(layout.FullRow("", {-1}).ok());
}

TEST(ShowoPromptingTest, ErrorsAreReported) {
  ShowoTextLayout layout = MakeLayout();
  auto row = layout.EncodeT2I("a photo of a \xFF cat");
  ASSERT_FALSE(row.ok());
  EXPECT_NE(row.status().message().find("invalid UTF-8"), std::string::npos);
  // A tokenizer without <|endoftext|> has no bos/eos for the layout.
  Json::Object vocab;
  PhiLike phi = MakePhiLike();
  for (const auto& [token, id] : phi.ids) {
    if (token != "<|endoftext|>") vocab[token] = Json(id);
  }
  auto tok = ByteLevelBpeTokenizer::FromStrings(Json(vocab).Dump(), "vocab.json", "", "merges.txt");
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  auto no_eot = ShowoTextLayout::Create(*tok);
  ASSERT_FALSE(no_eot.ok());
  EXPECT_NE(no_eot.status().message().find("<|endoftext|>"), std::string::npos);
}

}  // namespace
}  // namespace maskgrpo::showo
