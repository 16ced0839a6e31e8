#include "core/showo/showo_world.h"

#include "core/torch_api.h"

#include <cmath>
#include <filesystem>

#include "core/checkpoint/checkpoint_files.h"
#include "core/showo/showo_model.h"

namespace maskgrpo::showo {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kDecodeChunk = 8;  // images per decoder call: bounds activation memory at 512 px

StatusOr<TensorFile> ReadVqModel(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    ASSIGN_OR_RETURN(WeightsSource source, ReadWeightsDirectory(path, ShowoWeightFileNames()));
    return std::move(source.file);
  }
  return ReadWeightsFile(path);
}

}  // namespace

StatusOr<MagvitDecoderConfig> MagvitConfigFromState(const TensorFile& state) {
  const at::Tensor* conv_out = state.Find("decoder.conv_out.weight");
  const at::Tensor* conv_in = state.Find("decoder.conv_in.weight");
  if (!conv_out || conv_out->dim() != 4) return InvalidArgument("MAGVIT checkpoint: no 4-D decoder.conv_out.weight");
  if (!conv_in || conv_in->dim() != 4) return InvalidArgument("MAGVIT checkpoint: no 4-D decoder.conv_in.weight");
  MagvitDecoderConfig c;
  c.ch = conv_out->size(1);
  c.out_channels = conv_out->size(0);
  c.z_channels = conv_in->size(1);
  c.ch_mult.clear();
  c.num_res_blocks.clear();
  for (int64_t level = 0;; ++level) {
    const std::string prefix = "decoder.up." + std::to_string(level) + ".block.";
    int64_t blocks = 0;
    while (state.Find(prefix + std::to_string(blocks) + ".conv2.weight")) ++blocks;
    if (blocks == 0) break;
    const at::Tensor& conv2 = *state.Find(prefix + "0.conv2.weight");
    if (c.ch <= 0 || conv2.size(0) % c.ch != 0) {
      return InvalidArgument("MAGVIT checkpoint: " + prefix + "0.conv2.weight has " + std::to_string(conv2.size(0)) +
                             " channels, not a multiple of ch = " + std::to_string(c.ch));
    }
    c.ch_mult.push_back(conv2.size(0) / c.ch);
    c.num_res_blocks.push_back(blocks);
  }
  if (c.ch_mult.empty()) return InvalidArgument("MAGVIT checkpoint: no decoder.up.* blocks");
  RETURN_IF_ERROR(c.Validate());
  return c;
}

StatusOr<std::unique_ptr<World>> ShowoWorld::Create(const WorldOptions& options) {
  if (options.tokenizer_dir.empty()) {
    return InvalidArgument("world 'showo' needs tokenizer_dir: the Phi-1.5 tokenizer folder (vocab.json, merges.txt)");
  }
  if (options.vq_model.empty()) return InvalidArgument("world 'showo' needs vq_model: the MAGVIT-v2 checkpoint");
  if (options.prompt_file.empty()) {
    return InvalidArgument("world 'showo' needs prompt_file: JSON lines with a \"prompt\" (GenEval metadata optional)");
  }
  if (options.max_text_len < 4) return InvalidArgument("world 'showo': max_text_len must be >= 4");
  const int64_t side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(options.image_tokens))));
  if (options.image_tokens <= 0 || side * side != options.image_tokens) {
    return InvalidArgument("world 'showo': image_tokens must be a square number (1024 or 256), got " +
                           std::to_string(options.image_tokens));
  }
  std::unique_ptr<ShowoWorld> w(new ShowoWorld());
  w->options_ = options;
  ASSIGN_OR_RETURN(ByteLevelBpeTokenizer tokenizer, ByteLevelBpeTokenizer::Load(options.tokenizer_dir));
  ASSIGN_OR_RETURN(ShowoTextLayout layout, ShowoTextLayout::Create(std::move(tokenizer)));
  w->layout_ = std::make_unique<ShowoTextLayout>(std::move(layout));

  ASSIGN_OR_RETURN(TensorFile vq, ReadVqModel(options.vq_model));
  auto config = MagvitConfigFromState(vq);
  if (!config.ok()) return InvalidArgument(options.vq_model + ": " + config.status().message());
  auto decoder = MagvitDecoder::Create(vq, *config, options.decoder_device);
  if (!decoder.ok()) return InvalidArgument(options.vq_model + ": " + decoder.status().message());
  w->decoder_ = std::move(*decoder);
  w->image_size_ = static_cast<int>(side * config->UpsampleFactor());

  // Every prompt must fit the text layout (a prompt longer than it is truncated, as Show-o does).
  auto read = [&](const std::string& path) -> StatusOr<std::vector<Prompt>> {
    ASSIGN_OR_RETURN(auto prompts, ReadPromptFile(path));
    for (size_t i = 0; i < prompts.size(); ++i) {
      auto ids = w->layout_->EncodeT2I(prompts[i].text, options.max_text_len);
      if (!ids.ok()) return InvalidArgument(path + ": prompt " + std::to_string(i + 1) + ": " + ids.status().message());
    }
    return prompts;
  };
  ASSIGN_OR_RETURN(auto all, read(options.prompt_file));
  if (options.heldout_prompt_file.empty()) {
    ASSIGN_OR_RETURN(auto sets, SplitPrompts(all, options.heldout_fraction, options.split_seed));
    w->train_ = std::move(sets.train);
    w->heldout_ = std::move(sets.heldout);
  } else {
    w->train_ = std::move(all);
    ASSIGN_OR_RETURN(w->heldout_, read(options.heldout_prompt_file));
  }
  return std::unique_ptr<World>(std::move(w));
}

Status ShowoWorld::CheckModel(const ModelConfig& c) const {
  const auto& l = *layout_;
  const int64_t codes = int64_t{1} << decoder_->config().z_channels;
  std::string problems;
  auto expect = [&](const char* field, int64_t got, int64_t want) {
    if (got != want) problems += std::string(problems.empty() ? "" : "; ") + field + " is " + std::to_string(got) +
                                 ", the world needs " + std::to_string(want);
  };
  expect("text_len", c.text_len, options_.max_text_len);
  expect("pad_id", c.pad_id, l.pad_id());
  expect("soi_id", c.soi_id, l.soi_id());
  expect("eoi_id", c.eoi_id, l.eoi_id());
  expect("image_token_offset", c.image_token_offset, l.image_token_offset());
  expect("num_image_codes", c.num_image_codes, codes);
  expect("image_len", c.image_len, options_.image_tokens);
  if (problems.empty()) return Status::Ok();
  return InvalidArgument("model does not fit the Show-o world (tokenizer " + options_.tokenizer_dir + ", MAGVIT " +
                         options_.vq_model + "): " + problems);
}

StatusOr<std::unique_ptr<MaskedTransformer>> ShowoWorld::LoadModel(const std::string& path,
                                                                   const DeviceOptions& device) const {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return World::LoadModel(path, device);  // the project's safetensors
  ShowoLoadOptions o;
  o.checkpoint_dir = path;
  const std::string phi_config = (fs::path(options_.tokenizer_dir) / "config.json").string();
  if (fs::exists(phi_config, ec)) o.phi_config = phi_config;
  o.text_len = options_.max_text_len;
  o.pad_id = layout_->pad_id();
  o.soi_id = layout_->soi_id();
  o.eoi_id = layout_->eoi_id();
  ASSIGN_OR_RETURN(auto model, LoadShowoModel(o, device));
  Status fits = CheckModel(model->config());
  if (!fits.ok()) return FailedPrecondition(path + ": " + fits.message());
  return model;
}

StatusOr<PromptBatch> ShowoWorld::EncodePrompts(const std::vector<std::string>& texts, int64_t text_len) const {
  if (text_len != options_.max_text_len) {
    return InvalidArgument("Show-o prompts are " + std::to_string(options_.max_text_len) + " ids, the model has " +
                           std::to_string(text_len));
  }
  std::vector<int64_t> flat;
  flat.reserve(texts.size() * static_cast<size_t>(text_len));
  for (const auto& text : texts) {
    auto ids = layout_->EncodeT2I(text, text_len);
    if (!ids.ok()) return InvalidArgument("prompt '" + text.substr(0, 80) + "': " + ids.status().message());
    flat.insert(flat.end(), ids->begin(), ids->end());
  }
  auto ids = torch::tensor(flat, torch::kLong).view({static_cast<int64_t>(texts.size()), text_len});
  return PromptBatch{ids, ids != layout_->pad_id()};
}

PromptBatch ShowoWorld::UnconditionalPrompt(int64_t text_len) const {
  // Show-o builds it from "" (which becomes [<|t2i|>, BOS, EOS]); this cannot fail for a
  // text_len the world was created with (>= 4).
  auto ids = layout_->EncodeT2I("", text_len);
  auto t = torch::tensor(ids.ok() ? *ids : std::vector<int64_t>(static_cast<size_t>(text_len), layout_->pad_id()),
                         torch::kLong)
               .view({1, text_len});
  return PromptBatch{t, t != layout_->pad_id()};
}

StatusOr<std::vector<RgbImage>> ShowoWorld::DecodeImages(const at::Tensor& codes) const {
  if (codes.dim() != 2) return InvalidArgument("decode: codes must be [B, N]");
  std::vector<RgbImage> images;
  images.reserve(static_cast<size_t>(codes.size(0)));
  for (int64_t begin = 0; begin < codes.size(0); begin += kDecodeChunk) {
    const int64_t end = std::min(codes.size(0), begin + kDecodeChunk);
    ASSIGN_OR_RETURN(at::Tensor pixels, decoder_->DecodeToUint8(codes.slice(0, begin, end)));  // [b, H, W, 3] CPU
    pixels = pixels.contiguous();
    for (int64_t i = 0; i < pixels.size(0); ++i) {
      RgbImage img;
      img.height = static_cast<int>(pixels.size(1));
      img.width = static_cast<int>(pixels.size(2));
      const uint8_t* p = pixels[i].data_ptr<uint8_t>();
      img.rgb.assign(p, p + pixels[i].numel());
      images.push_back(std::move(img));
    }
  }
  return images;
}

}  // namespace maskgrpo::showo
