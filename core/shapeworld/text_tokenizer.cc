#include "core/shapeworld/text_tokenizer.h"

#include <sstream>

#include "core/shapeworld/image_tokenizer.h"
#include "core/shapeworld/world.h"

namespace maskgrpo::shapeworld {

TextTokenizer::TextTokenizer() {
  words_ = {"a", "an", "photo", "of", "and", "left", "right", "above", "below", "two", "three", "four"};
  for (int s = 0; s < kNumShapes; ++s) {
    words_.push_back(ShapeName(s));
    words_.push_back(ShapePlural(s));
  }
  for (int c = 0; c < kNumColors; ++c) words_.push_back(ColorName(c));
}

StatusOr<std::vector<int64_t>> TextTokenizer::Encode(const std::string& text, int64_t text_len) const {
  std::vector<int64_t> ids{kBos};
  std::istringstream in(text);
  std::string word;
  while (in >> word) {
    int64_t id = -1;
    for (size_t i = 0; i < words_.size(); ++i) {
      if (words_[i] == word) id = static_cast<int64_t>(i) + 3;
    }
    if (id < 0) return InvalidArgument("prompt word '" + word + "' is not in the ShapeWorld vocabulary");
    ids.push_back(id);
  }
  ids.push_back(kEos);
  if (static_cast<int64_t>(ids.size()) > text_len) {
    return InvalidArgument("prompt '" + text + "' needs " + std::to_string(ids.size()) + " tokens; text_len is " +
                           std::to_string(text_len));
  }
  ids.resize(text_len, kPad);
  return ids;
}

std::vector<int64_t> TextTokenizer::EncodeEmpty(int64_t text_len) const {
  std::vector<int64_t> ids{kBos, kEos};
  ids.resize(text_len, kPad);
  return ids;
}

std::string TextTokenizer::Decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (int64_t id : ids) {
    if (id < 3 || id >= vocab_size()) continue;
    if (!out.empty()) out += " ";
    out += words_[id - 3];
  }
  return out;
}

ModelConfig ShapeWorldModelConfig(int64_t hidden, int64_t layers, int64_t heads, int64_t mlp, int64_t rotary_dim) {
  static const int64_t kNumCodes = ImageTokenizer().num_codes();
  ModelConfig c;
  c.hidden_size = hidden;
  c.num_layers = layers;
  c.num_heads = heads;
  c.intermediate_size = mlp;
  c.rotary_dim = rotary_dim;
  const int64_t text_vocab = TextTokenizer().vocab_size();
  c.pad_id = TextTokenizer::kPad;
  c.soi_id = text_vocab;
  c.eoi_id = text_vocab + 1;
  c.image_token_offset = text_vocab + 2;
  c.num_image_codes = kNumCodes;
  c.mask_id = c.image_token_offset + kNumCodes;
  c.vocab_size = c.mask_id + 1;
  c.text_len = 16;
  c.image_len = kGrid * kGrid;
  return c;
}

}  // namespace maskgrpo::shapeworld
