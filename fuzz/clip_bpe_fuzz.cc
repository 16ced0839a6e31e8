// Text in for the CLIP tokenizer (core/clip/clip_tokenizer.h: ftfy-free cleaning, lower-casing,
// CLIP's pre-tokenizer, BPE) with a small open_clip-format vocabulary. Every accepted prompt
// gives exactly context_length ids: SOT first, EOT present, every id in the vocabulary.
#include <algorithm>
#include <cstdint>
#include <string>

#include "core/clip/clip_tokenizer.h"
#include "fuzz/fuzz_util.h"

namespace {

const maskgrpo::clip::ClipTokenizer& Tokenizer() {
  static const maskgrpo::clip::ClipTokenizer* tok = [] {
    const std::string merges = "#version: fuzz\nh e\nl l\nl o</w>\nhe ll\nhell o</w>\nl d</w>\nw o\nwo r\n"
                               "wor ld</w>\n' s</w>\nt h\nth e</w>\nc a\nca t</w>\n";
    auto made = maskgrpo::clip::ClipTokenizer::FromOpenClipText(merges, "fuzz.txt");
    FUZZ_CHECK(made.ok(), made.status().ToString());
    return new maskgrpo::clip::ClipTokenizer(std::move(*made));
  }();
  return *tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int64_t context = 1 + data[0] % 80;  // 1..80: truncation at every length
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto& tok = Tokenizer();
  auto ids = tok.Tokenize(text, context);
  if (!ids.ok()) {
    FUZZ_CHECK(!ids.status().message().empty(), "an error without a message");
    return 0;
  }
  FUZZ_CHECK(static_cast<int64_t>(ids->size()) == context, "not context_length ids");
  FUZZ_CHECK(context == 1 || (*ids)[0] == tok.sot_id(), "the first id is not SOT");
  FUZZ_CHECK(std::find(ids->begin(), ids->end(), tok.eot_id()) != ids->end(), "no EOT");
  for (int64_t id : *ids) FUZZ_CHECK(id >= 0 && id < tok.size(), "an id outside the vocabulary");
  return 0;
}
