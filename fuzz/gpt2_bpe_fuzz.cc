// Text in for Show-o's Phi/CodeGen byte-level BPE (core/showo/bpe_tokenizer.h) with a small
// vocabulary of all 256 byte symbols, some merges and added tokens. Byte-level BPE is
// lossless: whatever encodes must decode to exactly the input.
#include <cstdint>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/showo/bpe_tokenizer.h"
#include "fuzz/byte_vocab.h"
#include "fuzz/fuzz_util.h"

namespace {

using maskgrpo::Json;
using maskgrpo::showo::AddedToken;
using maskgrpo::showo::ByteLevelBpeTokenizer;

const ByteLevelBpeTokenizer& Tokenizer() {
  static const ByteLevelBpeTokenizer* tok = [] {
    const std::vector<std::string> sym = maskgrpo::fuzz::ByteSymbols();
    const std::string space = sym[' '];
    const std::vector<std::pair<std::string, std::string>> merges = {
        {space, "a"}, {"t", "h"}, {"th", "e"}, {space, "the"}, {"i", "n"}, {"e", "r"}, {space, "in"},
        {"r", "e"}, {"o", "n"}, {space, "c"}, {space, "s"}, {"a", "t"}, {"Ã", "©"}};
    Json::Object vocab;
    for (int b = 0; b < 256; ++b) vocab[sym[b]] = Json(static_cast<int64_t>(b));
    std::string merges_txt = "#version: 0.2\n";
    int64_t next = 256;
    for (const auto& [l, r] : merges) {
      merges_txt += l + " " + r + "\n";
      if (!vocab.count(l + r)) vocab[l + r] = Json(next++);
    }
    vocab["<|endoftext|>"] = Json(next);
    const std::vector<AddedToken> added = {{"<|endoftext|>", next}, {"<|soi|>", next + 1}, {"[PAD]", next + 2}};
    auto made = ByteLevelBpeTokenizer::FromStrings(Json(vocab).Dump(), "vocab.json", merges_txt, "merges.txt", added);
    FUZZ_CHECK(made.ok(), made.status().ToString());
    return new ByteLevelBpeTokenizer(std::move(*made));
  }();
  return *tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto ids = Tokenizer().Encode(text);
  if (!ids.ok()) {
    FUZZ_CHECK(ids.status().message().find("UTF-8") != std::string::npos, "an error other than bad UTF-8: " +
                                                                                ids.status().ToString());
    return 0;
  }
  auto back = Tokenizer().Decode(*ids);
  FUZZ_CHECK(back.ok(), "encoded ids do not decode: " + back.status().ToString());
  FUZZ_CHECK(*back == text, "the round trip changed the text");
  return 0;
}
