// maskgrpo_clip_tokenize: prompts in as JSON lines ({"prompt": "..."}), CLIP token ids out, one
// JSON array per line. Used to compare the CLIP tokenizer with other implementations.
//
//   maskgrpo_clip_tokenize (--open-clip FILE | --vocab vocab.json --merges merges.txt | --load PATH)
//                          [--mode encode|tokenize|clean] [--context-length 77] < prompts.jsonl
// encode: BPE ids only; tokenize: [SOT] + ids + [EOT], truncated and padded to the context
// length; clean: the cleaned text as a JSON string.
// Exit status: 0 ok, 1 a bad input line (named on stderr; nothing after it is processed),
// 2 bad flags or tokenizer files.
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include "core/clip/clip_tokenizer.h"
#include "core/json.h"

namespace {

using maskgrpo::Json;
using maskgrpo::StatusOr;
using maskgrpo::clip::ClipTokenizer;

constexpr const char* kUsage =
    "usage: maskgrpo_clip_tokenize (--open-clip FILE | --vocab VOCAB_JSON --merges MERGES_TXT | --load PATH)\n"
    "                              [--mode encode|tokenize|clean] [--context-length N] < prompts.jsonl\n"
    "  reads one {\"prompt\": \"...\"} per line, writes one JSON array of ids (or, with --mode clean,\n"
    "  one JSON string) per line. Default mode: encode.\n";

int Usage(const std::string& problem) {
  std::cerr << "maskgrpo_clip_tokenize: " << problem << "\n" << kUsage;
  return 2;
}

std::string IdsToJson(const std::vector<int64_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  return out + "]";
}

}  // namespace

int main(int argc, char** argv) {
  std::string open_clip, vocab, merges, load, mode = "encode", context = "77";
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      return 0;
    }
    std::string* target = flag == "--open-clip" ? &open_clip : flag == "--vocab" ? &vocab
                        : flag == "--merges" ? &merges : flag == "--load" ? &load
                        : flag == "--mode" ? &mode : flag == "--context-length" ? &context : nullptr;
    if (target == nullptr) return Usage("unknown flag " + flag);
    if (i + 1 >= argc) return Usage(flag + " needs a value");
    *target = argv[++i];
  }
  if (mode != "encode" && mode != "tokenize" && mode != "clean") return Usage("--mode must be encode, tokenize or clean");
  char* end = nullptr;
  const long long context_length = std::strtoll(context.c_str(), &end, 10);
  if (context.empty() || *end != '\0') return Usage("--context-length '" + context + "' is not an integer");
  const int sources = !open_clip.empty() + (!vocab.empty() || !merges.empty()) + !load.empty();
  if (sources != 1) return Usage("give exactly one of --open-clip, --vocab/--merges, --load");
  if (!vocab.empty() && merges.empty()) return Usage("--vocab needs --merges");
  if (vocab.empty() && !merges.empty()) return Usage("--merges needs --vocab");

  std::optional<ClipTokenizer> tok;
  if (mode != "clean") {
    StatusOr<ClipTokenizer> loaded = !open_clip.empty() ? ClipTokenizer::LoadOpenClip(open_clip)
                                   : !load.empty()      ? ClipTokenizer::Load(load)
                                                        : ClipTokenizer::LoadHuggingFace(vocab, merges);
    if (!loaded.ok()) {
      std::cerr << "maskgrpo_clip_tokenize: " << loaded.status().ToString() << "\n";
      return 2;
    }
    tok.emplace(std::move(loaded).value());
  }

  std::string line;
  int64_t line_no = 0;
  while (std::getline(std::cin, line)) {
    ++line_no;
    auto fail = [&](const std::string& why) {
      std::cout.flush();
      std::cerr << "maskgrpo_clip_tokenize: stdin line " << line_no << ": " << why << "\n";
      return 1;
    };
    auto parsed = Json::Parse(line);
    if (!parsed.ok()) return fail(parsed.status().message());
    const Json* prompt = parsed->Find("prompt");
    if (prompt == nullptr || !prompt->is_string()) return fail("expected {\"prompt\": \"...\"}");
    if (mode == "clean") {
      auto cleaned = maskgrpo::clip::CleanText(prompt->as_string());
      if (!cleaned.ok()) return fail(cleaned.status().message());
      std::cout << Json(*cleaned).Dump() << '\n';
      continue;
    }
    auto ids = mode == "tokenize" ? tok->Tokenize(prompt->as_string(), context_length) : tok->Encode(prompt->as_string());
    if (!ids.ok()) return fail(ids.status().message());
    std::cout << IdsToJson(*ids) << '\n';
  }
  if (std::cin.bad()) {
    std::cerr << "maskgrpo_clip_tokenize: error reading stdin\n";
    return 1;
  }
  return 0;
}
