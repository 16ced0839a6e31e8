#include "core/showo/bpe_tokenizer.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/showo/unicode_classes.h"

namespace maskgrpo::showo {
namespace {

using Ids = std::vector<int64_t>;

// GPT-2's bytes_to_unicode, written out again here so that the test does not trust the code
// under test: printable Latin-1 bytes stand for themselves, the others map to U+0100.. in order.
std::string ByteSymbol(int b) {
  bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  char32_t cp = static_cast<char32_t>(b);
  if (!printable) {
    cp = 256;
    for (int x = 0; x < b; ++x) {
      if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) ++cp;
    }
  }
  std::string s;
  AppendUtf8(cp, &s);
  return s;
}

// A small byte-level vocab: byte b has id b, each merge result gets the next id from 256, and
// <|endoftext|> comes last. Returns the vocab.json text; `ids` receives every symbol's id.
struct MiniVocab {
  std::string vocab_json;
  std::string merges_txt;
  std::map<std::string, int64_t> ids;
};

MiniVocab MakeVocab(const std::vector<std::pair<std::string, std::string>>& merges) {
  MiniVocab v;
  Json::Object vocab;
  for (int b = 0; b < 256; ++b) v.ids[ByteSymbol(b)] = b;
  v.merges_txt = "#version: 0.2\n";
  int64_t next = 256;
  for (const auto& [l, r] : merges) {
    v.merges_txt += l + " " + r + "\n";
    if (!v.ids.count(l + r)) v.ids[l + r] = next++;
  }
  v.ids["<|endoftext|>"] = next;
  for (const auto& [token, id] : v.ids) vocab[token] = Json(id);
  v.vocab_json = Json(vocab).Dump();
  return v;
}

// Enough merges for "Hello", " world" and the rank-order cases.
MiniVocab HelloVocab() {
  return MakeVocab({{"Ġ", "w"}, {"o", "r"}, {"l", "l"}, {"H", "e"}, {"He", "ll"}, {"Hell", "o"},
                    {"Ġw", "or"}, {"Ġwor", "l"}, {"Ġworl", "d"},
                    {"b", "c"}, {"a", "b"}, {"a", "a"}});
}

ByteLevelBpeTokenizer MustLoad(const MiniVocab& v, const std::vector<AddedToken>& added = {}) {
  auto tok = ByteLevelBpeTokenizer::FromStrings(v.vocab_json, "vocab.json", v.merges_txt, "merges.txt", added);
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  return std::move(tok).value();
}

Status LoadError(const std::string& vocab, const std::string& merges, const std::vector<AddedToken>& added = {}) {
  auto tok = ByteLevelBpeTokenizer::FromStrings(vocab, "vocab.json", merges, "merges.txt", added);
  return tok.ok() ? Status::Ok() : tok.status();
}

Ids Encode(const ByteLevelBpeTokenizer& tok, const std::string& text) {
  auto ids = tok.Encode(text);
  EXPECT_TRUE(ids.ok()) << ids.status().ToString();
  return ids.ok() ? *ids : Ids{};
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/bpe_tokenizer_test.XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  std::string Write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ + "/" + name, std::ios::binary) << content;
    return path_ + "/" + name;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ---------------------------------------------------------------------------------------------
// Unicode classes and UTF-8

TEST(UnicodeClassesTest, MatchesGeneralCategories) {
  for (char32_t c : {U'a', U'Z', U'é', U'ß', U'中', U'ア', U'ع', U'Ω', U'ǅ', U'ʰ'}) EXPECT_TRUE(IsLetter(c)) << c;
  for (char32_t c : {U'0', U'9', U'٣', U'½', U'²', U'Ⅻ', U'①'}) EXPECT_TRUE(IsNumber(c)) << c;
  for (char32_t c : {U'!', U'\'', U' ', U'😀', U'€', U'_', U'\u0301'}) {
    EXPECT_FALSE(IsLetter(c)) << c;
    EXPECT_FALSE(IsNumber(c)) << c;
  }
  for (char32_t c : {U' ', U'\t', U'\n', U'\v', U'\f', U'\r', U'\u0085', U'\u00A0', U'\u2003', U'\u3000',
                     U'\u2028'}) {
    EXPECT_TRUE(IsWhitespace(c)) << c;
  }
  // Not White_Space, although Python's str.isspace() says U+001C..U+001F are.
  for (char32_t c : {U'\u001C', U'\u001F', U'\u200B', U'\uFEFF', U'x', U'_'}) EXPECT_FALSE(IsWhitespace(c)) << c;
  EXPECT_FALSE(IsLetter(0x110000));
}

TEST(Utf8Test, DecodesWithByteOffsets) {
  auto text = DecodeUtf8("aé中😀");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(text->code_points, (std::vector<char32_t>{U'a', U'é', U'中', U'😀'}));
  EXPECT_EQ(text->byte_offsets, (std::vector<size_t>{0, 1, 3, 6, 10}));
}

TEST(Utf8Test, RejectsInvalidUtf8NamingTheOffset) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ab\xFF", "byte offset 2"},           {"a\xC3", "byte offset 1"},   // never valid / truncated
      {"\xC0\xAF", "overlong"},              {"\xE0\x80\xAF", "overlong"},
      {"x\xED\xA0\x80", "surrogate"},        {"\xF4\x90\x80\x80", "above U+10FFFF"},
      {"\x80", "continuation"},              {"\xE4\xB8x", "cut short"},
  };
  for (const auto& [bytes, expected] : cases) {
    auto text = DecodeUtf8(bytes);
    ASSERT_FALSE(text.ok()) << expected;
    EXPECT_NE(text.status().message().find(expected), std::string::npos) << text.status().message();
  }
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenizer

TEST(GptPreTokenizeTest, SplitsLikeGpt2Regex) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"Hello world", {"Hello", " world"}},
      {"I'm don't 'S", {"I", "'m", " don", "'t", " '", "S"}},
      {"they're we've she'll he'd it's", {"they", "'re", " we", "'ve", " she", "'ll", " he", "'d", " it", "'s"}},
      {"IT'S", {"IT", "'", "S"}},
      {"a  b", {"a", " ", " b"}},
      {"a   b", {"a", "  ", " b"}},
      {"a \tb", {"a", " ", "\t", "b"}},
      {"x  ", {"x", "  "}},
      {"  x", {" ", " x"}},
      {"1234567 3.14", {"1234567", " 3", ".", "14"}},
      {"abc123def", {"abc", "123", "def"}},
      {"!!! ??", {"!!!", " ??"}},
      {"dog!\r\n", {"dog", "!", "\r\n"}},
      {"dog\r\nx", {"dog", "\r", "\n", "x"}},
      {"café 日本語 😀😀 x²", {"café", " 日本語", " 😀😀", " x", "²"}},
      {"x\u00A0y", {"x", "\u00A0", "y"}},
      {"", {}},
  };
  for (const auto& [text, expected] : cases) {
    auto words = GptPreTokenize(text);
    ASSERT_TRUE(words.ok()) << words.status().ToString();
    EXPECT_EQ(*words, expected) << "text: " << text;
  }
}

// ---------------------------------------------------------------------------------------------
// BPE

TEST(BpeTokenizerTest, MergesByRank) {
  MiniVocab v = HelloVocab();
  ByteLevelBpeTokenizer tok = MustLoad(v);
  EXPECT_EQ(Encode(tok, "Hello world"), (Ids{v.ids["Hello"], v.ids["Ġworld"]}));
  // "b c" ranks before "a b": the lowest rank wins, not the leftmost pair.
  EXPECT_EQ(Encode(tok, "abc"), (Ids{'a', v.ids["bc"]}));
  // All occurrences of the chosen pair, left to right, without overlap.
  EXPECT_EQ(Encode(tok, "aaa"), (Ids{v.ids["aa"], 'a'}));
  EXPECT_EQ(Encode(tok, "aaaa"), (Ids{v.ids["aa"], v.ids["aa"]}));
  // No merge crosses a pre-tokenizer boundary: "world" without the leading space has no "Ġw".
  EXPECT_EQ(Encode(tok, "world"), (Ids{'w', v.ids["or"], 'l', 'd'}));
  EXPECT_EQ(Encode(tok, ""), Ids{});
  // Repeated words come from the cache and must give the same ids (" Hello" has no "ĠH").
  const Ids twice = {v.ids["Hello"], v.ids["Ġworld"], ' ', v.ids["Hello"], v.ids["Ġworld"]};
  EXPECT_EQ(Encode(tok, "Hello world Hello world"), twice);
  EXPECT_EQ(Encode(tok, "Hello world Hello world"), twice);
}

TEST(BpeTokenizerTest, EveryByteFallsBackToItsSymbol) {
  ByteLevelBpeTokenizer tok = MustLoad(MakeVocab({}));
  // Without merges every byte is its own token: ids are exactly the UTF-8 bytes.
  for (const std::string& text : {std::string("\x00\x01 ~\x7F", 5), std::string("é"), std::string("😀"),
                                 std::string("中文"), std::string("\u00A0\u3000"), std::string("مرحبا")}) {
    Ids expected;
    for (unsigned char b : text) expected.push_back(b);
    EXPECT_EQ(Encode(tok, text), expected);
    auto back = tok.Decode(expected);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, text);
  }
}

TEST(BpeTokenizerTest, InvalidUtf8IsAnError) {
  ByteLevelBpeTokenizer tok = MustLoad(HelloVocab());
  auto ids = tok.Encode("Hello \xC3(");
  ASSERT_FALSE(ids.ok());
  EXPECT_EQ(ids.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(ids.status().message().find("invalid UTF-8 at byte offset 6"), std::string::npos)
      << ids.status().message();
}

TEST(BpeTokenizerTest, AddedTokensAreMatchedBeforeBpe) {
  MiniVocab v = HelloVocab();
  const int64_t eot = v.ids["<|endoftext|>"];
  ByteLevelBpeTokenizer tok = MustLoad(v, {{"   ", 500}, {"  ", 501}, {"<|x|>", 502}});
  // The double space is one added token, so " world" loses its space: no "Ġworld".
  EXPECT_EQ(Encode(tok, "Hello  world"), (Ids{v.ids["Hello"], 501, 'w', v.ids["or"], 'l', 'd'}));
  // Leftmost-longest: three spaces are the 3-space token, not 2 + 1.
  EXPECT_EQ(Encode(tok, "a   b"), (Ids{'a', 500, 'b'}));
  EXPECT_EQ(Encode(tok, "a     b"), (Ids{'a', 500, 501, 'b'}));
  EXPECT_EQ(Encode(tok, "x<|x|>y<|x|>"), (Ids{'x', 502, 'y', 502}));
  // Each piece between added tokens is pre-tokenized on its own: the space before "<|x|>" is at
  // the piece's end, so \s+(?!\S) keeps it as a word.
  EXPECT_EQ(Encode(tok, "a <|x|>"), (Ids{'a', ' ', 502}));
  // FromStrings does not make <|endoftext|> special by itself ...
  EXPECT_NE(Encode(tok, "<|endoftext|>"), Ids{eot});
  // ... AddSpecialTokens does, keeping the vocab id.
  ASSERT_TRUE(tok.AddSpecialTokens({"<|endoftext|>"}).ok());
  EXPECT_EQ(Encode(tok, "<|endoftext|>Hello"), (Ids{eot, v.ids["Hello"]}));
  auto text = tok.Decode({v.ids["Hello"], 501, eot});
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "Hello  <|endoftext|>");
}

TEST(BpeTokenizerTest, AddSpecialTokensAppendsNewAndKeepsExistingIds) {
  MiniVocab v = HelloVocab();
  ByteLevelBpeTokenizer tok = MustLoad(v, {{"  ", 600}});
  EXPECT_EQ(tok.size(), 601);  // largest id + 1, not the number of entries
  ASSERT_TRUE(tok.AddSpecialTokens({"[PAD]", "  ", "<|t2i|>", "[PAD]", "<|endoftext|>"}).ok());
  EXPECT_EQ(tok.TokenId("[PAD]"), 601);
  EXPECT_EQ(tok.TokenId("<|t2i|>"), 602);
  EXPECT_EQ(tok.TokenId("  "), 600);
  EXPECT_EQ(tok.TokenId("<|endoftext|>"), v.ids["<|endoftext|>"]);
  EXPECT_EQ(tok.TokenId("Ġworld"), v.ids["Ġworld"]);  // vocab entries by their byte-level form
  EXPECT_EQ(tok.TokenId("nope"), std::nullopt);
  EXPECT_EQ(tok.size(), 603);
  EXPECT_EQ(Encode(tok, "[PAD]<|t2i|>Hello"), (Ids{601, 602, v.ids["Hello"]}));
  EXPECT_FALSE(tok.AddSpecialTokens({""}).ok());
  // A copy is independent of the original.
  ByteLevelBpeTokenizer copy = tok;
  ASSERT_TRUE(copy.AddSpecialTokens({"<|new|>"}).ok());
  EXPECT_EQ(copy.size(), 604);
  EXPECT_EQ(tok.size(), 603);
  EXPECT_EQ(Encode(copy, "Hello world"), Encode(tok, "Hello world"));
}

TEST(BpeTokenizerTest, DecodeRejectsUnknownIds) {
  ByteLevelBpeTokenizer tok = MustLoad(HelloVocab());
  auto text = tok.Decode({'a', 99999});
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.status().message().find("unknown id 99999 at position 1"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// File validation

void ExpectError(const Status& st, const std::vector<std::string>& fragments) {
  ASSERT_FALSE(st.ok()) << "expected an error containing " << fragments[0];
  for (const auto& f : fragments) EXPECT_NE(st.message().find(f), std::string::npos) << st.message();
}

TEST(BpeTokenizerFilesTest, MalformedVocabIsAnErrorNamingTheEntry) {
  MiniVocab v = HelloVocab();
  ExpectError(LoadError("{\"a\": 1,", v.merges_txt), {"vocab.json", "JSON parse error"});
  ExpectError(LoadError("[1, 2]", v.merges_txt), {"vocab.json", "object"});
  auto with = [&](const std::string& extra) {
    return v.vocab_json.substr(0, v.vocab_json.size() - 1) + "," + extra + "}";
  };
  ExpectError(LoadError(with("\"zz\": 1.5"), v.merges_txt), {"vocab.json entry \"zz\"", "not an integer"});
  ExpectError(LoadError(with("\"zz\": -1"), v.merges_txt), {"entry \"zz\""});
  ExpectError(LoadError(with("\"zz\": \"7\""), v.merges_txt), {"entry \"zz\"", "not a number"});
  ExpectError(LoadError(with("\"zz\": 256"), v.merges_txt), {"id 256 is also used by"});
  ExpectError(LoadError(with("\"\": 9999"), v.merges_txt), {"empty token"});
  // A vocab without some byte cannot encode every text.
  Json::Object no_tab;
  for (const auto& [token, id] : v.ids) {
    if (token != ByteSymbol('\t')) no_tab[token] = Json(id);
  }
  ExpectError(LoadError(Json(no_tab).Dump(), ""), {"no entry for byte 0x09"});
}

TEST(BpeTokenizerFilesTest, MalformedMergesAreAnErrorNamingTheLine) {
  MiniVocab v = HelloVocab();
  const std::string head = "#version: 0.2\nH e\n";  // line 1 is the header, line 2 a merge
  ExpectError(LoadError(v.vocab_json, head + "H e ll\n"), {"merges.txt line 3", "two symbols"});
  ExpectError(LoadError(v.vocab_json, head + "Hell\n"), {"merges.txt line 3", "two symbols"});
  ExpectError(LoadError(v.vocab_json, head + "\nl l\n"), {"merges.txt line 3", "two symbols"});
  ExpectError(LoadError(v.vocab_json, head + "H  e\n"), {"merges.txt line 3"});
  ExpectError(LoadError(v.vocab_json, head + "x y\n"), {"merges.txt line 3", "\"xy\" is not in vocab.json"});
  ExpectError(LoadError(v.vocab_json, head + "Q Hello\n"), {"line 3", "\"QHello\" is not in"});
  ExpectError(LoadError(v.vocab_json, head + "l l\nH e\n"), {"line 4", "duplicate merge", "line 2"});
  ExpectError(LoadError(v.vocab_json, "H e\r\n"), {"line 1", "is not in"});
  // "#version" is a header only on the first line.
  ExpectError(LoadError(v.vocab_json, "H e\n#version: 0.2\n"), {"line 2"});
  // Without a header and without a final newline the merges still load.
  EXPECT_TRUE(LoadError(v.vocab_json, "H e\nl l").ok());
}

TEST(BpeTokenizerFilesTest, AddedTokensMustNotConflict) {
  MiniVocab v = HelloVocab();
  const int64_t eot = v.ids["<|endoftext|>"];
  ExpectError(LoadError(v.vocab_json, v.merges_txt, {{"<|endoftext|>", eot + 1}}), {"the vocab has it as id"});
  ExpectError(LoadError(v.vocab_json, v.merges_txt, {{"  ", 256}}), {"id already belongs to"});
  ExpectError(LoadError(v.vocab_json, v.merges_txt, {{"  ", 900}, {"   ", 900}}), {"added token #1"});
  ExpectError(LoadError(v.vocab_json, v.merges_txt, {{"  ", 900}, {"  ", 901}}), {"already added with id 900"});
  ExpectError(LoadError(v.vocab_json, v.merges_txt, {{"", 900}}), {"empty added token"});
  ExpectError(LoadError(v.vocab_json, v.merges_txt, {{"\xFF", 900}}), {"invalid UTF-8"});
  EXPECT_TRUE(LoadError(v.vocab_json, v.merges_txt, {{"<|endoftext|>", eot}}).ok());
}

TEST(BpeTokenizerFilesTest, ParsesBothAddedTokenFormats) {
  auto a = ByteLevelBpeTokenizer::ParseAddedTokens(R"({"\t\t": 902, "  ": 901})", "added_tokens.json");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->size(), 2u);
  EXPECT_EQ((*a)[0].content, "  ");
  EXPECT_EQ((*a)[0].id, 901);
  EXPECT_EQ((*a)[1].content, "\t\t");
  auto b = ByteLevelBpeTokenizer::ParseAddedTokens(
      R"({"version": "1.0", "added_tokens": [{"id": 50256, "content": "<|endoftext|>", "single_word": false,
          "lstrip": false, "rstrip": false, "normalized": false, "special": true}]})",
      "tokenizer.json");
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ((*b)[0].content, "<|endoftext|>");
  EXPECT_EQ((*b)[0].id, 50256);
  ExpectError(ByteLevelBpeTokenizer::ParseAddedTokens(R"({"added_tokens": [{"id": 1}]})", "tokenizer.json").status(),
              {"tokenizer.json added_tokens[0]", "content"});
  ExpectError(ByteLevelBpeTokenizer::ParseAddedTokens(
                  R"({"added_tokens": [{"id": 1, "content": "x", "lstrip": true}]})", "tokenizer.json").status(),
              {"added_tokens[0]", "lstrip"});
  ExpectError(ByteLevelBpeTokenizer::ParseAddedTokens(R"({"  ": "x"})", "added_tokens.json").status(),
              {"added_tokens.json entry \"  \"", "not a number"});
  ExpectError(ByteLevelBpeTokenizer::ParseAddedTokens("{", "added_tokens.json").status(),
              {"added_tokens.json", "JSON parse error"});
}

TEST(BpeTokenizerFilesTest, LoadsAHuggingFaceFolder) {
  MiniVocab v = HelloVocab();
  const int64_t eot = v.ids["<|endoftext|>"];
  TempDir dir;
  dir.Write("vocab.json", v.vocab_json);
  dir.Write("merges.txt", v.merges_txt);
  {
    auto tok = ByteLevelBpeTokenizer::Load(dir.path());
    ASSERT_TRUE(tok.ok()) << tok.status().ToString();
    // Loading from files makes <|endoftext|> special (CodeGen's bos/eos/unk).
    EXPECT_EQ(*tok->Encode("<|endoftext|>Hello world"), (Ids{eot, v.ids["Hello"], v.ids["Ġworld"]}));
  }
  dir.Write("added_tokens.json", "{\"  \": 700}");
  dir.Write("tokenizer.json", "{\"added_tokens\": [{\"id\": 700, \"content\": \"  \"}, {\"id\": 701, \"content\": \"\\t\\t\"}]}");
  {
    auto tok = ByteLevelBpeTokenizer::Load(dir.path());
    ASSERT_TRUE(tok.ok()) << tok.status().ToString();
    EXPECT_EQ(*tok->Encode("  Hello\t\t"), (Ids{700, v.ids["Hello"], 701}));
    EXPECT_EQ(tok->size(), 702);
  }
  dir.Write("added_tokens.json", "{\"  \": 703}");
  ExpectError(ByteLevelBpeTokenizer::Load(dir.path()).status(), {"added_tokens.json", "disagrees with", "tokenizer.json"});
  // FromFiles takes either format.
  const std::string added = dir.Write("extra.json", "{\"  \": 710}");
  auto tok = ByteLevelBpeTokenizer::FromFiles(dir.path() + "/vocab.json", dir.path() + "/merges.txt", added);
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ(*tok->Encode("  Hello"), (Ids{710, v.ids["Hello"]}));
  // Missing files are named.
  ExpectError(ByteLevelBpeTokenizer::FromFiles(dir.path() + "/nope.json", dir.path() + "/merges.txt").status(),
              {"cannot open", "nope.json"});
  TempDir empty;
  ExpectError(ByteLevelBpeTokenizer::Load(empty.path()).status(), {"vocab.json"});
  // A bad merges file names its path and line.
  dir.Write("added_tokens.json", "{\"  \": 700}");
  dir.Write("merges.txt", "#version: 0.2\nH e\nzzz\n");
  ExpectError(ByteLevelBpeTokenizer::Load(dir.path()).status(), {"merges.txt line 3"});
}

TEST(BpeTokenizerFilesTest, VocabWithEscapesAndSurrogatePairs) {
  // Python's json.dump writes every non-ASCII character as \uXXXX, above the BMP as a pair.
  MiniVocab v = HelloVocab();
  std::string escaped = "{";
  for (const auto& [token, id] : v.ids) {
    auto cps = DecodeUtf8(token);
    ASSERT_TRUE(cps.ok());
    escaped += "\"";
    for (char32_t c : cps->code_points) {
      char buf[16];
      if (c == '"' || c == '\\') {
        escaped += '\\';
        escaped += static_cast<char>(c);
        continue;
      }
      std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(c));
      escaped += buf;
    }
    escaped += "\": " + std::to_string(id) + ", ";
  }
  escaped += "\"\\ud83d\\ude00\": 5000}";
  ByteLevelBpeTokenizer tok = MustLoad({escaped, v.merges_txt, {}});
  EXPECT_EQ(Encode(tok, "Hello world"), (Ids{v.ids["Hello"], v.ids["Ġworld"]}));
  EXPECT_EQ(tok.TokenId("😀"), 5000);
  EXPECT_EQ(*tok.Decode({5000}), "😀");
}

}  // namespace
}  // namespace maskgrpo::showo
