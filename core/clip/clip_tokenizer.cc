#include "core/clip/clip_tokenizer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#ifdef MASKGRPO_HAVE_ZLIB
#include <zlib.h>
#endif

#include "core/clip/clip_text_clean.h"
#include "core/json.h"
#include "core/showo/unicode_classes.h"

namespace maskgrpo::clip {
namespace {

using showo::AppendUtf8;
using showo::IsLetter;
using showo::IsNumber;
using showo::IsWhitespace;

// open_clip keeps merges lines[1 : 49152 - 256 - 2 + 1]; the file itself has 262,145 lines.
constexpr size_t kOpenClipMergeLines = 49152 - 256 - 2;
constexpr const char* kEndOfWord = "</w>";
// Ids are packed two to a 64-bit merge key.
constexpr int64_t kMaxId = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxContextLength = int64_t{1} << 20;
// The real merges file is 3.2 MB unpacked; a larger gzip output is not a vocabulary.
constexpr size_t kMaxUnpackedBytes = size_t{64} << 20;

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 are
// shifted to U+0100.. in byte order. CLIP's vocab lists these characters in code point order.
char32_t ByteChar(int b) {
  static const auto table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (int i = 0; i < 256; ++i) {
      const bool printable = (i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE && i <= 0xFF);
      t[static_cast<size_t>(i)] = printable ? static_cast<char32_t>(i) : next++;
    }
    return t;
  }();
  return table[static_cast<size_t>(b)];
}

std::string ByteCharUtf8(int b) {
  std::string s;
  AppendUtf8(ByteChar(b), &s);
  return s;
}


std::u32string ToU32(const std::string& ascii) { return std::u32string(ascii.begin(), ascii.end()); }

std::string Excerpt(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 60)) {
    if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else out.push_back(c);
  }
  return s.size() > 60 ? out + "..." : out;
}

StatusOr<std::string> ReadFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return InvalidArgument(path + " is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return DataLoss("error reading " + path);
  return ss.str();
}

bool IsGzip(const std::string& data) {
  return data.size() >= 2 && static_cast<unsigned char>(data[0]) == 0x1F && static_cast<unsigned char>(data[1]) == 0x8B;
}

StatusOr<std::string> Gunzip(const std::string& data, const std::string& path) {
#ifdef MASKGRPO_HAVE_ZLIB
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return Internal("zlib inflateInit2 failed for " + path);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buffer[1 << 16];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buffer);
    zs.avail_out = sizeof(buffer);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      return DataLoss(path + ": corrupt or truncated gzip data (zlib: " + (zs.msg ? zs.msg : "error " + std::to_string(rc)) + ")");
    }
    out.append(buffer, sizeof(buffer) - zs.avail_out);
    if (out.size() > kMaxUnpackedBytes) {
      inflateEnd(&zs);
      return InvalidArgument(path + ": unpacks to more than 64 MiB; not a CLIP merges file");
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      return DataLoss(path + ": truncated gzip data");
    }
  }
  inflateEnd(&zs);
  return out;
#else
  return FailedPrecondition(path + " is gzip-compressed and this build has no zlib; unpack it first (gunzip -k " + path +
                            ") and pass the .txt");
#endif
}

// The code points of valid UTF-8, or an error naming `what` and the byte offset.
StatusOr<std::u32string> DecodeToU32(const std::string& text, const std::string& what) {
  auto decoded = showo::DecodeUtf8(text);
  if (!decoded.ok()) return InvalidArgument(what + ": " + decoded.status().message());
  return std::u32string(decoded->code_points.begin(), decoded->code_points.end());
}

std::string ToUtf8(const std::u32string& text, size_t begin, size_t end) {
  std::string out;
  for (size_t i = begin; i < end; ++i) AppendUtf8(text[i], &out);
  return out;
}

// The regex is IGNORECASE; after lower-casing the only other code point that case-folds to a
// letter of the contractions or special names is U+017F (long s), which folds to 's'.
bool FoldEquals(char32_t c, char32_t lower_ascii) { return c == lower_ascii || (lower_ascii == 's' && c == 0x017F); }

bool MatchesAt(const std::u32string& text, size_t i, const std::u32string& literal) {
  if (literal.empty() || text.size() - i < literal.size()) return false;
  for (size_t k = 0; k < literal.size(); ++k) {
    if (!FoldEquals(text[i + k], literal[k])) return false;
  }
  return true;
}

bool IsOther(char32_t c) { return !IsWhitespace(c) && !IsLetter(c) && !IsNumber(c); }

// Splits "left right" (fields separated by ASCII whitespace, like Python's str.split()).
bool SplitMerge(const std::string& line, std::pair<std::string, std::string>* merge) {
  std::istringstream fields(line);
  std::string a, b, extra;
  if (!(fields >> a >> b) || (fields >> extra)) return false;
  *merge = {a, b};
  return true;
}

}  // namespace

StatusOr<std::string> CleanText(const std::string& text) {
  ASSIGN_OR_RETURN(std::u32string cps, DecodeToU32(text, "prompt is not valid UTF-8"));
  std::u32string cleaned = PythonLower(CollapseWhitespace(HtmlUnescape(HtmlUnescape(cps))));
  return ToUtf8(cleaned, 0, cleaned.size());
}

StatusOr<ClipTokenizer> ClipTokenizer::FromOpenClipText(const std::string& text, const std::string& name) {
  if (text.empty()) return InvalidArgument(name + ": empty file; expected CLIP's BPE merges");
  ASSIGN_OR_RETURN(std::u32string unused, DecodeToU32(text, name + " is not valid UTF-8"));
  (void)unused;
  ClipTokenizer tok;
  int64_t next_id = 0;
  auto add = [&](const std::string& entry, const std::string& where) -> Status {
    if (!tok.vocab_.emplace(entry, next_id).second) {
      return InvalidArgument(where + ": vocab entry '" + Excerpt(entry) + "' appears twice");
    }
    ++next_id;
    return Status::Ok();
  };
  // 256 byte characters in code point order, then the same with "</w>".
  std::vector<std::string> chars(256);
  std::vector<char32_t> order;
  for (int b = 0; b < 256; ++b) order.push_back(ByteChar(b));
  std::sort(order.begin(), order.end());
  for (int suffix = 0; suffix < 2; ++suffix) {
    for (char32_t c : order) {
      std::string s;
      AppendUtf8(c, &s);
      RETURN_IF_ERROR(add(suffix ? s + kEndOfWord : s, name));
    }
  }
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<int64_t> line_numbers;
  size_t pos = text.find('\n');  // line 1 is a header, skipped as open_clip does
  if (pos == std::string::npos) return InvalidArgument(name + ": only a header line; expected CLIP's BPE merges");
  int64_t line_no = 1;
  while (pos < text.size() && merges.size() < kOpenClipMergeLines) {
    const size_t start = pos + 1;
    size_t end = text.find('\n', start);
    const bool last = end == std::string::npos;
    if (last) end = text.size();
    ++line_no;
    const std::string line = text.substr(start, end - start);
    pos = end;
    if (last && line.empty()) break;  // the file's final newline
    const std::string where = name + ": line " + std::to_string(line_no);
    std::pair<std::string, std::string> merge;
    if (!SplitMerge(line, &merge)) {
      return InvalidArgument(where + ": expected two symbols separated by a space, got '" + Excerpt(line) + "'");
    }
    for (const std::string* part : {&merge.first, &merge.second}) {
      if (!tok.vocab_.count(*part)) {
        return InvalidArgument(where + ": merge part '" + Excerpt(*part) + "' is not a byte character or an earlier merge");
      }
    }
    RETURN_IF_ERROR(add(merge.first + merge.second, where));
    merges.push_back(std::move(merge));
    line_numbers.push_back(line_no);
  }
  if (merges.empty()) return InvalidArgument(name + ": no merges after the header line");
  RETURN_IF_ERROR(add("<start_of_text>", name));
  RETURN_IF_ERROR(add("<end_of_text>", name));
  RETURN_IF_ERROR(tok.Finish(merges, name, line_numbers, "<start_of_text>", "<end_of_text>"));
  return tok;
}

StatusOr<ClipTokenizer> ClipTokenizer::FromHuggingFaceText(const std::string& vocab_json, const std::string& vocab_name,
                                                           const std::string& merges_txt, const std::string& merges_name) {
  auto parsed = Json::Parse(vocab_json);
  if (!parsed.ok()) return InvalidArgument(vocab_name + ": " + parsed.status().message());
  if (!parsed->is_object()) return InvalidArgument(vocab_name + ": expected a JSON object {token: id}");
  ClipTokenizer tok;
  std::unordered_map<int64_t, std::string> by_id;
  for (const auto& [token, value] : parsed->as_object()) {
    const std::string where = vocab_name + ": entry '" + Excerpt(token) + "'";
    if (!value.is_number()) return InvalidArgument(where + ": id is not a number");
    const double d = value.as_number();
    if (d != std::floor(d) || d < 0 || d > static_cast<double>(kMaxId)) {
      return InvalidArgument(where + ": id " + value.Dump() + " is not an integer in [0, 2^31)");
    }
    const auto id = static_cast<int64_t>(d);
    auto [it, inserted] = by_id.emplace(id, token);
    if (!inserted) return InvalidArgument(where + ": id " + std::to_string(id) + " is also used by '" + Excerpt(it->second) + "'");
    tok.vocab_.emplace(token, id);
  }
  ASSIGN_OR_RETURN(std::u32string unused, DecodeToU32(merges_txt, merges_name + " is not valid UTF-8"));
  (void)unused;
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<int64_t> line_numbers;
  std::istringstream lines(merges_txt);
  std::string line;
  int64_t line_no = 0;
  bool saw_blank = false;
  while (std::getline(lines, line)) {
    ++line_no;
    if (line_no == 1 && line.rfind("#version", 0) == 0) continue;
    const std::string where = merges_name + ": line " + std::to_string(line_no);
    if (line.empty() || line == "\r") {
      saw_blank = true;
      continue;
    }
    if (saw_blank) return InvalidArgument(where + ": merge after an empty line");
    std::pair<std::string, std::string> merge;
    if (!SplitMerge(line, &merge)) {
      return InvalidArgument(where + ": expected two symbols separated by a space, got '" + Excerpt(line) + "'");
    }
    merges.push_back(std::move(merge));
    line_numbers.push_back(line_no);
  }
  if (merges.empty()) return InvalidArgument(merges_name + ": no merges");
  RETURN_IF_ERROR(tok.Finish(merges, merges_name, line_numbers, "<|startoftext|>", "<|endoftext|>"));
  return tok;
}

Status ClipTokenizer::Finish(const std::vector<std::pair<std::string, std::string>>& merges,
                             const std::string& merges_name, const std::vector<int64_t>& merge_lines,
                             const std::string& sot, const std::string& eot) {
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto& [left, right] = merges[r];
    const std::string where = merges_name + ": line " + std::to_string(merge_lines[r]);
    auto l = vocab_.find(left), rt = vocab_.find(right), m = vocab_.find(left + right);
    if (l == vocab_.end()) return InvalidArgument(where + ": '" + Excerpt(left) + "' is not in the vocab");
    if (rt == vocab_.end()) return InvalidArgument(where + ": '" + Excerpt(right) + "' is not in the vocab");
    if (m == vocab_.end()) return InvalidArgument(where + ": the merged symbol '" + Excerpt(left + right) + "' is not in the vocab");
    if (!merges_.emplace(showo::BpePairKey(l->second, rt->second), showo::BpeMerge{static_cast<int64_t>(r), m->second}).second) {
      return InvalidArgument(where + ": the merge '" + Excerpt(left + " " + right) + "' appears twice");
    }
  }
  // Every byte needs both forms so that every valid UTF-8 text encodes.
  for (int b = 0; b < 256; ++b) {
    const std::string c = ByteCharUtf8(b);
    auto plain = vocab_.find(c), end = vocab_.find(c + kEndOfWord);
    if (plain == vocab_.end() || end == vocab_.end()) {
      return InvalidArgument("the vocab lacks the byte symbol '" + c + "' or '" + c + kEndOfWord + "' (byte " +
                             std::to_string(b) + ")");
    }
    byte_ids_[b] = plain->second;
    byte_end_ids_[b] = end->second;
  }
  auto s = vocab_.find(sot), e = vocab_.find(eot);
  if (s == vocab_.end()) return InvalidArgument("the vocab has no " + sot + " token");
  if (e == vocab_.end()) return InvalidArgument("the vocab has no " + eot + " token");
  sot_id_ = s->second;
  eot_id_ = e->second;
  sot_text_ = ToU32(sot);
  eot_text_ = ToU32(eot);
  size_ = 0;
  for (const auto& entry : vocab_) size_ = std::max(size_, entry.second + 1);
  return Status::Ok();
}

StatusOr<ClipTokenizer> ClipTokenizer::LoadOpenClip(const std::string& path) {
  ASSIGN_OR_RETURN(std::string data, ReadFile(path));
  if (IsGzip(data)) {
    ASSIGN_OR_RETURN(data, Gunzip(data, path));
  } else if (path.size() >= 3 && path.compare(path.size() - 3, 3, ".gz") == 0) {
    return InvalidArgument(path + ": named .gz but is not gzip data");
  }
  return FromOpenClipText(data, path);
}

StatusOr<ClipTokenizer> ClipTokenizer::LoadHuggingFace(const std::string& vocab_json, const std::string& merges_txt) {
  ASSIGN_OR_RETURN(std::string vocab, ReadFile(vocab_json));
  ASSIGN_OR_RETURN(std::string merges, ReadFile(merges_txt));
  return FromHuggingFaceText(vocab, vocab_json, merges, merges_txt);
}

StatusOr<ClipTokenizer> ClipTokenizer::Load(const std::string& directory_or_file) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(directory_or_file, ec)) return NotFound(directory_or_file + " does not exist");
  if (!fs::is_directory(directory_or_file, ec)) return LoadOpenClip(directory_or_file);
  const fs::path dir(directory_or_file);
  const bool vocab = fs::exists(dir / "vocab.json", ec), merges = fs::exists(dir / "merges.txt", ec);
  if (vocab && merges) return LoadHuggingFace((dir / "vocab.json").string(), (dir / "merges.txt").string());
  for (const char* name : {"bpe_simple_vocab_16e6.txt", "bpe_simple_vocab_16e6.txt.gz"}) {
    if (fs::exists(dir / name, ec)) return LoadOpenClip((dir / name).string());
  }
  if (vocab || merges) {
    return NotFound(directory_or_file + " has " + (vocab ? "vocab.json but no merges.txt" : "merges.txt but no vocab.json"));
  }
  return NotFound(directory_or_file +
                  " has no CLIP tokenizer files (vocab.json + merges.txt, or bpe_simple_vocab_16e6.txt[.gz])");
}

int64_t ClipTokenizer::TokenId(const std::string& token) const {
  auto it = vocab_.find(token);
  return it == vocab_.end() ? -1 : it->second;
}

void ClipTokenizer::EncodeWord(const std::string& utf8, std::vector<int64_t>* out) const {
  std::vector<int64_t> symbols;
  symbols.reserve(utf8.size());
  for (size_t i = 0; i < utf8.size(); ++i) {
    const auto b = static_cast<unsigned char>(utf8[i]);
    symbols.push_back(i + 1 == utf8.size() ? byte_end_ids_[b] : byte_ids_[b]);
  }
  showo::ApplyBpeMerges(merges_, &symbols);  // CLIP's bpe()
  out->insert(out->end(), symbols.begin(), symbols.end());
}

Status ClipTokenizer::EncodeCleaned(const std::u32string& text, int64_t limit, std::vector<int64_t>* out) const {
  static const char32_t* const kContractions[] = {U"'s", U"'t", U"'re", U"'ve", U"'m", U"'ll", U"'d"};
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    if (limit >= 0 && static_cast<int64_t>(out->size()) >= limit) break;
    if (MatchesAt(text, i, sot_text_) || MatchesAt(text, i, eot_text_)) {
      const bool sot = MatchesAt(text, i, sot_text_);
      out->push_back(sot ? sot_id_ : eot_id_);
      i += (sot ? sot_text_ : eot_text_).size();
      continue;
    }
    size_t end = i;
    if (text[i] == '\'') {
      for (const char32_t* c : kContractions) {
        if (MatchesAt(text, i, c)) {
          end = i + std::char_traits<char32_t>::length(c);
          break;
        }
      }
    }
    if (end == i) {
      if (IsLetter(text[i])) {
        while (end < n && IsLetter(text[end])) ++end;
      } else if (IsNumber(text[i])) {
        end = i + 1;  // digits one at a time
      } else if (IsOther(text[i])) {
        while (end < n && IsOther(text[end])) ++end;
      } else {
        ++i;  // whitespace is dropped
        continue;
      }
    }
    EncodeWord(ToUtf8(text, i, end), out);
    i = end;
  }
  return Status::Ok();
}

StatusOr<std::vector<int64_t>> ClipTokenizer::Encode(const std::string& text) const {
  ASSIGN_OR_RETURN(std::u32string cps, DecodeToU32(text, "prompt is not valid UTF-8"));
  std::vector<int64_t> ids;
  RETURN_IF_ERROR(EncodeCleaned(PythonLower(CollapseWhitespace(HtmlUnescape(HtmlUnescape(cps)))), -1, &ids));
  return ids;
}

StatusOr<std::vector<int64_t>> ClipTokenizer::Tokenize(const std::string& text, int64_t context_length) const {
  if (context_length < 1 || context_length > kMaxContextLength) {
    return InvalidArgument("context_length " + std::to_string(context_length) + " is not in [1, 2^20]");
  }
  ASSIGN_OR_RETURN(std::u32string cps, DecodeToU32(text, "prompt is not valid UTF-8"));
  // Only the first context_length - 2 ids survive truncation; one more tells that it happens.
  std::vector<int64_t> ids{sot_id_};
  RETURN_IF_ERROR(EncodeCleaned(PythonLower(CollapseWhitespace(HtmlUnescape(HtmlUnescape(cps)))), context_length, &ids));
  ids.push_back(eot_id_);
  if (static_cast<int64_t>(ids.size()) > context_length) {
    ids.resize(static_cast<size_t>(context_length));
    ids.back() = eot_id_;
  }
  ids.resize(static_cast<size_t>(context_length), 0);
  return ids;
}

}  // namespace maskgrpo::clip
