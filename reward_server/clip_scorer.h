// The CLIP family of reward models, loaded from their published files (showo-stack.md 4):
//   clip_score  exp(logit_scale) * cos(image, text): the Mask-GRPO paper's reward (CLIP
//               ViT-H-14); Pillow-bicubic resize of the shortest side + centre crop + CLIP norm
//   pickscore   the same formula on PickScore_v1's weights (an HF CLIPModel)
//   hpsv2       cos(image, text), no scale, on HPSv2's open_clip ViT-H-14 (torch.load(...)
//               ["state_dict"]: checkpoint_key "state_dict"), HPSv2's tensor resize
//   aesthetic   LAION's improved aesthetic predictor: its MLP on L2-normalised CLIP
//               ViT-L/14 (OpenAI, QuickGELU) image embeddings; no text
// Text embeddings are cached per prompt (a group shares one prompt). Device and dtype from
// the scorer's runtime block. Thread-safe: the models are read-only, the cache is locked.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "maskgrpo/service_config.pb.h"
#include "reward_server/scorer.h"

namespace maskgrpo::reward {

// Builds "clip_score", "pickscore", "hpsv2" or "aesthetic" from its config; every missing
// file or bad setting is an error naming the field.
StatusOr<std::unique_ptr<Scorer>> MakeClipFamilyScorer(const config::ScorerConfig& config);
bool IsClipFamilyScorer(const std::string& name);

}  // namespace maskgrpo::reward
