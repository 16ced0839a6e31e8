// Tokenizer files in: the loaders of vocab.json + merges.txt (Phi/CodeGen and Hugging Face
// CLIP), added_tokens.json / tokenizer.json, and open_clip's merges file. The first byte picks
// the loader; two-file loaders split the rest at the first NUL byte. Whatever loads must
// tokenize a fixed sentence.
#include <cstdint>
#include <string>

#include "core/clip/clip_tokenizer.h"
#include "core/showo/bpe_tokenizer.h"
#include "fuzz/byte_vocab.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace maskgrpo;
  if (size < 1) return 0;
  const int which = data[0] % 4;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t nul = rest.find('\0');
  const std::string first = rest.substr(0, nul);
  const std::string second = nul == std::string::npos ? "" : rest.substr(nul + 1);
  const std::string sentence = "a photo of the cat, 12 hello's <|endoftext|>";
  fuzz::Note("tokenizer files: loader " + std::to_string(which));
  switch (which) {
    case 0: {
      auto tok = showo::ByteLevelBpeTokenizer::FromStrings(first, "vocab.json", second, "merges.txt");
      if (!tok.ok()) return 0;
      auto ids = tok->Encode(sentence);
      if (ids.ok()) {
        auto back = tok->Decode(*ids);
        FUZZ_CHECK(back.ok() && *back == sentence, "a loaded tokenizer does not round-trip");
      }
      return 0;
    }
    case 1: {
      // Parsing, then the checks the loader makes when it adds the tokens to a vocabulary.
      auto added = showo::ByteLevelBpeTokenizer::ParseAddedTokens(rest, "added_tokens.json");
      if (!added.ok()) return 0;
      static const std::string vocab = [] {
        std::string v = "{";
        const auto symbols = fuzz::ByteSymbols();
        for (int b = 0; b < 256; ++b) {
          std::string quoted;
          for (char c : symbols[b]) quoted += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
          v += (b ? ", \"" : "\"") + quoted + "\": " + std::to_string(b);
        }
        return v + "}";
      }();
      auto tok = showo::ByteLevelBpeTokenizer::FromStrings(vocab, "vocab.json", "#version: 0.2\n", "merges.txt", *added);
      fuzz::Note("added tokens: " + (tok.ok() ? std::string("loaded") : tok.status().ToString()));
      if (!tok.ok()) return 0;
      for (const auto& a : *added) FUZZ_CHECK(tok->TokenId(a.content) == a.id, "an added token lost its id");
      auto ids = tok->Encode(sentence);
      FUZZ_CHECK(ids.ok(), "a valid sentence does not encode: " + ids.status().ToString());
      auto back = tok->Decode(*ids);
      FUZZ_CHECK(back.ok() && *back == sentence, "a tokenizer with added tokens does not round-trip");
      return 0;
    }
    case 2: {
      auto tok = clip::ClipTokenizer::FromOpenClipText(rest, "bpe_simple_vocab_16e6.txt");
      if (!tok.ok()) return 0;
      auto ids = tok->Tokenize(sentence, 77);
      FUZZ_CHECK(ids.ok() && ids->size() == 77u, "a loaded tokenizer does not tokenize");
      for (int64_t id : *ids) FUZZ_CHECK(id >= 0 && id < tok->size(), "an id outside the vocabulary");
      return 0;
    }
    default: {
      auto tok = clip::ClipTokenizer::FromHuggingFaceText(first, "vocab.json", second, "merges.txt");
      if (!tok.ok()) return 0;
      auto ids = tok->Tokenize(sentence, 77);
      if (ids.ok()) {
        for (int64_t id : *ids) FUZZ_CHECK(id >= 0 && id < tok->size(), "an id outside the vocabulary");
      }
      return 0;
    }
  }
}
