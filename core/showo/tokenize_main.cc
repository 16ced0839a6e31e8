// maskgrpo_tokenize: prompts in as JSON lines ({"prompt": "..."}), token ids out, one JSON
// array per line. With --showo, Show-o's special tokens are added and each line is the 129-id
// t2i text block instead. Used to compare this tokenizer with other implementations.
//
//   maskgrpo_tokenize (--dir DIR | --vocab vocab.json --merges merges.txt [--added-tokens F])
//                     [--showo] [--max-text-len 129] < prompts.jsonl
// Exit status: 0 ok, 1 a bad input line (named on stderr; nothing after it is processed),
// 2 bad flags or tokenizer files.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include "core/json.h"
#include "core/showo/bpe_tokenizer.h"
#include "core/showo/prompting.h"

namespace {

using maskgrpo::Json;
using maskgrpo::StatusOr;
using maskgrpo::showo::ByteLevelBpeTokenizer;
using maskgrpo::showo::ShowoTextLayout;

constexpr const char* kUsage =
    "usage: maskgrpo_tokenize (--dir DIR | --vocab VOCAB_JSON --merges MERGES_TXT [--added-tokens FILE])\n"
    "                         [--showo] [--max-text-len N] < prompts.jsonl\n"
    "  reads one {\"prompt\": \"...\"} per line, writes one JSON array of ids per line;\n"
    "  FILE is an added_tokens.json or a tokenizer.json; --showo prints Show-o's t2i text block.\n";

int Usage(const std::string& problem) {
  std::cerr << "maskgrpo_tokenize: " << problem << "\n" << kUsage;
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
  std::string dir, vocab, merges, added;
  bool showo = false;
  int64_t max_text_len = 129;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    if (flag == "--help" || flag == "-h") { std::cout << kUsage; return 0; }
    if (flag == "--showo") { showo = true; continue; }
    std::string* target = flag == "--dir" ? &dir : flag == "--vocab" ? &vocab : flag == "--merges" ? &merges
                        : flag == "--added-tokens" ? &added : nullptr;
    if (target == nullptr && flag != "--max-text-len") return Usage("unknown flag " + flag);
    auto v = value();
    if (!v) return Usage(flag + " needs a value");
    if (target != nullptr) { *target = *v; continue; }
    char* end = nullptr;
    long long n = std::strtoll(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || n < 3) return Usage("--max-text-len '" + *v + "' is not an integer >= 3");
    max_text_len = n;
  }
  if (!dir.empty() && (!vocab.empty() || !merges.empty() || !added.empty())) {
    return Usage("--dir excludes --vocab, --merges and --added-tokens");
  }
  if (dir.empty() && (vocab.empty() || merges.empty())) return Usage("needs --dir, or --vocab and --merges");

  StatusOr<ByteLevelBpeTokenizer> tok =
      dir.empty() ? ByteLevelBpeTokenizer::FromFiles(vocab, merges, added) : ByteLevelBpeTokenizer::Load(dir);
  if (!tok.ok()) {
    std::cerr << "maskgrpo_tokenize: " << tok.status().ToString() << "\n";
    return 2;
  }
  std::optional<ShowoTextLayout> layout;
  if (showo) {
    auto created = ShowoTextLayout::Create(*tok);
    if (!created.ok()) {
      std::cerr << "maskgrpo_tokenize: " << created.status().ToString() << "\n";
      return 2;
    }
    layout.emplace(std::move(created).value());
  }

  std::string line;
  int64_t line_no = 0;
  while (std::getline(std::cin, line)) {
    ++line_no;
    auto fail = [&](const std::string& why) {
      std::cout.flush();
      std::cerr << "maskgrpo_tokenize: stdin line " << line_no << ": " << why << "\n";
      return 1;
    };
    auto parsed = Json::Parse(line);
    if (!parsed.ok()) return fail(parsed.status().message());
    const Json* prompt = parsed->Find("prompt");
    if (prompt == nullptr || !prompt->is_string()) return fail("expected {\"prompt\": \"...\"}");
    auto ids = layout ? layout->EncodeT2I(prompt->as_string(), max_text_len) : tok->Encode(prompt->as_string());
    if (!ids.ok()) return fail(ids.status().message());
    std::cout << IdsToJson(*ids) << '\n';
  }
  if (std::cin.bad()) {
    std::cerr << "maskgrpo_tokenize: error reading stdin\n";
    return 1;
  }
  return 0;
}
