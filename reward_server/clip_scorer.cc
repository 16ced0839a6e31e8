#include "reward_server/clip_scorer.h"

#include "core/torch_api.h"

#include <filesystem>
#include <list>

#include "core/checkpoint/checkpoint_files.h"
#include "core/checkpoint/torch_pickle.h"
#include "core/clip/clip_model.h"
#include "core/clip/clip_tokenizer.h"
#include "core/image/clip_preprocess.h"

namespace maskgrpo::reward {
namespace {

namespace fs = std::filesystem;

constexpr size_t kTextCacheEntries = 4096;

// A CLIP checkpoint from a file or a folder (the names Hugging Face and open_clip save).
StatusOr<TensorFile> ReadClipWeights(const std::string& path, const std::string& key) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    if (!key.empty()) return InvalidArgument("checkpoint_key needs a file, not the folder " + path);
    ASSIGN_OR_RETURN(WeightsSource source,
                     ReadWeightsDirectory(path, {"open_clip_model.safetensors", "model.safetensors",
                                                 "open_clip_pytorch_model.bin", "pytorch_model.bin"}));
    return std::move(source.file);
  }
  const std::string suffix = ".safetensors";
  const bool pickled = path.size() < suffix.size() || path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0;
  if (!key.empty()) {
    if (!pickled) return InvalidArgument("checkpoint_key applies to torch.save files, not " + path);
    TorchCheckpointOptions options;
    options.inner_key = key;
    return ReadTorchCheckpoint(path, options);
  }
  return ReadWeightsFile(path);
}

StatusOr<clip::ClipConfig> ArchitectureConfig(const config::ScorerConfig& c, const std::string& default_arch) {
  const std::string arch = c.architecture().empty() ? default_arch : c.architecture();
  clip::ClipConfig config;
  if (arch == "ViT-B-32") {
    config = clip::ClipConfig::ViTB32();
  } else if (arch == "ViT-L-14") {
    config = clip::ClipConfig::ViTL14();
  } else if (arch == "ViT-H-14") {
    config = clip::ClipConfig::ViTH14();
  } else if (arch == "custom") {
    if (c.vision_heads() <= 0 || c.text_heads() <= 0) {
      return InvalidArgument("architecture \"custom\" needs vision_heads and text_heads (> 0)");
    }
    config.vision_heads = c.vision_heads();
    config.text_heads = c.text_heads();
  } else {
    return InvalidArgument("architecture must be ViT-B-32, ViT-L-14, ViT-H-14 or custom, got '" + arch + "'");
  }
  if (arch != "custom" && (c.vision_heads() != 0 || c.text_heads() != 0)) {
    return InvalidArgument("vision_heads and text_heads are for architecture \"custom\" only");
  }
  if (!c.activation().empty()) {
    if (c.activation() != "gelu" && c.activation() != "quick_gelu") {
      return InvalidArgument("activation must be gelu or quick_gelu, got '" + c.activation() + "'");
    }
    config.activation = c.activation();
  }
  return config;
}

DeviceOptions RuntimeDevice(const config::ScorerConfig& c) {
  DeviceOptions d;
  if (!c.runtime().device().empty()) d.device = c.runtime().device();
  if (!c.runtime().dtype().empty()) d.dtype = c.runtime().dtype();
  return d;
}

// Normalised text embeddings by prompt, least recently used dropped first.
class TextCache {
 public:
  bool Get(const std::string& prompt, at::Tensor* out) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(prompt);
    if (it == index_.end()) return false;
    order_.splice(order_.begin(), order_, it->second.second);
    *out = it->second.first;
    return true;
  }
  void Put(const std::string& prompt, const at::Tensor& embedding) {
    std::lock_guard<std::mutex> lock(mu_);
    if (index_.count(prompt)) return;
    order_.push_front(prompt);
    index_[prompt] = {embedding, order_.begin()};
    if (order_.size() > kTextCacheEntries) {
      index_.erase(order_.back());
      order_.pop_back();
    }
  }

 private:
  std::mutex mu_;
  std::list<std::string> order_;
  std::map<std::string, std::pair<at::Tensor, std::list<std::string>::iterator>> index_;
};

at::Tensor Normalize(const at::Tensor& x) { return x / x.norm(2, -1, true).clamp_min(1e-12); }

class ClipFamilyScorer : public Scorer {
 public:
  enum class Kind { kClipScore, kPickScore, kHpsv2 };
  ClipFamilyScorer(std::string name, Kind kind, std::unique_ptr<clip::ClipModel> model, clip::ClipTokenizer tokenizer,
                   DeviceOptions device)
      : name_(std::move(name)), kind_(kind), model_(std::move(model)), tokenizer_(std::move(tokenizer)),
        device_(std::move(device)) {}

  std::string name() const override { return name_; }
  std::string description() const override {
    switch (kind_) {
      case Kind::kClipScore: return "CLIP score: exp(logit_scale) * cosine(image, prompt)";
      case Kind::kPickScore: return "PickScore: exp(logit_scale) * cosine(image, prompt) on PickScore_v1";
      case Kind::kHpsv2: return "HPSv2: cosine(image, prompt), HPSv2's tensor resize";
    }
    return name_;
  }
  Status CheckItem(const RewardItem& item, const std::string& field) const override {
    Status st = ValidateImage(item.image);
    if (!st.ok()) return InvalidArgument(field + ".image: " + st.message());
    if (kind_ == Kind::kHpsv2 && item.image.width != item.image.height &&
        std::max(item.image.width, item.image.height) == 224) {
      return InvalidArgument(field + ".image: HPSv2's resize leaves a non-square image whose long side is 224 unpadded");
    }
    return tokenizer_.Tokenize(item.prompt.text).status();  // invalid UTF-8 is the sender's error
  }
  StatusOr<std::vector<double>> Score(const std::vector<const RewardItem*>& items) const override {
    if (items.empty()) return std::vector<double>{};
    std::vector<RgbImage> images;
    for (const auto* item : items) images.push_back(item->image);
    try {
      torch::NoGradGuard no_grad;
      at::Tensor pixels;
      if (kind_ == Kind::kHpsv2) {
        ASSIGN_OR_RETURN(pixels, HpsTensorPreprocess(images, HpsPreprocessOptions{}, device_));
      } else {
        ASSIGN_OR_RETURN(pixels, ClipPreprocess(images, ClipPreprocessOptions{}, device_));
      }
      ASSIGN_OR_RETURN(at::Tensor image_embeds, model_->EncodeImage(pixels));
      image_embeds = Normalize(image_embeds.to(torch::kFloat32));
      std::vector<at::Tensor> text_rows;
      for (const auto* item : items) {
        ASSIGN_OR_RETURN(at::Tensor t, TextEmbedding(item->prompt.text));
        text_rows.push_back(t);
      }
      auto text_embeds = torch::stack(text_rows).to(image_embeds.device());
      auto cosine = (image_embeds * text_embeds).sum(-1);
      auto scores = kind_ == Kind::kHpsv2 ? cosine : cosine * std::exp(model_->logit_scale());
      scores = scores.to(torch::kCPU, torch::kFloat64).contiguous();
      return std::vector<double>(scores.data_ptr<double>(), scores.data_ptr<double>() + scores.numel());
    } catch (const c10::Error& e) {
      return Internal(name_ + ": " + e.what_without_backtrace());
    }
  }

 private:
  StatusOr<at::Tensor> TextEmbedding(const std::string& prompt) const {
    at::Tensor cached;
    if (cache_.Get(prompt, &cached)) return cached;
    ASSIGN_OR_RETURN(auto ids, tokenizer_.Tokenize(prompt, model_->config().text_context_length));
    auto tokens = torch::tensor(ids, torch::kLong).view({1, -1});
    ASSIGN_OR_RETURN(at::Tensor embedding, model_->EncodeText(tokens));
    auto normalized = Normalize(embedding.to(torch::kFloat32))[0].to(torch::kCPU);
    cache_.Put(prompt, normalized);
    return normalized;
  }

  std::string name_;
  Kind kind_;
  std::unique_ptr<clip::ClipModel> model_;
  clip::ClipTokenizer tokenizer_;
  DeviceOptions device_;
  mutable TextCache cache_;
};

class AestheticScorer : public Scorer {
 public:
  AestheticScorer(std::unique_ptr<clip::ClipModel> model, std::unique_ptr<clip::AestheticHead> head, DeviceOptions device)
      : model_(std::move(model)), head_(std::move(head)), device_(std::move(device)) {}
  std::string name() const override { return "aesthetic"; }
  std::string description() const override {
    return "LAION improved aesthetic predictor on L2-normalised CLIP ViT-L/14 image embeddings (about 1-10)";
  }
  Status CheckItem(const RewardItem& item, const std::string& field) const override {
    Status st = ValidateImage(item.image);
    return st.ok() ? st : InvalidArgument(field + ".image: " + st.message());
  }
  StatusOr<std::vector<double>> Score(const std::vector<const RewardItem*>& items) const override {
    if (items.empty()) return std::vector<double>{};
    std::vector<RgbImage> images;
    for (const auto* item : items) images.push_back(item->image);
    try {
      torch::NoGradGuard no_grad;
      ASSIGN_OR_RETURN(at::Tensor pixels, ClipPreprocess(images, ClipPreprocessOptions{}, device_));
      ASSIGN_OR_RETURN(at::Tensor embeds, model_->EncodeImage(pixels));
      ASSIGN_OR_RETURN(at::Tensor scores, head_->Score(embeds));
      scores = scores.to(torch::kCPU, torch::kFloat64).contiguous();
      return std::vector<double>(scores.data_ptr<double>(), scores.data_ptr<double>() + scores.numel());
    } catch (const c10::Error& e) {
      return Internal(std::string("aesthetic: ") + e.what_without_backtrace());
    }
  }

 private:
  std::unique_ptr<clip::ClipModel> model_;
  std::unique_ptr<clip::AestheticHead> head_;
  DeviceOptions device_;
};

}  // namespace

bool IsClipFamilyScorer(const std::string& name) {
  return name == "clip_score" || name == "pickscore" || name == "hpsv2" || name == "aesthetic";
}

StatusOr<std::unique_ptr<Scorer>> MakeClipFamilyScorer(const config::ScorerConfig& c) {
  const std::string& name = c.name();
  if (!IsClipFamilyScorer(name)) return InvalidArgument("not a CLIP-family scorer: '" + name + "'");
  if (c.model_path().empty()) return InvalidArgument(name + ": model_path (the CLIP checkpoint) is not set");
  const DeviceOptions device = RuntimeDevice(c);
  // The aesthetic predictor was trained on OpenAI's ViT-L/14; HPSv2 and the paper's CLIP
  // score use ViT-H-14, PickScore too.
  ASSIGN_OR_RETURN(clip::ClipConfig config, ArchitectureConfig(c, name == "aesthetic" ? "ViT-L-14" : "ViT-H-14"));
  auto weights = ReadClipWeights(c.model_path(), c.checkpoint_key());
  if (!weights.ok()) return InvalidArgument(name + ": model_path: " + weights.status().message());
  auto model = clip::ClipModel::Create(*weights, config, device);
  if (!model.ok()) return InvalidArgument(name + ": " + c.model_path() + ": " + model.status().message());
  if (name == "aesthetic") {
    if (c.head_path().empty()) return InvalidArgument("aesthetic: head_path (the MLP head) is not set");
    if ((*model)->config().embed_dim != clip::AestheticHead::kInputDim) {
      return InvalidArgument("aesthetic: the head takes " + std::to_string(clip::AestheticHead::kInputDim) +
                             "-d CLIP ViT-L/14 embeddings, the model gives " +
                             std::to_string((*model)->config().embed_dim));
    }
    auto head_file = ReadWeightsFile(c.head_path());
    if (!head_file.ok()) return InvalidArgument("aesthetic: head_path: " + head_file.status().message());
    auto head = clip::AestheticHead::Create(*head_file, device);
    if (!head.ok()) return InvalidArgument("aesthetic: " + c.head_path() + ": " + head.status().message());
    return std::unique_ptr<Scorer>(new AestheticScorer(std::move(*model), std::move(*head), device));
  }
  if (!c.head_path().empty()) return InvalidArgument(name + ": head_path is only for the aesthetic scorer");
  if (c.tokenizer_path().empty()) return InvalidArgument(name + ": tokenizer_path (the CLIP BPE file or folder) is not set");
  auto tokenizer = clip::ClipTokenizer::Load(c.tokenizer_path());
  if (!tokenizer.ok()) return InvalidArgument(name + ": tokenizer_path: " + tokenizer.status().message());
  if (tokenizer->size() > (*model)->config().text_vocab_size) {
    return InvalidArgument(name + ": the tokenizer has " + std::to_string(tokenizer->size()) +
                           " ids but the model's text vocabulary is " +
                           std::to_string((*model)->config().text_vocab_size));
  }
  const auto kind = name == "hpsv2"       ? ClipFamilyScorer::Kind::kHpsv2
                    : name == "pickscore" ? ClipFamilyScorer::Kind::kPickScore
                                          : ClipFamilyScorer::Kind::kClipScore;
  return std::unique_ptr<Scorer>(
      new ClipFamilyScorer(name, kind, std::move(*model), std::move(*tokenizer), device));
}

}  // namespace maskgrpo::reward
