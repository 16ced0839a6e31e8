// The seam between the service and a world: what is specific to a model family and its
// prompts (architecture.md "Worlds"). A world owns
//   - the prompt sets (train / held-out) with GenEval metadata,
//   - prompt encoding into the model's text layout, and the unconditional (CFG) prompt,
//   - image decoding of final codes, and the image size,
//   - the check that a model has the layout it encodes for,
//   - optionally, a built-in judge for in-process training and evaluation.
// The learner, the rollout worker, train / eval / generate / launch and the wire
// conversions use only this interface; worlds are created by name (registry.h).
//
// Thread-safety: a World is immutable after creation; every method is const and may be
// called from several threads.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "core/image/rgb_image.h"
#include "core/model_config.h"
#include "core/status.h"
#include "core/trajectory.h"
#include "core/transformer.h"
#include "core/world/prompt.h"

namespace maskgrpo {

// A world's own verdict on one image (ShapeWorld: its pixel detector and GenEval's rules).
struct Judgement {
  bool correct = false;                   // the evaluation's verdict
  std::string reason;                     // the first failed rule; empty when correct
  std::map<std::string, double> rewards;  // every reward the judge computes, by name
  int objects = -1;                       // detections of a known class (-1: not counted)
  int fragments = -1;                     // detections of no class (-1: not counted)
};

enum class PromptSplitKind { kTrain, kHeldout };

class World {
 public:
  virtual ~World() = default;

  virtual std::string name() const = 0;
  virtual const std::vector<Prompt>& prompts(PromptSplitKind split) const = 0;

  // An error naming the field when `model` cannot be used with this world's text layout,
  // image tokens or codebook.
  virtual Status CheckModel(const ModelConfig& model) const = 0;

  // A model of this world from `path`: the project's safetensors (model config in the
  // metadata) by default; a world may also read its family's published layout. The model
  // is checked with CheckModel.
  virtual StatusOr<std::unique_ptr<MaskedTransformer>> LoadModel(const std::string& path,
                                                                 const DeviceOptions& device) const;

  // Prompts in the model's text layout ([B, text_len]); a prompt the layout cannot hold is
  // an error naming it.
  virtual StatusOr<PromptBatch> EncodePrompts(const std::vector<std::string>& texts, int64_t text_len) const = 0;
  // The empty prompt of classifier-free guidance, [1, text_len].
  virtual PromptBatch UnconditionalPrompt(int64_t text_len) const = 0;

  // Final image codes [B, N] (int64, any device) to pixels; codes out of range are an error.
  virtual StatusOr<std::vector<RgbImage>> DecodeImages(const at::Tensor& codes) const = 0;
  virtual int image_size() const = 0;  // square images, pixels per side

  // The built-in judge, when the world has one (train and eval in one process need it;
  // the services score on reward servers instead).
  virtual bool has_judge() const { return false; }
  virtual std::vector<std::string> reward_names() const { return {}; }
  virtual StatusOr<std::vector<Judgement>> Judge(const Prompt& prompt, const std::vector<RgbImage>& images) const {
    return FailedPrecondition("world '" + name() + "' has no built-in judge: score it on a reward server");
  }
};

}  // namespace maskgrpo
