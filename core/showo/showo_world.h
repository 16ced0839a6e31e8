// Show-o as a World (core/world/world.h), from the files a researcher has:
//   - a prompt file (JSON lines; GenEval's evaluation_metadata.jsonl loads as it is), split
//     into train / held-out, or a separate held-out file;
//   - the Phi-1.5 tokenizer folder (vocab.json, merges.txt, added tokens), to which Show-o's
//     ten special tokens are added in Show-o's order; prompts become Show-o's 129-id t2i
//     block, the unconditional prompt is built from "" as Show-o does;
//   - the MAGVIT-v2 checkpoint (folder or file; safetensors or torch.save), whose decoder
//     turns LFQ codes into pixels (its shape is read from the checkpoint);
//   - models: a Show-o checkpoint folder as published, or the project's own safetensors.
// Show-o has no built-in judge: its rewards come from reward servers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/showo/magvit.h"
#include "core/showo/prompting.h"
#include "core/world/registry.h"
#include "core/world/world.h"

namespace maskgrpo::showo {

// The decoder's shape, read from a checkpoint's `decoder.*` tensors (ch from conv_out, the
// levels, blocks per level and channel multipliers from the up blocks, z from conv_in).
StatusOr<MagvitDecoderConfig> MagvitConfigFromState(const TensorFile& state);

class ShowoWorld : public World {
 public:
  static StatusOr<std::unique_ptr<World>> Create(const WorldOptions& options);

  std::string name() const override { return "showo"; }
  const std::vector<Prompt>& prompts(PromptSplitKind split) const override {
    return split == PromptSplitKind::kTrain ? train_ : heldout_;
  }
  Status CheckModel(const ModelConfig& model) const override;
  StatusOr<std::unique_ptr<MaskedTransformer>> LoadModel(const std::string& path,
                                                         const DeviceOptions& device) const override;
  StatusOr<PromptBatch> EncodePrompts(const std::vector<std::string>& texts, int64_t text_len) const override;
  PromptBatch UnconditionalPrompt(int64_t text_len) const override;
  StatusOr<std::vector<RgbImage>> DecodeImages(const at::Tensor& codes) const override;
  int image_size() const override { return image_size_; }

  const ShowoTextLayout& layout() const { return *layout_; }

 private:
  ShowoWorld() = default;
  WorldOptions options_;
  std::unique_ptr<ShowoTextLayout> layout_;
  std::unique_ptr<MagvitDecoder> decoder_;
  std::vector<Prompt> train_, heldout_;
  int image_size_ = 0;
};

}  // namespace maskgrpo::showo
