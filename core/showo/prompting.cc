#include "core/showo/prompting.h"

#include <utility>

namespace maskgrpo::showo {

const std::vector<std::string>& ShowoSpecialTokens() {
  static const std::vector<std::string> tokens = {
      "[PAD]", "<|soi|>", "<|eoi|>", "<|sov|>", "<|eov|>", "<|t2i|>", "<|mmu|>", "<|t2v|>", "<|v2v|>", "<|lvg|>",
  };
  return tokens;
}

Status AddShowoSpecialTokens(ByteLevelBpeTokenizer* tokenizer) {
  return tokenizer->AddSpecialTokens(ShowoSpecialTokens());
}

ShowoRowLayout FullRowLayout(int64_t num_image_tokens, int64_t max_text_len) {
  ShowoRowLayout layout;
  layout.text_len = max_text_len;
  layout.soi_index = max_text_len;
  layout.image_begin = max_text_len + 1;
  layout.image_end = layout.image_begin + num_image_tokens;
  layout.eoi_index = layout.image_end;
  layout.length = layout.eoi_index + 1;
  return layout;
}

StatusOr<ShowoTextLayout> ShowoTextLayout::Create(ByteLevelBpeTokenizer tokenizer) {
  // <|endoftext|> must be matched whole (it is Phi's special bos/eos), so that a prompt that
  // already starts with it is recognised as starting with bos.
  if (!tokenizer.TokenId("<|endoftext|>")) {
    return FailedPrecondition("Show-o layout: the tokenizer has no <|endoftext|> (Phi's bos/eos)");
  }
  RETURN_IF_ERROR(tokenizer.AddSpecialTokens({"<|endoftext|>"}));
  RETURN_IF_ERROR(AddShowoSpecialTokens(&tokenizer));
  ShowoTextLayout layout(std::move(tokenizer));
  const ByteLevelBpeTokenizer& tok = layout.tokenizer_;
  layout.pad_id_ = *tok.TokenId("[PAD]");
  layout.soi_id_ = *tok.TokenId("<|soi|>");
  layout.eoi_id_ = *tok.TokenId("<|eoi|>");
  layout.t2i_id_ = *tok.TokenId("<|t2i|>");
  layout.bos_id_ = *tok.TokenId("<|endoftext|>");
  layout.eos_id_ = layout.bos_id_;
  layout.image_token_offset_ = tok.size();
  return layout;
}

StatusOr<std::vector<int64_t>> ShowoTextLayout::EncodeT2I(const std::string& prompt, int64_t max_text_len) const {
  if (max_text_len < 3) {
    return InvalidArgument("EncodeT2I: max_text_len " + std::to_string(max_text_len) +
                           " leaves no room for <|t2i|>, BOS and EOS");
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> text, tokenizer_.Encode(prompt));
  std::vector<int64_t> temp;
  temp.reserve(text.size() + 3);
  temp.push_back(t2i_id_);
  if (text.empty() || text.front() != bos_id_) temp.push_back(bos_id_);
  temp.insert(temp.end(), text.begin(), text.end());
  temp.push_back(eos_id_);
  const size_t len = static_cast<size_t>(max_text_len);
  if (temp.size() <= len) {
    std::vector<int64_t> row(len - temp.size(), pad_id_);
    row.insert(row.end(), temp.begin(), temp.end());
    return row;
  }
  temp.resize(len - 1);
  temp.push_back(eos_id_);
  return temp;
}

StatusOr<std::vector<int64_t>> ShowoTextLayout::FullRow(const std::string& prompt,
                                                        const std::vector<int64_t>& image_codes,
                                                        int64_t codebook_size, int64_t max_text_len) const {
  ASSIGN_OR_RETURN(std::vector<int64_t> row, EncodeT2I(prompt, max_text_len));
  row.push_back(soi_id_);
  for (size_t i = 0; i < image_codes.size(); ++i) {
    // codebook_size itself is allowed: offset + codebook_size is Show-o's mask token.
    if (image_codes[i] < 0 || image_codes[i] > codebook_size) {
      return InvalidArgument("FullRow: image code " + std::to_string(image_codes[i]) + " at position " +
                             std::to_string(i) + " is outside [0, " + std::to_string(codebook_size) + "]");
    }
    row.push_back(image_token_offset_ + image_codes[i]);
  }
  row.push_back(eoi_id_);
  return row;
}

}  // namespace maskgrpo::showo
