// ShapeWorld as a World (core/world/world.h): its generated prompt split (or a prompt
// file of shape prompts), its word tokenizer, its fixed-codebook decoder and its pixel
// detector as the built-in judge. Also the conversions between the world-neutral Prompt
// and ShapeWorld's typed PromptSpec, which ShapeWorld's scorers use.
#pragma once

#include <memory>
#include <string>

#include "core/shapeworld/dataset.h"
#include "core/shapeworld/scorer.h"
#include "core/world/registry.h"
#include "core/world/world.h"

namespace maskgrpo::shapeworld {

Prompt ToPrompt(const PromptSpec& spec);
// Class names, colours and relations must be ShapeWorld's; `where` prefixes errors.
StatusOr<PromptSpec> FromPrompt(const Prompt& prompt, const std::string& where);

// The rewards of one image by name: "dense", "graded", "binary", "mixed" (core/shapeworld/scorer.h).
std::vector<std::string> RewardNames();
double RewardByName(const std::string& name, const ScoreResult& score);  // 0 for an unknown name

class ShapeWorldWorld : public ::maskgrpo::World {
 public:
  static StatusOr<std::unique_ptr<::maskgrpo::World>> Create(const WorldOptions& options);

  std::string name() const override { return "shapeworld"; }
  const std::vector<Prompt>& prompts(PromptSplitKind split) const override {
    return split == PromptSplitKind::kTrain ? train_ : heldout_;
  }
  Status CheckModel(const ModelConfig& model) const override;
  StatusOr<PromptBatch> EncodePrompts(const std::vector<std::string>& texts, int64_t text_len) const override;
  PromptBatch UnconditionalPrompt(int64_t text_len) const override;
  StatusOr<std::vector<RgbImage>> DecodeImages(const at::Tensor& codes) const override;
  int image_size() const override { return kImageSize; }
  bool has_judge() const override { return true; }
  std::vector<std::string> reward_names() const override { return RewardNames(); }
  StatusOr<std::vector<Judgement>> Judge(const Prompt& prompt, const std::vector<RgbImage>& images) const override;

  const shapeworld::World& tokenizers() const { return world_; }

 private:
  ShapeWorldWorld() = default;
  shapeworld::World world_;
  std::vector<Prompt> train_, heldout_;
};

}  // namespace maskgrpo::shapeworld
