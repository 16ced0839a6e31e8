// CLIP image and text towers (open_clip / OpenAI ViT CLIP) and the LAION aesthetic head,
// loaded strictly from either published layout (docs/showo-stack.md sections 4.1, 4.2, 4.5):
//   open_clip  visual.*, transformer.resblocks.*, attn.in_proj_weight (rows q; k; v),
//              visual.proj / text_projection used as x @ W        (HPSv2, GenEval, LAION)
//   HF         vision_model.*, text_model.*, self_attn.{q,k,v,out}_proj, pre_layrnorm (sic),
//              visual_projection.weight / text_projection.weight = the transposes
//              (CLIPModel: Mask-GRPO's CLIP reward, PickScore)
// Both map to one internal representation, so the two copies of one model give the same
// numbers. Buffers `*.position_ids` (older HF checkpoints) are ignored; every other tensor
// must be expected, present and of the right shape, or nothing is built and the error
// names every problem.
//
// Sizes come from the file (widths, layer counts, patch size, positional lengths, vocab,
// MLP width, embed_dim); the config supplies what a state dict cannot tell (head counts,
// activation) and, where it gives a size, that size must agree with the file.
//
// Thread-safety: a built model is immutable; the Encode*/Similarity calls may run
// concurrently.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/device.h"
#include "core/safetensors.h"
#include "core/status.h"

namespace maskgrpo::clip {

// A size of 0 means "whatever the checkpoint says"; a positive size must match it.
struct ClipConfig {
  int64_t embed_dim = 0;

  int64_t vision_width = 0;
  int64_t vision_layers = 0;
  int64_t vision_patch_size = 0;
  int64_t vision_image_size = 0;  // grid * patch, grid = sqrt(positional rows - 1)
  int64_t vision_mlp_width = 0;
  int64_t vision_heads = 0;       // required: a state dict cannot tell it

  int64_t text_width = 0;
  int64_t text_layers = 0;
  int64_t text_context_length = 0;
  int64_t text_vocab_size = 0;
  int64_t text_mlp_width = 0;
  int64_t text_heads = 0;         // required

  // "gelu" (exact, erf: open_clip's nn.GELU, laion ViT-H-14) or "quick_gelu"
  // (x * sigmoid(1.702 x): the OpenAI weights). Not derivable from the weights.
  std::string activation = "gelu";
  double layer_norm_eps = 1e-5;

  // open_clip model_configs; the activation is the weights' choice, not the shape's.
  static ClipConfig ViTB32(const std::string& activation = "quick_gelu");  // OpenAI B/32
  static ClipConfig ViTL14(const std::string& activation = "quick_gelu");  // OpenAI L/14 (aesthetic, GenEval)
  static ClipConfig ViTH14(const std::string& activation = "gelu");        // laion2b_s32b_b79k, HPSv2, PickScore

  // Heads given and dividing the widths, the activation known, sizes non-negative.
  Status Validate() const;
  // True when every size is given (> 0).
  bool Complete() const;
};

enum class ClipLayout { kOpenClip, kHuggingFace };
const char* ClipLayoutName(ClipLayout layout);

// Which layout a state dict is in (by its patch-embedding name); an error when neither or
// both are present.
StatusOr<ClipLayout> DetectClipLayout(const TensorFile& file);

// Every tensor a complete config needs in `layout`, in execution order (vision, text, then
// logit_scale), with its published name and shape; position_ids buffers are not listed.
StatusOr<std::vector<std::pair<std::string, std::vector<int64_t>>>> ClipParameterShapes(const ClipConfig& config,
                                                                                     ClipLayout layout);

class ClipModel {
 public:
  // Reads sizes from `checkpoint`, checks them against `config`, checks the whole state
  // strictly, then copies the weights to device.device in device.dtype ("float32",
  // "bfloat16"/"bf16", "float16"/"fp16", "float64"). LayerNorm runs in float32 (or float64)
  // and attention scores and softmax in float32 whatever the dtype.
  static StatusOr<std::unique_ptr<ClipModel>> Create(const TensorFile& checkpoint, const ClipConfig& config,
                                                     const DeviceOptions& device);
  ~ClipModel();
  ClipModel(const ClipModel&) = delete;
  ClipModel& operator=(const ClipModel&) = delete;

  // pixels [B, 3, image, image], already resized and normalised (section 4.4), any float
  // dtype or device -> [B, embed_dim] float32 (float64 for a float64 model) on the model's
  // device, not normalised.
  StatusOr<at::Tensor> EncodeImage(const at::Tensor& pixels) const;
  // tokens [B, L] integer, 1 <= L <= context_length, ids in [0, vocab) -> [B, embed_dim],
  // not normalised. Pooled at argmax of each row (the first maximum): the EOT for open_clip
  // and for HF's standard tokens (EOT 49407 is the largest id), so padding is irrelevant.
  StatusOr<at::Tensor> EncodeText(const at::Tensor& tokens) const;

  // exp(logit_scale) * cos(image_i, text_i) for each pair i: [B] (the Mask-GRPO CLIP reward,
  // PickScore). pixels and tokens must have the same batch size.
  StatusOr<at::Tensor> Similarity(const at::Tensor& pixels, const at::Tensor& tokens) const;
  // logits_per_image: exp(logit_scale) * cos(image_i, text_j): [B_images, B_texts].
  StatusOr<at::Tensor> Logits(const at::Tensor& pixels, const at::Tensor& tokens) const;

  // The stored value (the log of the scale), as saved.
  double logit_scale() const { return logit_scale_; }
  // The config with every size filled from the checkpoint.
  const ClipConfig& config() const { return config_; }
  ClipLayout layout() const { return layout_; }
  int64_t NumParameters() const;
  at::Device device() const;
  at::ScalarType dtype() const;

  struct Impl;  // opaque; public only so that helpers in clip_*.cc can take it

 private:
  ClipModel(ClipConfig config, ClipLayout layout, double logit_scale, std::unique_ptr<Impl> impl);
  ClipConfig config_;
  ClipLayout layout_;
  double logit_scale_;
  std::unique_ptr<Impl> impl_;
};

// Cosine of each pair of rows, [B, E] x [B, E] -> [B] float32 (float64 if either is): the
// HPSv2 score (no logit scale). Also used by ClipModel::Similarity.
StatusOr<at::Tensor> PairCosine(const at::Tensor& a, const at::Tensor& b);

// The LAION improved aesthetic predictor (simple_inference.py): Linear(768,1024),
// Linear(1024,128), Linear(128,64), Linear(64,16), Linear(16,1) under keys
// layers.{0,2,4,6,7}.{weight,bias}; the ReLUs are commented out upstream and the Dropouts
// are inert in eval, so the head is one affine map of the L2-normalised OpenAI ViT-L/14
// image embedding.
class AestheticHead {
 public:
  static constexpr int64_t kInputDim = 768;
  static StatusOr<std::unique_ptr<AestheticHead>> Create(const TensorFile& checkpoint, const DeviceOptions& device);
  ~AestheticHead();
  AestheticHead(const AestheticHead&) = delete;
  AestheticHead& operator=(const AestheticHead&) = delete;

  // CLIP image embeddings [B, 768] (raw or already normalised) -> scores [B] float32 (float64
  // for a float64 head). L2-normalises each row first as simple_inference's normalized()
  // does (a zero row is divided by 1), so normalised input is unchanged.
  StatusOr<at::Tensor> Score(const at::Tensor& image_embeddings) const;
  // The five affine maps on `x` [B, 768] as given, without normalising: [B].
  StatusOr<at::Tensor> Forward(const at::Tensor& x) const;

  // Expected names and shapes, in layer order.
  static std::vector<std::pair<std::string, std::vector<int64_t>>> ParameterShapes();

  struct Impl;

 private:
  explicit AestheticHead(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace maskgrpo::clip
