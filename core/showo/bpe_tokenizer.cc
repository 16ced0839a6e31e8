#include "core/showo/bpe_tokenizer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <limits>
#include <mutex>
#include <sstream>

#include "core/json.h"
#include "core/showo/unicode_classes.h"

namespace maskgrpo::showo {
namespace {

// Ids are stored in 32 bits inside the merge keys; real vocabularies are far below this.
constexpr int64_t kMaxId = std::numeric_limits<int32_t>::max();
// Bounds the per-word cache so that a stream of distinct prompts cannot grow it forever.
constexpr size_t kMaxCachedWords = 100000;
constexpr const char* kEndOfText = "<|endoftext|>";

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes
// are shifted to U+0100.. in byte order, so that every byte is a visible vocab character.
std::array<char32_t, 256> ByteToUnicode() {
  std::array<char32_t, 256> table{};
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    table[static_cast<size_t>(b)] = printable ? static_cast<char32_t>(b) : next++;
  }
  return table;
}

const std::array<char32_t, 256>& ByteTable() {
  static const std::array<char32_t, 256> table = ByteToUnicode();
  return table;
}

// The byte a byte-level symbol character stands for, or -1.
int UnicodeToByte(char32_t cp) {
  static const std::unordered_map<char32_t, int> inverse = [] {
    std::unordered_map<char32_t, int> m;
    for (int b = 0; b < 256; ++b) m[ByteTable()[static_cast<size_t>(b)]] = b;
    return m;
  }();
  auto it = inverse.find(cp);
  return it == inverse.end() ? -1 : it->second;
}

// Shortens a file excerpt for an error message and makes control characters visible.
std::string Excerpt(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 60)) {
    if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else out.push_back(c);
  }
  if (s.size() > 60) out += "...";
  return out;
}

StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return DataLoss("error reading " + path);
  return ss.str();
}

bool FileExists(const std::string& path) { return std::ifstream(path).good(); }

StatusOr<int64_t> IdFromJson(const Json& value, const std::string& where) {
  if (!value.is_number()) return InvalidArgument(where + ": id is not a number");
  double d = value.as_number();
  if (d != std::floor(d) || d < 0 || d > static_cast<double>(kMaxId)) {
    return InvalidArgument(where + ": id " + value.Dump() + " is not an integer in [0, 2^31)");
  }
  return static_cast<int64_t>(d);
}

// [^\s\p{L}\p{N}]: punctuation, symbols, emoji, controls.
bool IsOther(char32_t c) { return !IsWhitespace(c) && !IsLetter(c) && !IsNumber(c); }

// One match of GPT-2's pre-tokenizer regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// starting at code point i of cps[.., end): returns where it ends. Something always matches,
// because every code point is \s, L, N or "other".
size_t NextWordEnd(const std::vector<char32_t>& cps, size_t i, size_t end) {
  const char32_t c = cps[i];
  // The contractions: lower case only, ASCII apostrophe only (so "'S" is "'" then "S").
  if (c == '\'' && i + 1 < end) {
    const char32_t n = cps[i + 1];
    const char32_t n2 = i + 2 < end ? cps[i + 2] : 0;
    if (n == 's' || n == 't' || n == 'm' || n == 'd') return i + 2;
    if ((n == 'r' && n2 == 'e') || (n == 'v' && n2 == 'e') || (n == 'l' && n2 == 'l')) return i + 3;
  }
  // One optional leading U+0020 (not any \s), then a run of one class. A space is itself \s,
  // so a space not followed by L/N/other falls through to the whitespace rules.
  const size_t k = (c == ' ' && i + 1 < end) ? i + 1 : i;
  for (bool (*in_class)(char32_t) : {&IsLetter, &IsNumber, &IsOther}) {
    if (!in_class(cps[k])) continue;
    size_t j = k + 1;
    while (j < end && in_class(cps[j])) ++j;
    return j;
  }
  // \s+(?!\S) then \s+: a whitespace run; when a non-space follows, the run gives back its last
  // character (which then leads the next word), unless that would leave it empty.
  size_t j = i + 1;
  while (j < end && IsWhitespace(cps[j])) ++j;
  if (j < end && j - i >= 2) --j;
  return j;
}

}  // namespace

struct ByteLevelBpeTokenizer::WordCache {
  std::mutex mu;
  std::unordered_map<std::string, std::vector<int64_t>> words;
};

ByteLevelBpeTokenizer::ByteLevelBpeTokenizer() : cache_(std::make_unique<WordCache>()) {}
ByteLevelBpeTokenizer::~ByteLevelBpeTokenizer() = default;
ByteLevelBpeTokenizer::ByteLevelBpeTokenizer(ByteLevelBpeTokenizer&&) noexcept = default;
ByteLevelBpeTokenizer& ByteLevelBpeTokenizer::operator=(ByteLevelBpeTokenizer&&) noexcept = default;

// A copy gets its own (empty) cache: the mutex cannot be shared or copied.
ByteLevelBpeTokenizer::ByteLevelBpeTokenizer(const ByteLevelBpeTokenizer& other)
    : vocab_(other.vocab_),
      id_to_bytes_(other.id_to_bytes_),
      merges_(other.merges_),
      added_(other.added_),
      size_(other.size_),
      cache_(std::make_unique<WordCache>()) {
  std::copy(std::begin(other.byte_ids_), std::end(other.byte_ids_), byte_ids_);
  for (int b = 0; b < 256; ++b) added_by_first_byte_[b] = other.added_by_first_byte_[b];
}

ByteLevelBpeTokenizer& ByteLevelBpeTokenizer::operator=(const ByteLevelBpeTokenizer& other) {
  if (this != &other) *this = ByteLevelBpeTokenizer(other);
  return *this;
}

StatusOr<ByteLevelBpeTokenizer> ByteLevelBpeTokenizer::FromStrings(const std::string& vocab_json,
                                                                   const std::string& vocab_name,
                                                                   const std::string& merges_txt,
                                                                   const std::string& merges_name,
                                                                   const std::vector<AddedToken>& added) {
  ByteLevelBpeTokenizer tok;

  // --- vocab.json: {"symbol": id} ---
  auto parsed = Json::Parse(vocab_json);
  if (!parsed.ok()) return InvalidArgument(vocab_name + ": " + parsed.status().message());
  if (!parsed->is_object()) return InvalidArgument(vocab_name + ": expected a JSON object {\"token\": id}");
  std::unordered_map<int64_t, std::string> id_to_token;
  for (const auto& [token, value] : parsed->as_object()) {
    const std::string where = vocab_name + " entry \"" + Excerpt(token) + "\"";
    if (token.empty()) return InvalidArgument(where + ": empty token");
    ASSIGN_OR_RETURN(int64_t id, IdFromJson(value, where));
    auto [it, inserted] = id_to_token.emplace(id, token);
    if (!inserted) {
      return InvalidArgument(where + ": id " + std::to_string(id) + " is also used by \"" +
                             Excerpt(it->second) + "\"");
    }
    auto text = DecodeUtf8(token);
    if (!text.ok()) return InvalidArgument(where + ": " + text.status().message());
    // A byte-level symbol decodes to the bytes it stands for. An entry with other characters
    // (an added token stored in the vocab) can never come out of BPE; it decodes as itself.
    std::string bytes;
    bool byte_level = true;
    for (char32_t cp : text->code_points) {
      int b = UnicodeToByte(cp);
      if (b < 0) { byte_level = false; break; }
      bytes.push_back(static_cast<char>(b));
    }
    tok.vocab_.emplace(token, id);
    tok.id_to_bytes_.emplace(id, byte_level ? bytes : token);
    tok.size_ = std::max(tok.size_, id + 1);
  }
  // Every byte needs a symbol, or some valid text could not be encoded.
  for (int b = 0; b < 256; ++b) {
    std::string symbol;
    AppendUtf8(ByteTable()[static_cast<size_t>(b)], &symbol);
    auto it = tok.vocab_.find(symbol);
    if (it == tok.vocab_.end()) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "0x%02X", b);
      return InvalidArgument(vocab_name + ": no entry for byte " + hex + " (symbol \"" + symbol +
                             "\"); a byte-level vocab needs all 256");
    }
    tok.byte_ids_[b] = it->second;
  }

  // --- merges.txt: "left right" per line, rank = order; optional "#version" first line ---
  size_t line_start = 0;
  int64_t line_no = 0;
  int64_t rank = 0;
  std::unordered_map<uint64_t, int64_t> merge_line;  // for naming the first of a duplicate
  while (line_start < merges_txt.size()) {
    size_t nl = merges_txt.find('\n', line_start);
    size_t line_end = nl == std::string::npos ? merges_txt.size() : nl;
    std::string line = merges_txt.substr(line_start, line_end - line_start);
    line_start = line_end + 1;
    ++line_no;
    if (line_no == 1 && line.rfind("#version", 0) == 0) continue;
    const std::string where = merges_name + " line " + std::to_string(line_no);
    size_t space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == line.size() ||
        line.find(' ', space + 1) != std::string::npos) {
      return InvalidArgument(where + ": expected two symbols separated by one space, got \"" +
                             Excerpt(line) + "\"");
    }
    std::string left = line.substr(0, space);
    std::string right = line.substr(space + 1);
    auto l = tok.vocab_.find(left);
    auto r = tok.vocab_.find(right);
    auto m = tok.vocab_.find(left + right);
    for (const auto& [found, symbol] : {std::pair{l, left}, std::pair{r, right}, std::pair{m, left + right}}) {
      if (found == tok.vocab_.end()) {
        return InvalidArgument(where + ": \"" + Excerpt(symbol) + "\" is not in " + vocab_name);
      }
    }
    uint64_t key = BpePairKey(l->second, r->second);
    auto [first, inserted] = merge_line.emplace(key, line_no);
    if (!inserted) {
      return InvalidArgument(where + ": duplicate merge \"" + Excerpt(line) + "\" (first at line " +
                             std::to_string(first->second) + ")");
    }
    tok.merges_.emplace(key, BpeMerge{rank++, m->second});
  }

  for (size_t i = 0; i < added.size(); ++i) {
    Status st = tok.AddMatchedToken(added[i].content, added[i].id);
    if (!st.ok()) return InvalidArgument("added token #" + std::to_string(i) + ": " + st.message());
  }
  return tok;
}

StatusOr<std::vector<AddedToken>> ByteLevelBpeTokenizer::ParseAddedTokens(const std::string& text,
                                                                          const std::string& name) {
  auto parsed = Json::Parse(text);
  if (!parsed.ok()) return InvalidArgument(name + ": " + parsed.status().message());
  if (!parsed->is_object()) return InvalidArgument(name + ": expected a JSON object");
  std::vector<AddedToken> out;
  const Json* list = parsed->Find("added_tokens");
  if (list != nullptr && list->is_array()) {
    // tokenizer.json: [{"id": 50256, "content": "<|endoftext|>", "lstrip": false, ...}, ...]
    const auto& items = list->as_array();
    for (size_t i = 0; i < items.size(); ++i) {
      const std::string where = name + " added_tokens[" + std::to_string(i) + "]";
      const Json& item = items[i];
      const Json* id = item.Find("id");
      const Json* content = item.Find("content");
      if (id == nullptr || content == nullptr || !content->is_string()) {
        return InvalidArgument(where + ": needs \"id\" and a string \"content\"");
      }
      ASSIGN_OR_RETURN(int64_t value, IdFromJson(*id, where));
      // These change where a token may match; the matcher here does not implement them, so a
      // file that sets them would encode differently from HF.
      for (const char* flag : {"lstrip", "rstrip", "single_word"}) {
        const Json* f = item.Find(flag);
        if (f != nullptr && f->is_bool() && f->as_bool()) {
          return InvalidArgument(where + ": \"" + flag + "\": true is not supported");
        }
      }
      out.push_back({content->as_string(), value});
    }
    return out;
  }
  // added_tokens.json: {"token": id}
  for (const auto& [token, value] : parsed->as_object()) {
    const std::string where = name + " entry \"" + Excerpt(token) + "\"";
    ASSIGN_OR_RETURN(int64_t id, IdFromJson(value, where));
    out.push_back({token, id});
  }
  // Id order makes the error for a conflict deterministic and readable.
  std::sort(out.begin(), out.end(), [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
  return out;
}

StatusOr<ByteLevelBpeTokenizer> ByteLevelBpeTokenizer::FromFiles(const std::string& vocab_path,
                                                                 const std::string& merges_path,
                                                                 const std::string& added_tokens_path) {
  ASSIGN_OR_RETURN(std::string vocab, ReadFile(vocab_path));
  ASSIGN_OR_RETURN(std::string merges, ReadFile(merges_path));
  std::vector<AddedToken> added;
  if (!added_tokens_path.empty()) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(added_tokens_path));
    ASSIGN_OR_RETURN(added, ParseAddedTokens(text, added_tokens_path));
  }
  ASSIGN_OR_RETURN(ByteLevelBpeTokenizer tok, FromStrings(vocab, vocab_path, merges, merges_path, added));
  if (tok.vocab_.count(kEndOfText)) RETURN_IF_ERROR(tok.AddSpecialTokens({kEndOfText}));
  return tok;
}

StatusOr<ByteLevelBpeTokenizer> ByteLevelBpeTokenizer::Load(const std::string& directory) {
  const std::string dir = directory.empty() || directory.back() == '/' ? directory : directory + "/";
  std::vector<AddedToken> added;
  std::string added_from;
  for (const char* file : {"tokenizer.json", "added_tokens.json"}) {
    const std::string path = dir + file;
    if (!FileExists(path)) continue;
    ASSIGN_OR_RETURN(std::string text, ReadFile(path));
    ASSIGN_OR_RETURN(std::vector<AddedToken> tokens, ParseAddedTokens(text, path));
    // Both files describe the same tokens; a disagreement means a mixed-up folder.
    for (const AddedToken& t : tokens) {
      auto same = std::find_if(added.begin(), added.end(), [&](const AddedToken& a) {
        return a.content == t.content || a.id == t.id;
      });
      if (same == added.end()) {
        added.push_back(t);
      } else if (same->content != t.content || same->id != t.id) {
        return InvalidArgument(path + ": added token \"" + Excerpt(t.content) + "\" = " + std::to_string(t.id) +
                               " disagrees with " + (added_from.empty() ? path : added_from) + " (\"" + Excerpt(same->content) +
                               "\" = " + std::to_string(same->id) + ")");
      }
    }
    added_from = path;
  }
  ASSIGN_OR_RETURN(std::string vocab, ReadFile(dir + "vocab.json"));
  ASSIGN_OR_RETURN(std::string merges, ReadFile(dir + "merges.txt"));
  ASSIGN_OR_RETURN(ByteLevelBpeTokenizer tok,
                   FromStrings(vocab, dir + "vocab.json", merges, dir + "merges.txt", added));
  if (tok.vocab_.count(kEndOfText)) RETURN_IF_ERROR(tok.AddSpecialTokens({kEndOfText}));
  return tok;
}

Status ByteLevelBpeTokenizer::AddMatchedToken(const std::string& content, int64_t id) {
  const std::string what = "\"" + Excerpt(content) + "\" (id " + std::to_string(id) + ")";
  if (content.empty()) return InvalidArgument("empty added token (id " + std::to_string(id) + ")");
  if (id < 0 || id > kMaxId) return InvalidArgument(what + ": id out of range");
  auto text = DecodeUtf8(content);
  if (!text.ok()) return InvalidArgument(what + ": " + text.status().message());
  auto known = added_.find(content);
  if (known != added_.end()) {
    if (known->second == id) return Status::Ok();
    return InvalidArgument(what + ": already added with id " + std::to_string(known->second));
  }
  auto in_vocab = vocab_.find(content);
  if (in_vocab != vocab_.end() && in_vocab->second != id) {
    return InvalidArgument(what + ": the vocab has it as id " + std::to_string(in_vocab->second));
  }
  auto owner = id_to_bytes_.find(id);
  if (owner != id_to_bytes_.end() && in_vocab == vocab_.end()) {
    return InvalidArgument(what + ": id already belongs to \"" + Excerpt(owner->second) + "\"");
  }
  added_.emplace(content, id);
  id_to_bytes_[id] = content;  // added tokens decode to their raw text
  auto& bucket = added_by_first_byte_[static_cast<unsigned char>(content[0])];
  bucket.push_back(content);
  // Longest first: the first match found at a position is then the leftmost-longest one.
  std::stable_sort(bucket.begin(), bucket.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  size_ = std::max(size_, id + 1);
  return Status::Ok();
}

Status ByteLevelBpeTokenizer::AddSpecialTokens(const std::vector<std::string>& tokens) {
  for (const std::string& token : tokens) {
    if (token.empty()) return InvalidArgument("AddSpecialTokens: empty token");
    int64_t id = size_;
    if (auto it = added_.find(token); it != added_.end()) id = it->second;
    else if (auto v = vocab_.find(token); v != vocab_.end()) id = v->second;
    RETURN_IF_ERROR(AddMatchedToken(token, id));
  }
  return Status::Ok();
}

std::optional<int64_t> ByteLevelBpeTokenizer::TokenId(const std::string& token) const {
  if (auto it = added_.find(token); it != added_.end()) return it->second;
  if (auto it = vocab_.find(token); it != vocab_.end()) return it->second;
  return std::nullopt;
}

StatusOr<std::vector<int64_t>> ByteLevelBpeTokenizer::Encode(const std::string& text) const {
  auto decoded = DecodeUtf8(text);
  if (!decoded.ok()) return InvalidArgument("text to tokenize: " + decoded.status().message());
  const std::vector<char32_t>& cps = decoded->code_points;
  const std::vector<size_t>& offsets = decoded->byte_offsets;
  std::vector<int64_t> out;
  size_t piece_start = 0;  // code point index where the text since the last added token starts
  size_t i = 0;
  while (i < cps.size()) {
    const size_t at = offsets[i];
    const std::string* match = nullptr;
    for (const std::string& candidate : added_by_first_byte_[static_cast<unsigned char>(text[at])]) {
      if (text.compare(at, candidate.size(), candidate) == 0) { match = &candidate; break; }
    }
    if (match == nullptr) { ++i; continue; }
    EncodePiece(text, cps, offsets, piece_start, i, &out);
    out.push_back(added_.at(*match));
    // Added tokens are valid UTF-8, so the match ends on a code point boundary.
    const size_t end = at + match->size();
    while (i < cps.size() && offsets[i] < end) ++i;
    piece_start = i;
  }
  EncodePiece(text, cps, offsets, piece_start, cps.size(), &out);
  return out;
}

// The piece is pre-tokenized as a string of its own: the regex sees its end as the end of input,
// exactly like HF, which pre-tokenizes each split between added tokens separately.
void ByteLevelBpeTokenizer::EncodePiece(const std::string& text, const std::vector<char32_t>& cps,
                                        const std::vector<size_t>& offsets, size_t begin, size_t end,
                                        std::vector<int64_t>* out) const {
  for (size_t i = begin; i < end;) {
    const size_t j = NextWordEnd(cps, i, end);
    EncodeWord(text.substr(offsets[i], offsets[j] - offsets[i]), out);
    i = j;
  }
}

StatusOr<std::vector<std::string>> GptPreTokenize(const std::string& text) {
  auto decoded = DecodeUtf8(text);
  if (!decoded.ok()) return InvalidArgument("text to pre-tokenize: " + decoded.status().message());
  const auto& cps = decoded->code_points;
  const auto& offsets = decoded->byte_offsets;
  std::vector<std::string> words;
  for (size_t i = 0; i < cps.size();) {
    const size_t j = NextWordEnd(cps, i, cps.size());
    words.push_back(text.substr(offsets[i], offsets[j] - offsets[i]));
    i = j;
  }
  return words;
}

void ByteLevelBpeTokenizer::EncodeWord(const std::string& word, std::vector<int64_t>* out) const {
  if (cache_) {
    std::lock_guard<std::mutex> lock(cache_->mu);
    auto it = cache_->words.find(word);
    if (it != cache_->words.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int64_t> symbols;
  symbols.reserve(word.size());
  for (char b : word) symbols.push_back(byte_ids_[static_cast<unsigned char>(b)]);
  ApplyBpeMerges(merges_, &symbols);  // GPT-2's bpe()
  out->insert(out->end(), symbols.begin(), symbols.end());
  if (cache_) {
    std::lock_guard<std::mutex> lock(cache_->mu);
    if (cache_->words.size() >= kMaxCachedWords) cache_->words.clear();
    cache_->words.emplace(word, std::move(symbols));
  }
}

StatusOr<std::string> ByteLevelBpeTokenizer::Decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = id_to_bytes_.find(ids[i]);
    if (it == id_to_bytes_.end()) {
      return InvalidArgument("Decode: unknown id " + std::to_string(ids[i]) + " at position " + std::to_string(i));
    }
    out += it->second;
  }
  return out;
}

}  // namespace maskgrpo::showo
