// The text part of Show-o's t2i input (`UniversalPrompting.t2i_gen_prompt`,
// training/prompting_utils.py): special tokens, the 129-id left-padded text block, and where
// <|soi|>, the image tokens and <|eoi|> sit in the full row.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/showo/bpe_tokenizer.h"
#include "core/status.h"

namespace maskgrpo::showo {

// Show-o's added tokens in the order it adds them: add_special_tokens({'pad_token': '[PAD]'})
// first, then add_tokens of the nine task tokens. The order fixes their ids (50295..50304).
const std::vector<std::string>& ShowoSpecialTokens();

// Adds ShowoSpecialTokens() in order (tokens already present keep their ids).
Status AddShowoSpecialTokens(ByteLevelBpeTokenizer* tokenizer);

// Index layout of a full t2i row: text block, <|soi|>, N image tokens, <|eoi|>.
struct ShowoRowLayout {
  int64_t text_len = 0;     // 129: the text block occupies [0, text_len)
  int64_t soi_index = 0;    // 129
  int64_t image_begin = 0;  // 130
  int64_t image_end = 0;    // one past the last image token: 130 + N
  int64_t eoi_index = 0;    // 130 + N, the last index
  int64_t length = 0;       // 131 + N: 1155 for N = 1024, 387 for N = 256
};
ShowoRowLayout FullRowLayout(int64_t num_image_tokens, int64_t max_text_len = 129);

class ShowoTextLayout {
 public:
  // Adds Show-o's special tokens to `tokenizer` (if not there yet) and reads every id from it.
  // The tokenizer must have <|endoftext|> (Phi's bos = eos).
  static StatusOr<ShowoTextLayout> Create(ByteLevelBpeTokenizer tokenizer);

  // The `max_text_len` ids `[PAD]*, <|t2i|>, BOS, text..., EOS` (left-padded). An empty prompt
  // gives [bos] as its text; a prompt whose ids start with bos keeps just that one. When
  // `<|t2i|>, BOS, text, EOS` is longer than max_text_len, it is cut to its first
  // max_text_len - 1 ids followed by EOS (upstream drops the prompt's tail the same way).
  StatusOr<std::vector<int64_t>> EncodeT2I(const std::string& prompt, int64_t max_text_len = 129) const;

  // The full row: EncodeT2I(prompt) + <|soi|> + image token ids + <|eoi|>. `image_codes` are
  // codebook indices in [0, codebook_size], codebook_size standing for the mask token (58497 in
  // Show-o); each becomes image_token_offset() + code.
  StatusOr<std::vector<int64_t>> FullRow(const std::string& prompt, const std::vector<int64_t>& image_codes,
                                         int64_t codebook_size = 8192, int64_t max_text_len = 129) const;

  int64_t pad_id() const { return pad_id_; }
  int64_t soi_id() const { return soi_id_; }
  int64_t eoi_id() const { return eoi_id_; }
  int64_t t2i_id() const { return t2i_id_; }
  int64_t bos_id() const { return bos_id_; }  // = eos_id(): <|endoftext|>
  int64_t eos_id() const { return eos_id_; }
  // len(tokenizer) after Show-o's additions: image code c is token image_token_offset() + c.
  int64_t image_token_offset() const { return image_token_offset_; }
  const ByteLevelBpeTokenizer& tokenizer() const { return tokenizer_; }

 private:
  explicit ShowoTextLayout(ByteLevelBpeTokenizer tokenizer) : tokenizer_(std::move(tokenizer)) {}

  ByteLevelBpeTokenizer tokenizer_;
  int64_t pad_id_ = 0;
  int64_t soi_id_ = 0;
  int64_t eoi_id_ = 0;
  int64_t t2i_id_ = 0;
  int64_t bos_id_ = 0;
  int64_t eos_id_ = 0;
  int64_t image_token_offset_ = 0;
};

}  // namespace maskgrpo::showo
