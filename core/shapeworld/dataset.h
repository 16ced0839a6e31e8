// Glue between ShapeWorld and the model: prompt batches, supervised training batches and
// decoding of sampled codes to pixels.
#pragma once

#include <ATen/core/Tensor.h>

#include <random>
#include <string>
#include <vector>

#include "core/model_config.h"
#include "core/shapeworld/image_tokenizer.h"
#include "core/shapeworld/prompts.h"
#include "core/shapeworld/text_tokenizer.h"
#include "core/trajectory.h"

namespace maskgrpo::shapeworld {

// Everything fixed about the world, built once.
struct World {
  TextTokenizer text;
  ImageTokenizer image;
  PromptSplit split = BuildPromptSplit();
};

StatusOr<PromptBatch> EncodePrompts(const TextTokenizer& tok, const std::vector<std::string>& texts, int64_t text_len);
PromptBatch EmptyPrompt(const TextTokenizer& tok, int64_t text_len);

struct SupervisedBatch {
  PromptBatch prompts;  // with a fraction replaced by the empty prompt
  at::Tensor codes;     // [B, N] ground-truth image codes
};

// Random training prompts (tasks drawn uniformly, then prompts uniformly within the task),
// each with a freshly sampled scene. `prompt_dropout` of the rows get the empty prompt.
SupervisedBatch MakeSupervisedBatch(const World& world, const std::vector<PromptSpec>& prompts, int64_t batch,
                                    int64_t text_len, double prompt_dropout, std::mt19937_64& rng);

// Codes [N] (int64, CPU) to pixels; codes out of range are an error.
StatusOr<Image> DecodeCodes(const ImageTokenizer& tok, const at::Tensor& codes);

}  // namespace maskgrpo::shapeworld
