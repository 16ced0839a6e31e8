// Word-level tokenizer for the ShapeWorld prompt language, and the model's token layout
// built around it (text ids, then <soi>/<eoi>, then image codes, then <mask>).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/model_config.h"
#include "core/status.h"

namespace maskgrpo::shapeworld {

class TextTokenizer {
 public:
  static constexpr int64_t kPad = 0;
  static constexpr int64_t kBos = 1;
  static constexpr int64_t kEos = 2;

  TextTokenizer();

  int64_t vocab_size() const { return static_cast<int64_t>(words_.size()) + 3; }
  // [BOS, words..., EOS], pad-filled to text_len. Unknown words or a prompt too long are
  // errors naming the word / the length.
  StatusOr<std::vector<int64_t>> Encode(const std::string& text, int64_t text_len) const;
  // The empty prompt (classifier-free guidance's unconditional input): [BOS, EOS, pad...].
  std::vector<int64_t> EncodeEmpty(int64_t text_len) const;
  std::string Decode(const std::vector<int64_t>& ids) const;

 private:
  std::vector<std::string> words_;
};

// The model layout for ShapeWorld with the given transformer shape.
ModelConfig ShapeWorldModelConfig(int64_t hidden, int64_t layers, int64_t heads, int64_t mlp, int64_t rotary_dim);

}  // namespace maskgrpo::shapeworld
