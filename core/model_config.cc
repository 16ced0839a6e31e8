#include "core/model_config.h"

#include <cmath>

namespace maskgrpo {
namespace {

Status Positive(const char* name, int64_t v) {
  if (v <= 0) return InvalidArgument(std::string("model config: ") + name + " must be > 0, got " + std::to_string(v));
  return Status::Ok();
}

}  // namespace

Status ModelConfig::Validate() const {
  RETURN_IF_ERROR(Positive("vocab_size", vocab_size));
  RETURN_IF_ERROR(Positive("hidden_size", hidden_size));
  RETURN_IF_ERROR(Positive("num_layers", num_layers));
  RETURN_IF_ERROR(Positive("num_heads", num_heads));
  RETURN_IF_ERROR(Positive("intermediate_size", intermediate_size));
  RETURN_IF_ERROR(Positive("num_image_codes", num_image_codes));
  RETURN_IF_ERROR(Positive("text_len", text_len));
  RETURN_IF_ERROR(Positive("image_len", image_len));
  if (hidden_size % num_heads != 0) {
    return InvalidArgument("model config: hidden_size (" + std::to_string(hidden_size) +
                           ") must be divisible by num_heads (" + std::to_string(num_heads) + ")");
  }
  if (rotary_dim < 0 || rotary_dim > head_dim() || rotary_dim % 2 != 0) {
    return InvalidArgument("model config: rotary_dim must be even and in [0, head_dim=" +
                           std::to_string(head_dim()) + "], got " + std::to_string(rotary_dim));
  }
  if (!(rope_theta > 0)) return InvalidArgument("model config: rope_theta must be > 0");
  if (!(layer_norm_eps > 0)) return InvalidArgument("model config: layer_norm_eps must be > 0");
  if (mask_id != vocab_size - 1) return InvalidArgument("model config: mask_id must be the last id (vocab_size - 1)");
  if (image_token_offset + num_image_codes != mask_id) {
    return InvalidArgument("model config: image codes must end right before mask_id "
                           "(image_token_offset + num_image_codes == mask_id)");
  }
  for (auto [name, id] : {std::pair<const char*, int64_t>{"pad_id", pad_id}, {"soi_id", soi_id}, {"eoi_id", eoi_id}}) {
    if (id < 0 || id >= image_token_offset) {
      return InvalidArgument(std::string("model config: ") + name + " must be a text/special id below image_token_offset");
    }
  }
  return Status::Ok();
}

Json ModelConfig::ToJson() const {
  Json j;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["num_layers"] = num_layers;
  j["num_heads"] = num_heads;
  j["intermediate_size"] = intermediate_size;
  j["rotary_dim"] = rotary_dim;
  j["rope_theta"] = rope_theta;
  j["layer_norm_eps"] = layer_norm_eps;
  j["qk_layernorm"] = qk_layernorm;
  j["pad_id"] = pad_id;
  j["soi_id"] = soi_id;
  j["eoi_id"] = eoi_id;
  j["image_token_offset"] = image_token_offset;
  j["num_image_codes"] = num_image_codes;
  j["mask_id"] = mask_id;
  j["text_len"] = text_len;
  j["image_len"] = image_len;
  return j;
}

StatusOr<ModelConfig> ModelConfig::FromJson(const Json& json) {
  if (!json.is_object()) return InvalidArgument("model config: expected a JSON object");
  ModelConfig c;
  auto get_int = [&](const char* key, int64_t* out) -> Status {
    const Json* v = json.Find(key);
    if (!v || !v->is_number()) return InvalidArgument(std::string("model config: missing or non-numeric '") + key + "'");
    double d = v->as_number();
    if (d != std::floor(d)) return InvalidArgument(std::string("model config: '") + key + "' must be an integer");
    *out = static_cast<int64_t>(d);
    return Status::Ok();
  };
  auto get_double = [&](const char* key, double* out) -> Status {
    const Json* v = json.Find(key);
    if (!v || !v->is_number()) return InvalidArgument(std::string("model config: missing or non-numeric '") + key + "'");
    *out = v->as_number();
    return Status::Ok();
  };
  RETURN_IF_ERROR(get_int("vocab_size", &c.vocab_size));
  RETURN_IF_ERROR(get_int("hidden_size", &c.hidden_size));
  RETURN_IF_ERROR(get_int("num_layers", &c.num_layers));
  RETURN_IF_ERROR(get_int("num_heads", &c.num_heads));
  RETURN_IF_ERROR(get_int("intermediate_size", &c.intermediate_size));
  RETURN_IF_ERROR(get_int("rotary_dim", &c.rotary_dim));
  RETURN_IF_ERROR(get_double("rope_theta", &c.rope_theta));
  RETURN_IF_ERROR(get_double("layer_norm_eps", &c.layer_norm_eps));
  // Optional: files written before the field existed have no qk_layernorm.
  if (const Json* v = json.Find("qk_layernorm")) {
    if (!v->is_bool()) return InvalidArgument("model config: 'qk_layernorm' must be true or false");
    c.qk_layernorm = v->as_bool();
  }
  RETURN_IF_ERROR(get_int("pad_id", &c.pad_id));
  RETURN_IF_ERROR(get_int("soi_id", &c.soi_id));
  RETURN_IF_ERROR(get_int("eoi_id", &c.eoi_id));
  RETURN_IF_ERROR(get_int("image_token_offset", &c.image_token_offset));
  RETURN_IF_ERROR(get_int("num_image_codes", &c.num_image_codes));
  RETURN_IF_ERROR(get_int("mask_id", &c.mask_id));
  RETURN_IF_ERROR(get_int("text_len", &c.text_len));
  RETURN_IF_ERROR(get_int("image_len", &c.image_len));
  RETURN_IF_ERROR(c.Validate());
  return c;
}

ModelConfig ModelConfig::ShowO512() {
  ModelConfig c;
  c.hidden_size = 2048;
  c.num_layers = 24;
  c.num_heads = 32;
  c.intermediate_size = 8192;
  c.rotary_dim = 32;
  c.qk_layernorm = true;
  c.num_image_codes = 8192;
  c.image_token_offset = 50305;
  c.mask_id = 50305 + 8192;
  c.vocab_size = c.mask_id + 1;  // 58,498 ids; the mask token is id 58,497
  c.pad_id = 50295;
  c.soi_id = 50296;
  c.eoi_id = 50297;
  c.text_len = 129;  // max_seq_length 128 + 1: [PAD]*, <|t2i|>, BOS, text, EOS
  c.image_len = 1024;
  return c;
}

}  // namespace maskgrpo
