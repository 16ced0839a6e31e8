// CLIP's BPE tokenizer (open_clip `tokenizer.py` / OpenAI `simple_tokenizer.py`), without LibTorch.
//
// Encoding, as open_clip's SimpleTokenizer with clean='lower' (showo-stack.md 4.3):
//   1. clean: html.unescape twice, strip, collapse whitespace runs to one space, str.lower().
//      ftfy.fix_text (open_clip's first step) has no C++ port and is NOT applied: text that ftfy
//      would repair (mojibake such as "cafÃ©", curly quotes stay curly anyway) tokenizes as given.
//      For ordinary prompts ftfy is the identity, and HF's CLIPTokenizerFast skips it too.
//      html.unescape and str.lower() are reproduced exactly from Python's tables
//      (scripts/gen_clip_text_tables.py), including the final-sigma rule.
//   2. split by the regex (IGNORECASE)
//        SOT|EOT|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//      digits one at a time, whitespace dropped. SOT/EOT are the special tokens' names
//      (open_clip: <start_of_text>, <end_of_text>; Hugging Face/OpenAI: <|startoftext|>,
//      <|endoftext|>); written in a prompt they become those ids, as in the reference.
//   3. each piece's UTF-8 bytes become GPT-2 bytes_to_unicode characters, the last one gets
//      "</w>", and pieces are merged by merge rank (lowest first, all occurrences left to right).
// Tokenize() adds SOT/EOT, truncates (keeping EOT last) and zero-pads, like open_clip.
//
// Invalid UTF-8 input is an InvalidArgument error naming the byte offset; nothing crashes on
// any input. Thread-safe after loading.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "core/showo/bpe_merges.h"
#include <vector>

#include "core/status.h"

namespace maskgrpo::clip {

class ClipTokenizer {
 public:
  // open_clip's bpe_simple_vocab_16e6.txt (or .txt.gz: decompressed when the build has zlib,
  // else an error asking to gunzip it). Merges are lines[1 : 48895] (fewer in a shorter file);
  // vocab = 256 byte characters, the same with "</w>", the merges, then <start_of_text> and
  // <end_of_text> (49406 and 49407 for the real file).
  static StatusOr<ClipTokenizer> LoadOpenClip(const std::string& path);
  // A Hugging Face CLIPTokenizer's vocab.json and merges.txt (an optional "#version" first line);
  // ids come from vocab.json, SOT/EOT are <|startoftext|> and <|endoftext|>.
  static StatusOr<ClipTokenizer> LoadHuggingFace(const std::string& vocab_json, const std::string& merges_txt);
  // A file: LoadOpenClip. A directory: vocab.json + merges.txt if both exist, else
  // bpe_simple_vocab_16e6.txt, else bpe_simple_vocab_16e6.txt.gz.
  static StatusOr<ClipTokenizer> Load(const std::string& directory_or_file);

  // From file contents (names only appear in error messages); what the loaders call.
  static StatusOr<ClipTokenizer> FromOpenClipText(const std::string& text, const std::string& name);
  static StatusOr<ClipTokenizer> FromHuggingFaceText(const std::string& vocab_json, const std::string& vocab_name,
                                                     const std::string& merges_txt, const std::string& merges_name);

  // The BPE ids of the cleaned text, without SOT/EOT.
  StatusOr<std::vector<int64_t>> Encode(const std::string& text) const;
  // Exactly context_length ids: [SOT] + ids + [EOT]; when longer, the first context_length ids
  // with the last one replaced by EOT (long prompts are truncated, never an error); zero-padded.
  // context_length must be in [1, 1 << 20].
  StatusOr<std::vector<int64_t>> Tokenize(const std::string& text, int64_t context_length = 77) const;

  int64_t sot_id() const { return sot_id_; }
  int64_t eot_id() const { return eot_id_; }
  // Largest id + 1: 49408 for CLIP's files.
  int64_t size() const { return size_; }
  // The id of a vocab entry in its byte-level form (e.g. "hello</w>"), or -1.
  int64_t TokenId(const std::string& token) const;

 private:
  ClipTokenizer() = default;
  // Builds the merge table, byte ids and specials once vocab_ holds every entry.
  Status Finish(const std::vector<std::pair<std::string, std::string>>& merges, const std::string& merges_name,
                const std::vector<int64_t>& merge_lines, const std::string& sot, const std::string& eot);
  // Appends the ids of the cleaned text, stopping once `limit` ids are there (-1: no limit).
  Status EncodeCleaned(const std::u32string& text, int64_t limit, std::vector<int64_t>* out) const;
  void EncodeWord(const std::string& utf8, std::vector<int64_t>* out) const;

  std::unordered_map<std::string, int64_t> vocab_;
  showo::BpeMergeTable merges_;
  int64_t byte_ids_[256] = {};      // the byte's character
  int64_t byte_end_ids_[256] = {};  // the byte's character + "</w>"
  std::u32string sot_text_, eot_text_;
  int64_t sot_id_ = 0, eot_id_ = 0, size_ = 0;
};

// open_clip's clean='lower' without ftfy (see above), on valid UTF-8; exposed for tests and
// for comparing with other implementations. Invalid UTF-8 is an InvalidArgument error.
StatusOr<std::string> CleanText(const std::string& text);

}  // namespace maskgrpo::clip
