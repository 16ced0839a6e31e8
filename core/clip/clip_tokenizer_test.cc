// Unit tests of the CLIP BPE tokenizer on small hand-written files in both formats. The real
// vocabulary is checked against a peer implementation by tests/clip_bpe_test.sh.
#include "core/clip/clip_tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/clip/clip_text_clean.h"
#include "core/json.h"
#include "core/showo/unicode_classes.h"

namespace maskgrpo::clip {
namespace {

// ids in the small open_clip file: 512 byte symbols, then these merges in order.
constexpr const char* kMerges =
    "#version: test\n"
    "h e\n"          // 512 he
    "l l\n"          // 513 ll
    "l o</w>\n"      // 514 lo</w>
    "he ll\n"        // 515 hell
    "hell o</w>\n"   // 516 hello</w>
    "l d</w>\n"      // 517 ld</w>
    "w o\n"          // 518 wo
    "wo r\n"         // 519 wor
    "wor ld</w>\n"   // 520 world</w>
    "' s</w>\n";     // 521 's</w>
constexpr int64_t kHello = 516, kWorld = 520, kApostropheS = 521, kSot = 522, kEot = 523;

// GPT-2's bytes_to_unicode, written out again so that the test does not trust the code under test.
std::string ByteSymbol(unsigned char b) {
  char32_t c = b;
  if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) {
    c = 256;
    for (int i = 0; i < b; ++i) {
      if (!((i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || i >= 0xAE)) ++c;
    }
  }
  std::string s;
  showo::AppendUtf8(c, &s);
  return s;
}

// The ids of a word that no merge touches: one symbol per byte, "</w>" on the last.
std::vector<int64_t> Unmerged(const ClipTokenizer& tok, const std::string& word) {
  std::vector<int64_t> ids;
  for (size_t i = 0; i < word.size(); ++i) {
    ids.push_back(tok.TokenId(ByteSymbol(static_cast<unsigned char>(word[i])) + (i + 1 == word.size() ? "</w>" : "")));
  }
  return ids;
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("clip_tokenizer_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& content) const {
    const std::string p = (path_ / name).string();
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

ClipTokenizer Small() {
  auto tok = ClipTokenizer::FromOpenClipText(kMerges, "small.txt");
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  return std::move(tok).value();
}

// The small vocabulary in Hugging Face form with other ids (reversed), plus its merges.txt.
std::pair<std::string, std::string> SmallHuggingFace() {
  ClipTokenizer open_clip = Small();
  std::vector<std::string> entries;
  for (int pass = 0; pass < 2; ++pass) {
    for (int b = 0; b < 256; ++b) {
      // any order will do for a vocab.json; the ids come from it
      entries.push_back(ByteSymbol(static_cast<unsigned char>(b)) + (pass ? "</w>" : ""));
    }
  }
  for (const char* m : {"he", "ll", "lo</w>", "hell", "hello</w>", "ld</w>", "wo", "wor", "world</w>", "'s</w>",
                        "<|startoftext|>", "<|endoftext|>"}) {
    entries.push_back(m);
  }
  Json::Object vocab;
  for (size_t i = 0; i < entries.size(); ++i) vocab[entries[i]] = Json(static_cast<int64_t>(entries.size() - 1 - i));
  std::string merges(kMerges);
  merges = "#version: 0.2\n" + merges.substr(merges.find('\n') + 1);
  return {Json(vocab).Dump(), merges};
}

TEST(ClipTokenizerTest, OpenClipLayoutAndIds) {
  ClipTokenizer tok = Small();
  EXPECT_EQ(tok.size(), 524);
  EXPECT_EQ(tok.sot_id(), kSot);
  EXPECT_EQ(tok.eot_id(), kEot);
  EXPECT_EQ(tok.TokenId("!"), 0);          // byte characters in code point order
  EXPECT_EQ(tok.TokenId("!</w>"), 256);
  EXPECT_EQ(tok.TokenId("\xC4\x80"), 188);  // U+0100 stands for byte 0, after the 188 printable ones
  EXPECT_EQ(tok.TokenId("hello</w>"), kHello);
  EXPECT_EQ(tok.TokenId("<start_of_text>"), kSot);
  auto ids = tok.Encode("hello world");
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  EXPECT_EQ(*ids, (std::vector<int64_t>{kHello, kWorld}));
  auto row = tok.Tokenize("hello world", 6);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(*row, (std::vector<int64_t>{kSot, kHello, kWorld, kEot, 0, 0}));
}

TEST(ClipTokenizerTest, EndOfWordMarkerOnlyOnTheLastSymbol) {
  ClipTokenizer tok = Small();
  // "hell": h e l l</w>; "l l" does not merge l with l</w>.
  EXPECT_EQ(*tok.Encode("hell"), (std::vector<int64_t>{512, tok.TokenId("l"), tok.TokenId("l</w>")}));
  // "he" ends in e</w>, which no merge joins with h.
  EXPECT_EQ(*tok.Encode("he"), Unmerged(tok, "he"));
  EXPECT_EQ(*tok.Encode("h"), (std::vector<int64_t>{tok.TokenId("h</w>")}));
  // "hellohello" is one word: hello is not followed by </w> in the middle.
  EXPECT_EQ(*tok.Encode("hellohello"), (std::vector<int64_t>{515, tok.TokenId("o"), 516}));
}

TEST(ClipTokenizerTest, CleaningLowerCasesAndCollapsesWhitespace) {
  ClipTokenizer tok = Small();
  const std::vector<int64_t> expected{kHello, kWorld};
  for (const char* text : {"HELLO World", "  hello\t\n  world  ", "hello&nbsp;WORLD", "hello\xE3\x80\x80world"}) {
    auto ids = tok.Encode(text);
    ASSERT_TRUE(ids.ok()) << text;
    EXPECT_EQ(*ids, expected) << text;
  }
  EXPECT_EQ(*tok.Encode("&amp;"), (std::vector<int64_t>{tok.TokenId("&</w>")}));
  EXPECT_EQ(*tok.Encode("&amp;lt;"), (std::vector<int64_t>{tok.TokenId("<</w>")}));  // unescaped twice
}

TEST(ClipTokenizerTest, RegexPieces) {
  ClipTokenizer tok = Small();
  EXPECT_EQ(*tok.Encode("hello's"), (std::vector<int64_t>{kHello, kApostropheS}));
  EXPECT_EQ(*tok.Encode("HELLO'S"), (std::vector<int64_t>{kHello, kApostropheS}));
  // digits one at a time; punctuation runs are one piece; whitespace is dropped
  EXPECT_EQ(*tok.Encode("12"), (std::vector<int64_t>{tok.TokenId("1</w>"), tok.TokenId("2</w>")}));
  EXPECT_EQ(*tok.Encode("!?"), (std::vector<int64_t>{0, tok.TokenId("?</w>")}));
  std::vector<int64_t> expected = Unmerged(tok, "ab");
  expected.push_back(tok.TokenId(".</w>"));
  EXPECT_EQ(*tok.Encode(" ab . "), expected);
  // the special tokens' names map to their ids, as in open_clip
  EXPECT_EQ(*tok.Encode("<start_of_text>hello<END_OF_TEXT>"), (std::vector<int64_t>{kSot, kHello, kEot}));
}

TEST(ClipTokenizerTest, NonAsciiIsEncodedAsUtf8Bytes) {
  ClipTokenizer tok = Small();
  // é is C3 A9; É lower-cases to it.
  EXPECT_EQ(*tok.Encode("\xC3\xA9"), Unmerged(tok, "\xC3\xA9"));
  EXPECT_EQ(*tok.Encode("\xC3\x89"), Unmerged(tok, "\xC3\xA9"));
  EXPECT_EQ(*tok.Encode("\xE6\x97\xA5"), Unmerged(tok, "\xE6\x97\xA5"));          // 日
  EXPECT_EQ(*tok.Encode("\xF0\x9F\x98\x80"), Unmerged(tok, "\xF0\x9F\x98\x80"));  // emoji
  EXPECT_EQ(tok.Encode(std::string("a\0b", 3))->size(), 3u);  // NUL is a symbol, not an end
}

TEST(ClipTokenizerTest, PythonCleaningCorners) {
  auto clean = [](const std::string& s) { return CleanText(s).value(); };
  EXPECT_EQ(clean("\xCE\x9F\xCE\x94\xCE\xA5\xCE\xA3\xCE\xA3\xCE\x95\xCE\xA5\xCE\xA3"),  // ΟΔΥΣΣΕΥΣ
            "\xCE\xBF\xCE\xB4\xCF\x85\xCF\x83\xCF\x83\xCE\xB5\xCF\x85\xCF\x82");          // οδυσσευς
  EXPECT_EQ(clean("\xC4\xB0"), "i\xCC\x87");                  // İ -> i + U+0307
  EXPECT_EQ(clean("\xD0\x9F\xD0\xA0\xD0\x98"), "\xD0\xBF\xD1\x80\xD0\xB8");  // ПРИ -> при
  EXPECT_EQ(clean("&#128;"), "\xE2\x82\xAC");                 // Windows-1252 remap
  EXPECT_EQ(clean("&#0;"), "\xEF\xBF\xBD");
  EXPECT_EQ(clean("&#x110000;"), "\xEF\xBF\xBD");
  EXPECT_EQ(clean("a&#1;b"), "ab");                           // dropped code point
  EXPECT_EQ(clean("&ampx &#65 &#x41; &#; &bogus;"), "&x a a &#; &bogus;");
  EXPECT_EQ(clean("&amp;amp;amp;"), "&amp;");                 // only twice
  EXPECT_EQ(clean(" \x1C a \xC2\x85 b\t"), "a b");            // str.isspace() runs
}

TEST(ClipTokenizerTest, EmptyPromptIsSotEotThenPadding) {
  ClipTokenizer tok = Small();
  for (const char* text : {"", "   ", "\t\n"}) {
    auto row = tok.Tokenize(text);
    ASSERT_TRUE(row.ok());
    std::vector<int64_t> expected(77, 0);
    expected[0] = kSot;
    expected[1] = kEot;
    EXPECT_EQ(*row, expected);
  }
}

TEST(ClipTokenizerTest, TruncationKeepsEotLast) {
  ClipTokenizer tok = Small();
  std::string words;
  for (int i = 0; i < 100; ++i) words += "hello ";
  auto row = tok.Tokenize(words);
  ASSERT_TRUE(row.ok());
  ASSERT_EQ(row->size(), 77u);
  EXPECT_EQ(row->front(), kSot);
  EXPECT_EQ(row->back(), kEot);
  for (size_t i = 1; i < 76; ++i) EXPECT_EQ((*row)[i], kHello);
  // exactly full: 75 words fit with SOT and EOT; 76 do not
  std::string fit;
  for (int i = 0; i < 75; ++i) fit += "hello ";
  EXPECT_EQ(tok.Tokenize(fit)->at(75), kHello);
  EXPECT_EQ(tok.Tokenize(fit + "world")->at(75), kHello);
  EXPECT_EQ(tok.Tokenize(fit + "world")->at(76), kEot);
  EXPECT_EQ(*tok.Tokenize("hello world", 2), (std::vector<int64_t>{kSot, kEot}));
  EXPECT_EQ(*tok.Tokenize("hello world", 1), (std::vector<int64_t>{kEot}));
  EXPECT_EQ(tok.Tokenize("hello", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(tok.Tokenize("hello", -5).status().code(), StatusCode::kInvalidArgument);
}

TEST(ClipTokenizerTest, TenThousandCharacterPrompts) {
  ClipTokenizer tok = Small();
  std::string natural;
  while (natural.size() < 10000) natural += "Hello WORLD, caf\xC3\xA9 \xE6\x97\xA5 1234 it's  ok! ";
  std::string one_word;
  for (int i = 0; i < 1000; ++i) one_word += "helloworld";
  for (const std::string& text : {natural, one_word}) {
    auto row = tok.Tokenize(text);
    ASSERT_TRUE(row.ok()) << row.status().ToString();
    EXPECT_EQ(row->size(), 77u);
    EXPECT_EQ(row->back(), kEot);
    auto ids = tok.Encode(text);
    ASSERT_TRUE(ids.ok());
    EXPECT_GT(ids->size(), 75u);
  }
}

TEST(ClipTokenizerTest, InvalidUtf8IsAnError) {
  ClipTokenizer tok = Small();
  for (const char* bad : {"a \xFF b", "\xC0\xAF", "\xE6\x97", "\xED\xA0\x80", "ok \x80"}) {
    auto ids = tok.Encode(bad);
    ASSERT_FALSE(ids.ok()) << bad;
    EXPECT_EQ(ids.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(ids.status().message().find("UTF-8"), std::string::npos) << ids.status().message();
    EXPECT_FALSE(tok.Tokenize(bad).ok());
    EXPECT_FALSE(CleanText(bad).ok());
  }
  // also when the bad byte lies past the truncation point
  std::string long_bad(5000, 'a');
  EXPECT_FALSE(tok.Tokenize(long_bad + " \xFF").ok());
}

TEST(ClipTokenizerTest, HuggingFaceFormat) {
  auto [vocab, merges] = SmallHuggingFace();
  auto tok = ClipTokenizer::FromHuggingFaceText(vocab, "vocab.json", merges, "merges.txt");
  ASSERT_TRUE(tok.ok()) << tok.status().ToString();
  EXPECT_EQ(tok->size(), 524);
  const int64_t hello = tok->TokenId("hello</w>"), world = tok->TokenId("world</w>");
  EXPECT_NE(hello, kHello);  // the ids come from vocab.json
  EXPECT_EQ(*tok->Encode("Hello world"), (std::vector<int64_t>{hello, world}));
  EXPECT_EQ(tok->sot_id(), tok->TokenId("<|startoftext|>"));
  EXPECT_EQ(tok->eot_id(), tok->TokenId("<|endoftext|>"));
  EXPECT_EQ(*tok->Tokenize("hello world", 5), (std::vector<int64_t>{tok->sot_id(), hello, world, tok->eot_id(), 0}));
  EXPECT_EQ(*tok->Encode("<|endoftext|>"), (std::vector<int64_t>{tok->eot_id()}));
  // merges.txt without the #version line works too
  auto plain = ClipTokenizer::FromHuggingFaceText(vocab, "vocab.json", merges.substr(merges.find('\n') + 1), "m.txt");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(*plain->Encode("hello world"), (std::vector<int64_t>{hello, world}));
}

TEST(ClipTokenizerTest, LoadPicksTheFormat) {
  TempDir dir;
  const std::string open_clip = dir.Write("bpe_simple_vocab_16e6.txt", kMerges);
  auto from_file = ClipTokenizer::Load(open_clip);
  ASSERT_TRUE(from_file.ok()) << from_file.status().ToString();
  EXPECT_EQ(from_file->sot_id(), kSot);
  auto from_dir = ClipTokenizer::Load(dir.path());
  ASSERT_TRUE(from_dir.ok()) << from_dir.status().ToString();
  EXPECT_EQ(from_dir->TokenId("<start_of_text>"), kSot);
  auto [vocab, merges] = SmallHuggingFace();
  dir.Write("vocab.json", vocab);
  auto half = ClipTokenizer::LoadHuggingFace(dir.path() + "/vocab.json", dir.path() + "/merges.txt");
  EXPECT_EQ(half.status().code(), StatusCode::kNotFound);
  dir.Write("merges.txt", merges);
  auto hf = ClipTokenizer::Load(dir.path());
  ASSERT_TRUE(hf.ok()) << hf.status().ToString();
  EXPECT_NE(hf->TokenId("<|startoftext|>"), -1);  // vocab.json + merges.txt win
  EXPECT_EQ(ClipTokenizer::Load(dir.path() + "/missing").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(ClipTokenizer::LoadOpenClip(dir.path()).ok());  // a directory is not a file
  // a .gz that is not gzip data
  auto fake_gz = ClipTokenizer::LoadOpenClip(dir.Write("fake.txt.gz", kMerges));
  EXPECT_FALSE(fake_gz.ok());
  EXPECT_NE(fake_gz.status().message().find("not gzip"), std::string::npos) << fake_gz.status().message();
  // gzip magic with garbage: an error either way (corrupt data, or no zlib in this build)
  EXPECT_FALSE(ClipTokenizer::LoadOpenClip(dir.Write("bad.txt.gz", std::string("\x1F\x8B\x08\x00garbage", 11))).ok());
}

// Expects an InvalidArgument error whose message contains every one of `parts`.
void ExpectError(const StatusOr<ClipTokenizer>& tok, const std::vector<std::string>& parts) {
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), StatusCode::kInvalidArgument) << tok.status().ToString();
  for (const std::string& p : parts) EXPECT_NE(tok.status().message().find(p), std::string::npos) << tok.status().message();
}

TEST(ClipTokenizerTest, MalformedOpenClipFiles) {
  auto load = [](const std::string& text) { return ClipTokenizer::FromOpenClipText(text, "m.txt"); };
  ExpectError(load(""), {"m.txt", "empty"});
  ExpectError(load("#version only"), {"m.txt", "header"});
  ExpectError(load("#version\n"), {"m.txt", "no merges"});
  ExpectError(load("#version\nh e\nh\n"), {"m.txt: line 3", "two symbols"});
  ExpectError(load("#version\nh e l\n"), {"m.txt: line 2", "two symbols"});
  ExpectError(load("#version\nh e\n\nl l\n"), {"m.txt: line 3"});
  ExpectError(load("#version\nh e\nhe llo\n"), {"m.txt: line 3", "'llo'", "earlier merge"});
  ExpectError(load("#version\nh e\nh e\n"), {"m.txt: line 3", "twice"});
  ExpectError(load("#version\nh \xFF\n"), {"m.txt", "UTF-8"});
  // a trailing newline and CRLF line ends are accepted (Python's str.split() drops the \r)
  EXPECT_TRUE(load("#version\r\nh e\r\nl l").ok());
}

TEST(ClipTokenizerTest, MalformedHuggingFaceFiles) {
  auto [vocab, merges] = SmallHuggingFace();
  auto load = [](const std::string& v, const std::string& m) {
    return ClipTokenizer::FromHuggingFaceText(v, "v.json", m, "m.txt");
  };
  ExpectError(load("{not json", merges), {"v.json"});
  ExpectError(load("[1, 2]", merges), {"v.json", "object"});
  ExpectError(load("{\"a\": 1.5}", merges), {"v.json", "'a'", "integer"});
  ExpectError(load("{\"a\": \"1\"}", merges), {"v.json", "not a number"});
  ExpectError(load("{\"a\": 1, \"b\": 1}", merges), {"v.json", "also used"});
  ExpectError(load(vocab, "#version: 0.2\nh e\nq z\n"), {"m.txt: line 3", "merged symbol 'qz'"});
  ExpectError(load(vocab, "#version: 0.2\nh e\nhe\n"), {"m.txt: line 3", "two symbols"});
  ExpectError(load(vocab, "#version: 0.2\nh e\nh e\n"), {"m.txt: line 3", "twice"});
  ExpectError(load(vocab, "#version: 0.2\n"), {"m.txt", "no merges"});
  ExpectError(load(vocab, "#version: 0.2\nh e\n\nl l\n"), {"m.txt: line 4"});
  // a vocab without <|endoftext|>, or without a byte symbol
  Json parsed = Json::Parse(vocab).value();
  Json no_eot = parsed;
  no_eot.mutable_object().erase("<|endoftext|>");
  ExpectError(load(no_eot.Dump(), merges), {"<|endoftext|>"});
  Json no_byte = parsed;
  no_byte.mutable_object().erase("z</w>");
  ExpectError(load(no_byte.Dump(), merges), {"z</w>"});
}

}  // namespace
}  // namespace maskgrpo::clip
