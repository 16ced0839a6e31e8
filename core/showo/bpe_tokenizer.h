// GPT-2 byte-level BPE, as used by microsoft/phi-1_5 (the CodeGen tokenizer) for Show-o's text.
//
// Encoding follows Hugging Face's tokenizer for these files:
//   1. added tokens (e.g. Phi's whitespace runs "  " = 50286, Show-o's "<|t2i|>") are cut out of
//      the raw text first, leftmost-longest, and map straight to their ids;
//   2. each remaining piece is split by GPT-2's pre-tokenizer regex
//      's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   3. each word's UTF-8 bytes become byte-level symbols (bytes_to_unicode) and are merged by
//      merge rank, GPT-2's way (lowest-ranked pair first, all its occurrences left to right).
// No normalisation, no lower-casing, no BOS added. Loading validates the files strictly, so that
// every valid UTF-8 text encodes (every byte has a symbol) and a broken file fails loudly.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/showo/bpe_merges.h"
#include <vector>

#include "core/status.h"

namespace maskgrpo::showo {

struct AddedToken {
  std::string content;  // raw UTF-8 text matched before BPE
  int64_t id = 0;
};

class ByteLevelBpeTokenizer {
 public:
  // From file contents. The names are only used in error messages. `added` are matched before
  // BPE; an added token may repeat a vocab entry only with the same id.
  static StatusOr<ByteLevelBpeTokenizer> FromStrings(const std::string& vocab_json,
                                                     const std::string& vocab_name,
                                                     const std::string& merges_txt,
                                                     const std::string& merges_name,
                                                     const std::vector<AddedToken>& added = {});
  // From files; `added_tokens_path` may be empty, or name an added_tokens.json
  // ({"token": id}) or a tokenizer.json (its "added_tokens" array). As CodeGen declares
  // <|endoftext|> its bos/eos/unk special token, it is matched before BPE when the vocab has it.
  static StatusOr<ByteLevelBpeTokenizer> FromFiles(const std::string& vocab_path,
                                                   const std::string& merges_path,
                                                   const std::string& added_tokens_path = "");
  // A Hugging Face tokenizer folder (e.g. a download of microsoft/phi-1_5): vocab.json and
  // merges.txt, plus the added tokens of tokenizer.json and/or added_tokens.json where they
  // exist (both present: they must agree).
  static StatusOr<ByteLevelBpeTokenizer> Load(const std::string& directory);

  // Parses an added-tokens file in either format (detected from its shape).
  static StatusOr<std::vector<AddedToken>> ParseAddedTokens(const std::string& text,
                                                            const std::string& name);

  ByteLevelBpeTokenizer(const ByteLevelBpeTokenizer& other);
  ByteLevelBpeTokenizer& operator=(const ByteLevelBpeTokenizer& other);
  ByteLevelBpeTokenizer(ByteLevelBpeTokenizer&&) noexcept;
  ByteLevelBpeTokenizer& operator=(ByteLevelBpeTokenizer&&) noexcept;
  ~ByteLevelBpeTokenizer();

  // Invalid UTF-8 is an error naming the byte offset. Thread-safe.
  StatusOr<std::vector<int64_t>> Encode(const std::string& text) const;
  // The bytes the ids stand for (not re-validated as UTF-8: ids may split a character).
  // An id the tokenizer does not know is an error, not skipped.
  StatusOr<std::string> Decode(const std::vector<int64_t>& ids) const;

  // The id of an added token (by its raw text, e.g. "[PAD]") or of a vocab entry (by its
  // byte-level form, e.g. "Ġworld"); nullopt if neither.
  std::optional<int64_t> TokenId(const std::string& token) const;
  // Largest id + 1 (Python's len(tokenizer)): 50295 for Phi-1.5's files.
  int64_t size() const { return size_; }

  // Like HF add_special_tokens/add_tokens: a token already known keeps its id (and is from now
  // on matched before BPE); a new one gets the next id (= size()). Empty tokens are an error.
  Status AddSpecialTokens(const std::vector<std::string>& tokens);

 private:
  struct WordCache;
  ByteLevelBpeTokenizer();

  Status AddMatchedToken(const std::string& content, int64_t id);
  void EncodePiece(const std::string& text, const std::vector<char32_t>& cps,
                   const std::vector<size_t>& offsets, size_t begin, size_t end,
                   std::vector<int64_t>* out) const;
  void EncodeWord(const std::string& word, std::vector<int64_t>* out) const;

  // vocab: byte-level symbol string -> id, and its inverse for decoding.
  std::unordered_map<std::string, int64_t> vocab_;
  std::unordered_map<int64_t, std::string> id_to_bytes_;  // decoded bytes (or raw added text)
  // The symbol id of each byte (bytes_to_unicode, then vocab).
  int64_t byte_ids_[256] = {};
  BpeMergeTable merges_;
  // Added tokens: content -> id, and per first byte, the contents longest first.
  std::unordered_map<std::string, int64_t> added_;
  std::vector<std::string> added_by_first_byte_[256];
  int64_t size_ = 0;
  std::unique_ptr<WordCache> cache_;
};

// GPT-2's pre-tokenizer alone (no added tokens): the words BPE would see, as UTF-8 strings.
// Invalid UTF-8 is an error naming the byte offset.
StatusOr<std::vector<std::string>> GptPreTokenize(const std::string& text);

}  // namespace maskgrpo::showo
