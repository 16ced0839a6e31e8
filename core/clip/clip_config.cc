// ClipConfig, the two checkpoint layouts, and reading the sizes from a state dict.
#include "core/torch_api.h"

#include <cmath>
#include <optional>

#include "core/clip/clip_layers.h"
#include "core/tensor_text.h"

namespace maskgrpo::clip {
namespace {

bool StartsWith(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool EndsWith(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

// The names each layout gives the tensors that sizes are read from.
struct LayoutNames {
  std::string conv1, class_embedding, vision_pos, ln_pre, ln_post, vision_blocks, vision_proj;
  std::string token_embedding, text_pos, text_blocks, ln_final, text_proj;
  std::string fc1;  // the MLP's first Linear inside a block
  bool projections_transposed;
};

const LayoutNames& Names(ClipLayout layout) {
  static const LayoutNames open_clip{"visual.conv1.weight",
                                     "visual.class_embedding",
                                     "visual.positional_embedding",
                                     "visual.ln_pre",
                                     "visual.ln_post",
                                     "visual.transformer.resblocks.",
                                     "visual.proj",
                                     "token_embedding.weight",
                                     "positional_embedding",
                                     "transformer.resblocks.",
                                     "ln_final",
                                     "text_projection",
                                     "mlp.c_fc.weight",
                                     false};
  static const LayoutNames hf{"vision_model.embeddings.patch_embedding.weight",
                              "vision_model.embeddings.class_embedding",
                              "vision_model.embeddings.position_embedding.weight",
                              "vision_model.pre_layrnorm",  // sic, as in transformers
                              "vision_model.post_layernorm",
                              "vision_model.encoder.layers.",
                              "visual_projection.weight",
                              "text_model.embeddings.token_embedding.weight",
                              "text_model.embeddings.position_embedding.weight",
                              "text_model.encoder.layers.",
                              "text_model.final_layer_norm",
                              "text_projection.weight",
                              "mlp.fc1.weight",
                              true};
  return layout == ClipLayout::kOpenClip ? open_clip : hf;
}

using internal::Binder;
using internal::Block;
using internal::Kind;
using internal::Linear;
using internal::Norm;

Norm BindNorm(const Binder& bind, const std::string& p, int64_t w) {
  return {bind(p + ".weight", {w}, Kind::kNorm), bind(p + ".bias", {w}, Kind::kNorm)};
}
Linear BindLinear(const Binder& bind, const std::string& p, int64_t in, int64_t out) {
  return {bind(p + ".weight", {out, in}, Kind::kWeight), bind(p + ".bias", {out}, Kind::kWeight)};
}

// Concatenates HF's separate q/k/v rows into open_clip's in_proj order; undefined while
// only recording names.
at::Tensor Fuse(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  if (!q.defined() || !k.defined() || !v.defined()) return at::Tensor();
  return at::cat({q, k, v}, 0).contiguous();
}

Block BindBlock(const Binder& bind, ClipLayout layout, const std::string& p, int64_t w, int64_t mlp) {
  Block b;
  if (layout == ClipLayout::kOpenClip) {
    b.ln_1 = BindNorm(bind, p + "ln_1", w);
    b.qkv = {bind(p + "attn.in_proj_weight", {3 * w, w}, Kind::kWeight),
             bind(p + "attn.in_proj_bias", {3 * w}, Kind::kWeight)};
    b.out = BindLinear(bind, p + "attn.out_proj", w, w);
    b.ln_2 = BindNorm(bind, p + "ln_2", w);
    b.fc = BindLinear(bind, p + "mlp.c_fc", w, mlp);
    b.proj = BindLinear(bind, p + "mlp.c_proj", mlp, w);
  } else {
    b.ln_1 = BindNorm(bind, p + "layer_norm1", w);
    const Linear q = BindLinear(bind, p + "self_attn.q_proj", w, w);
    const Linear k = BindLinear(bind, p + "self_attn.k_proj", w, w);
    const Linear v = BindLinear(bind, p + "self_attn.v_proj", w, w);
    b.qkv = {Fuse(q.w, k.w, v.w), Fuse(q.b, k.b, v.b)};
    b.out = BindLinear(bind, p + "self_attn.out_proj", w, w);
    b.ln_2 = BindNorm(bind, p + "layer_norm2", w);
    b.fc = BindLinear(bind, p + "mlp.fc1", w, mlp);
    b.proj = BindLinear(bind, p + "mlp.fc2", mlp, w);
  }
  return b;
}

// open_clip stores projections as [W, E] for x @ W; HF as Linear weights [E, W].
at::Tensor BindProjection(const Binder& bind, const std::string& name, int64_t w, int64_t e, bool transposed) {
  if (!transposed) return bind(name, {w, e}, Kind::kWeight);
  at::Tensor t = bind(name, {e, w}, Kind::kWeight);
  return t.defined() ? t.t().contiguous() : t;
}

std::optional<at::Tensor> Find(const TensorFile& file, const std::string& name) {
  auto it = file.tensors.find(name);
  if (it == file.tensors.end() || !it->second.defined()) return std::nullopt;
  return it->second;
}

// Number of blocks = 1 + the largest index under `prefix` ("…resblocks.<i>.…"); gaps are
// reported later as missing tensors.
std::optional<int64_t> CountBlocks(const TensorFile& file, const std::string& prefix) {
  std::optional<int64_t> count;
  for (const auto& [name, t] : file.tensors) {
    if (!StartsWith(name, prefix)) continue;
    const size_t dot = name.find('.', prefix.size());
    const std::string index = name.substr(prefix.size(), dot == std::string::npos ? std::string::npos : dot - prefix.size());
    if (index.empty() || index.size() > 6 || index.find_first_not_of("0123456789") != std::string::npos) continue;
    const int64_t n = std::stoll(index) + 1;
    if (!count || n > *count) count = n;
  }
  return count;
}


// One size: the file's value (with where it came from) against the config's.
class Resolver {
 public:
  explicit Resolver(std::vector<std::string>& problems) : problems_(problems) {}
  void operator()(const char* field, int64_t& value, std::optional<int64_t> from_file, const std::string& source) {
    if (!from_file) {
      if (value <= 0) problems_.push_back(std::string("cannot determine ") + field + ": " + source);
      return;
    }
    if (value > 0 && value != *from_file) {
      problems_.push_back(std::string("config ") + field + " = " + std::to_string(value) + " but the checkpoint has " +
                          std::to_string(*from_file) + " (" + source + ")");
      return;  // keep the config's value: the shape check then names the tensors that disagree
    }
    value = *from_file;
  }

 private:
  std::vector<std::string>& problems_;
};

std::optional<int64_t> Dim(const std::optional<at::Tensor>& t, int64_t rank, int64_t d) {
  if (!t || t->dim() != rank) return std::nullopt;
  return t->size(d);
}

std::string From(const std::string& name, const std::optional<at::Tensor>& t) {
  return t ? name + " " + ShapeText(t->sizes()) : name + " is missing";
}

}  // namespace

namespace internal {

bool IsIgnoredBuffer(const std::string& name) { return EndsWith(name, ".position_ids"); }

Weights BuildWeights(const ClipConfig& c, ClipLayout layout, const Binder& bind) {
  const LayoutNames& n = Names(layout);
  const int64_t grid = c.vision_image_size / c.vision_patch_size;
  Weights w;
  Vision& v = w.vision;
  v.conv1 = bind(n.conv1, {c.vision_width, 3, c.vision_patch_size, c.vision_patch_size}, Kind::kWeight);
  v.class_embedding = bind(n.class_embedding, {c.vision_width}, Kind::kWeight);
  v.positional_embedding = bind(n.vision_pos, {grid * grid + 1, c.vision_width}, Kind::kWeight);
  v.ln_pre = BindNorm(bind, n.ln_pre, c.vision_width);
  for (int64_t i = 0; i < c.vision_layers; ++i) {
    v.blocks.push_back(BindBlock(bind, layout, n.vision_blocks + std::to_string(i) + ".", c.vision_width, c.vision_mlp_width));
  }
  v.ln_post = BindNorm(bind, n.ln_post, c.vision_width);
  v.proj = BindProjection(bind, n.vision_proj, c.vision_width, c.embed_dim, n.projections_transposed);

  Text& t = w.text;
  t.token_embedding = bind(n.token_embedding, {c.text_vocab_size, c.text_width}, Kind::kWeight);
  t.positional_embedding = bind(n.text_pos, {c.text_context_length, c.text_width}, Kind::kWeight);
  for (int64_t i = 0; i < c.text_layers; ++i) {
    t.blocks.push_back(BindBlock(bind, layout, n.text_blocks + std::to_string(i) + ".", c.text_width, c.text_mlp_width));
  }
  t.ln_final = BindNorm(bind, n.ln_final, c.text_width);
  t.projection = BindProjection(bind, n.text_proj, c.text_width, c.embed_dim, n.projections_transposed);
  w.logit_scale = bind("logit_scale", {}, Kind::kNorm);
  return w;
}

ClipConfig ResolveConfig(const ClipConfig& config, const TensorFile& file, ClipLayout layout,
                         std::vector<std::string>& problems) {
  const LayoutNames& n = Names(layout);
  ClipConfig c = config;
  Resolver resolve(problems);

  const auto conv1 = Find(file, n.conv1);
  resolve("vision_width", c.vision_width, Dim(conv1, 4, 0), From(n.conv1, conv1));
  resolve("vision_patch_size", c.vision_patch_size, Dim(conv1, 4, 2), From(n.conv1, conv1));
  resolve("vision_layers", c.vision_layers, CountBlocks(file, n.vision_blocks), "blocks under " + n.vision_blocks);
  const auto vblock0 = Find(file, n.vision_blocks + "0." + n.fc1);
  resolve("vision_mlp_width", c.vision_mlp_width, Dim(vblock0, 2, 0), From(n.vision_blocks + "0." + n.fc1, vblock0));

  // The image side follows from the positional rows: grid^2 + 1 (the class token).
  const auto vpos = Find(file, n.vision_pos);
  std::optional<int64_t> image_size;
  if (auto rows = Dim(vpos, 2, 0); rows && c.vision_patch_size > 0) {
    const auto grid = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(*rows - 1))));
    if (grid * grid + 1 == *rows) {
      image_size = grid * c.vision_patch_size;
    } else {
      problems.push_back(n.vision_pos + " has " + std::to_string(*rows) + " rows, not grid^2 + 1 for a square grid");
    }
  }
  resolve("vision_image_size", c.vision_image_size, image_size,
          "rows of " + From(n.vision_pos, vpos) + " = (image/patch)^2 + 1");

  const auto vproj = Find(file, n.vision_proj);
  resolve("embed_dim", c.embed_dim, Dim(vproj, 2, n.projections_transposed ? 0 : 1), From(n.vision_proj, vproj));

  const auto tok = Find(file, n.token_embedding);
  resolve("text_width", c.text_width, Dim(tok, 2, 1), From(n.token_embedding, tok));
  resolve("text_vocab_size", c.text_vocab_size, Dim(tok, 2, 0), From(n.token_embedding, tok));
  const auto tpos = Find(file, n.text_pos);
  resolve("text_context_length", c.text_context_length, Dim(tpos, 2, 0), From(n.text_pos, tpos));
  resolve("text_layers", c.text_layers, CountBlocks(file, n.text_blocks), "blocks under " + n.text_blocks);
  const auto tblock0 = Find(file, n.text_blocks + "0." + n.fc1);
  resolve("text_mlp_width", c.text_mlp_width, Dim(tblock0, 2, 0), From(n.text_blocks + "0." + n.fc1, tblock0));
  return c;
}

}  // namespace internal

// ---- ClipConfig ----
// Sizes from open_clip's model_configs (showo-stack.md 4.1); mlp_ratio 4 everywhere.
ClipConfig ClipConfig::ViTB32(const std::string& activation) {
  ClipConfig c;
  c.embed_dim = 512;
  c.vision_width = 768, c.vision_layers = 12, c.vision_patch_size = 32, c.vision_image_size = 224;
  c.vision_mlp_width = 3072, c.vision_heads = 12;
  c.text_width = 512, c.text_layers = 12, c.text_heads = 8, c.text_context_length = 77, c.text_vocab_size = 49408;
  c.text_mlp_width = 2048;
  c.activation = activation;
  return c;
}

ClipConfig ClipConfig::ViTL14(const std::string& activation) {
  ClipConfig c;
  c.embed_dim = 768;
  c.vision_width = 1024, c.vision_layers = 24, c.vision_patch_size = 14, c.vision_image_size = 224;
  c.vision_mlp_width = 4096, c.vision_heads = 16;  // head_width 64
  c.text_width = 768, c.text_layers = 12, c.text_heads = 12, c.text_context_length = 77, c.text_vocab_size = 49408;
  c.text_mlp_width = 3072;
  c.activation = activation;
  return c;
}

ClipConfig ClipConfig::ViTH14(const std::string& activation) {
  ClipConfig c;
  c.embed_dim = 1024;
  c.vision_width = 1280, c.vision_layers = 32, c.vision_patch_size = 14, c.vision_image_size = 224;
  c.vision_mlp_width = 5120, c.vision_heads = 16;  // head_width 80
  c.text_width = 1024, c.text_layers = 24, c.text_heads = 16, c.text_context_length = 77, c.text_vocab_size = 49408;
  c.text_mlp_width = 4096;
  c.activation = activation;
  return c;
}

bool ClipConfig::Complete() const {
  for (int64_t v : {embed_dim, vision_width, vision_layers, vision_patch_size, vision_image_size, vision_mlp_width,
                    text_width, text_layers, text_context_length, text_vocab_size, text_mlp_width}) {
    if (v <= 0) return false;
  }
  return true;
}

Status ClipConfig::Validate() const {
  std::vector<std::string> problems;
  if (activation != "gelu" && activation != "quick_gelu") {
    problems.push_back("activation must be \"gelu\" (erf) or \"quick_gelu\", got \"" + activation + "\"");
  }
  if (!(layer_norm_eps > 0)) problems.push_back("layer_norm_eps must be positive");
  for (auto [name, v] : {std::pair<const char*, int64_t>{"embed_dim", embed_dim}, {"vision_width", vision_width},
                         {"vision_layers", vision_layers}, {"vision_patch_size", vision_patch_size},
                         {"vision_image_size", vision_image_size}, {"vision_mlp_width", vision_mlp_width},
                         {"text_width", text_width}, {"text_layers", text_layers},
                         {"text_context_length", text_context_length}, {"text_vocab_size", text_vocab_size},
                         {"text_mlp_width", text_mlp_width}}) {
    if (v < 0) problems.push_back(std::string(name) + " is negative");
  }
  auto heads = [&](const char* what, int64_t h, int64_t width) {
    if (h <= 0) {
      problems.push_back(std::string(what) + " must be given (a state dict does not record the head count)");
    } else if (width > 0 && width % h != 0) {
      problems.push_back(std::string(what) + " = " + std::to_string(h) + " does not divide the width " + std::to_string(width));
    }
  };
  heads("vision_heads", vision_heads, vision_width);
  heads("text_heads", text_heads, text_width);
  if (vision_patch_size > 0 && vision_image_size > 0 && vision_image_size % vision_patch_size != 0) {
    problems.push_back("vision_image_size " + std::to_string(vision_image_size) + " is not a multiple of the patch size " +
                       std::to_string(vision_patch_size));
  }
  if (problems.empty()) return Status::Ok();
  std::string msg = "CLIP config: ";
  for (size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
  return InvalidArgument(msg);
}

const char* ClipLayoutName(ClipLayout layout) {
  return layout == ClipLayout::kOpenClip ? "open_clip" : "Hugging Face CLIPModel";
}

StatusOr<ClipLayout> DetectClipLayout(const TensorFile& file) {
  const bool open_clip = file.tensors.count(Names(ClipLayout::kOpenClip).conv1) > 0;
  const bool hf = file.tensors.count(Names(ClipLayout::kHuggingFace).conv1) > 0;
  if (open_clip && hf) {
    return InvalidArgument("CLIP checkpoint holds both " + Names(ClipLayout::kOpenClip).conv1 + " and " +
                           Names(ClipLayout::kHuggingFace).conv1 + ": mixed layouts");
  }
  if (open_clip) return ClipLayout::kOpenClip;
  if (hf) return ClipLayout::kHuggingFace;
  std::string some;
  size_t i = 0;
  for (auto it = file.tensors.begin(); it != file.tensors.end() && i < 5; ++it, ++i) some += (i ? ", " : "") + it->first;
  return InvalidArgument("not a CLIP checkpoint: neither " + Names(ClipLayout::kOpenClip).conv1 + " (open_clip) nor " +
                         Names(ClipLayout::kHuggingFace).conv1 + " (Hugging Face) is present (" +
                         std::to_string(file.tensors.size()) + " tensors" + (some.empty() ? "" : ", e.g. " + some) +
                         "; a wrapped checkpoint such as HPSv2's needs TorchCheckpointOptions.inner_key)");
}

StatusOr<std::vector<std::pair<std::string, std::vector<int64_t>>>> ClipParameterShapes(const ClipConfig& config,
                                                                                     ClipLayout layout) {
  RETURN_IF_ERROR(config.Validate());
  if (!config.Complete()) return InvalidArgument("ClipParameterShapes needs every size of the config");
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  internal::BuildWeights(config, layout, [&](const std::string& name, const std::vector<int64_t>& shape, internal::Kind) {
    out.emplace_back(name, shape);
    return at::Tensor();
  });
  return out;
}

}  // namespace maskgrpo::clip
