#include "core/showo/showo_model.h"

#include "core/torch_api.h"

#include <filesystem>
#include <regex>

namespace maskgrpo::showo {
namespace {

constexpr char kPrefix[] = "showo.";

StatusOr<int64_t> IntField(const Json& json, const std::string& key, const std::string& file) {
  const Json* v = json.Find(key);
  if (!v || !v->is_number() || v->as_number() != static_cast<double>(static_cast<int64_t>(v->as_number()))) {
    return InvalidArgument(file + ": missing or non-integer \"" + key + "\"");
  }
  return static_cast<int64_t>(v->as_number());
}

double NumberOr(const Json* json, const std::string& key, double fallback) {
  if (!json) return fallback;
  const Json* v = json->Find(key);
  return v && v->is_number() ? v->as_number() : fallback;
}

StatusOr<Json> ReadJsonFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  auto json = Json::Parse(text);
  if (!json.ok()) return InvalidArgument(path + ": " + json.status().message());
  if (!json->is_object()) return InvalidArgument(path + ": expected a JSON object");
  return json;
}

}  // namespace

StatusOr<TensorFile> ShowoStateFromCheckpoint(TensorFile checkpoint) {
  TensorFile out;
  out.metadata = std::move(checkpoint.metadata);
  size_t prefixed = 0;
  for (const auto& [name, t] : checkpoint.tensors) prefixed += name.rfind(kPrefix, 0) == 0;
  if (prefixed != 0 && prefixed != checkpoint.tensors.size()) {
    for (const auto& [name, t] : checkpoint.tensors) {
      if (name.rfind(kPrefix, 0) != 0) {
        return InvalidArgument("tensor '" + name + "' lacks the 'showo.' prefix that the other " +
                               std::to_string(prefixed) + " tensors have (is this a Show-o checkpoint?)");
      }
    }
  }
  static const std::regex kRotaryBuffer(R"(.*\.rotary_emb\.inv_freq$)");
  for (auto& [name, t] : checkpoint.tensors) {
    std::string bare = prefixed ? name.substr(sizeof(kPrefix) - 1) : name;
    if (std::regex_match(bare, kRotaryBuffer)) continue;  // recomputed; not a parameter
    out.tensors.emplace(std::move(bare), std::move(t));
  }
  return out;
}

StatusOr<ModelConfig> ShowoModelConfig(const TensorFile& state, const Json& showo_config, const Json* phi_config,
                                       const ShowoLoadOptions& options) {
  const std::string cfg = "Show-o config.json";
  const at::Tensor* embed = state.Find("model.embed_tokens.weight");
  const at::Tensor* fc1 = state.Find("model.layers.0.mlp.fc1.weight");
  const at::Tensor* q_norm = state.Find("model.layers.0.self_attn.q_layernorm.weight");
  if (!embed || embed->dim() != 2) return InvalidArgument("checkpoint: no 2-D model.embed_tokens.weight");
  if (!fc1 || fc1->dim() != 2) return InvalidArgument("checkpoint: no 2-D model.layers.0.mlp.fc1.weight");
  ModelConfig c;
  c.vocab_size = embed->size(0);
  c.hidden_size = embed->size(1);
  c.intermediate_size = fc1->size(0);
  c.num_layers = 0;
  while (state.Find("model.layers." + std::to_string(c.num_layers) + ".input_layernorm.weight")) ++c.num_layers;
  c.qk_layernorm = q_norm != nullptr;
  if (q_norm) {
    if (q_norm->dim() != 1 || q_norm->size(0) <= 0 || c.hidden_size % q_norm->size(0) != 0) {
      return InvalidArgument("checkpoint: model.layers.0.self_attn.q_layernorm.weight has a shape that is not a head size");
    }
    c.num_heads = c.hidden_size / q_norm->size(0);
  } else {
    const double heads = NumberOr(phi_config, "num_attention_heads", 0);
    if (heads <= 0) {
      return InvalidArgument("checkpoint has no q_layernorm (not Show-o's Phi?) and no Phi config gives num_attention_heads");
    }
    c.num_heads = static_cast<int64_t>(heads);
  }
  if (c.num_heads <= 0 || c.hidden_size % c.num_heads != 0) {
    return InvalidArgument("checkpoint: hidden size " + std::to_string(c.hidden_size) + " is not divisible into heads");
  }
  // Phi-1.5's config values unless the user's Phi config says otherwise.
  const double rotary_fraction = NumberOr(phi_config, "partial_rotary_factor", 0.5);
  c.rotary_dim = static_cast<int64_t>(rotary_fraction * static_cast<double>(c.head_dim()));
  c.rope_theta = NumberOr(phi_config, "rope_theta", 10000.0);
  c.layer_norm_eps = NumberOr(phi_config, "layer_norm_eps", 1e-5);

  ASSIGN_OR_RETURN(int64_t vocab, IntField(showo_config, "vocab_size", cfg));
  ASSIGN_OR_RETURN(int64_t codebook, IntField(showo_config, "codebook_size", cfg));
  ASSIGN_OR_RETURN(int64_t image_tokens, IntField(showo_config, "num_vq_tokens", cfg));
  ASSIGN_OR_RETURN(int64_t llm_vocab, IntField(showo_config, "llm_vocab_size", cfg));
  if (vocab != c.vocab_size) {
    return InvalidArgument(cfg + ": vocab_size " + std::to_string(vocab) + " but model.embed_tokens.weight has " +
                           std::to_string(c.vocab_size) + " rows");
  }
  c.mask_id = vocab - 1;  // Show-o registers mask_token_id = vocab_size - 1
  if (showo_config.Find("mask_token_id")) {
    ASSIGN_OR_RETURN(int64_t mask, IntField(showo_config, "mask_token_id", cfg));
    if (mask != c.mask_id) {
      return InvalidArgument(cfg + ": mask_token_id " + std::to_string(mask) +
                             " is not the last id; Show-o's image-code slice assumes it is");
    }
  }
  c.num_image_codes = codebook;
  c.image_token_offset = c.mask_id - codebook;  // 50305 = len(tokenizer) after Show-o's additions
  c.image_len = image_tokens;
  c.text_len = options.text_len;
  c.pad_id = options.pad_id >= 0 ? options.pad_id : llm_vocab;
  c.soi_id = options.soi_id >= 0 ? options.soi_id : llm_vocab + 1;
  c.eoi_id = options.eoi_id >= 0 ? options.eoi_id : llm_vocab + 2;
  Status valid = c.Validate();
  if (!valid.ok()) return InvalidArgument("Show-o checkpoint: " + valid.message());
  return c;
}

StatusOr<std::unique_ptr<MaskedTransformer>> LoadShowoModel(const ShowoLoadOptions& options,
                                                             const DeviceOptions& device) {
  namespace fs = std::filesystem;
  const std::string config_path = (fs::path(options.checkpoint_dir) / "config.json").string();
  ASSIGN_OR_RETURN(Json showo_config, ReadJsonFile(config_path));
  std::optional<Json> phi_config;
  if (!options.phi_config.empty()) {
    ASSIGN_OR_RETURN(phi_config, ReadJsonFile(options.phi_config));
  }
  ASSIGN_OR_RETURN(WeightsSource source, ReadWeightsDirectory(options.checkpoint_dir, ShowoWeightFileNames()));
  ASSIGN_OR_RETURN(TensorFile state, ShowoStateFromCheckpoint(std::move(source.file)));
  auto config = ShowoModelConfig(state, showo_config, phi_config ? &*phi_config : nullptr, options);
  if (!config.ok()) return InvalidArgument(source.description + ": " + config.status().message());
  ASSIGN_OR_RETURN(auto model, MaskedTransformer::Create(*config, device, /*init_seed=*/0));
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
  for (const auto& [name, p] : model->NamedParameters()) expected.emplace_back(name, p.sizes().vec());
  Status names = CheckStateNames(expected, state);
  if (!names.ok()) return InvalidArgument(source.description + " (names without 'showo.'): " + names.message());
  Status loaded = model->LoadState(state.tensors);
  if (!loaded.ok()) return InvalidArgument(source.description + ": " + loaded.message());
  return model;
}

}  // namespace maskgrpo::showo
