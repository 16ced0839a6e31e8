#include "core/showo/magvit.h"
#include "core/float_sum_ops.h"
#include "core/tensor_text.h"

#include "core/torch_api.h"

#include <cmath>
#include <functional>
#include <optional>
#include <set>

namespace maskgrpo::showo {
namespace {

constexpr int64_t kGroups = 32;     // Normalize() = GroupNorm(32, C, eps=1e-6)
constexpr double kNormEps = 1e-6;
constexpr int64_t kMaxBits = 30;    // codes are int64 but the codebook has 2^bits rows


// ---- The architecture, described once ----
// BuildLayers walks the decoder in execution order and asks a Binder for each parameter by
// its published name and shape. One Binder records the expected layout, another hands out
// the loaded tensors: the name list and the forward pass cannot drift apart.
using Binder = std::function<at::Tensor(const std::string& name, std::vector<int64_t> shape, bool is_norm)>;

struct Conv {
  at::Tensor w, b;
  int64_t pad = 0;
};
struct Norm {
  at::Tensor w, b;  // always float32: the statistics are computed in float32
};
struct ResBlock {
  Norm norm1, norm2;
  Conv conv1, conv2;
  std::optional<Conv> nin_shortcut;
};
struct Attn {
  Norm norm;
  Conv q, k, v, proj_out;
};
struct Level {
  std::vector<ResBlock> blocks;
  std::optional<Conv> upsample;  // nearest x2, then this 3x3 conv
};
struct Layers {
  Conv post_quant_conv, conv_in;
  ResBlock mid_block_1, mid_block_2;
  Attn mid_attn_1;
  std::vector<Level> up;  // indexed by level; run from the last level to level 0
  Norm norm_out;
  Conv conv_out;
};

Conv BindConv(const Binder& bind, const std::string& p, int64_t cin, int64_t cout, int64_t k) {
  return {bind(p + ".weight", {cout, cin, k, k}, false), bind(p + ".bias", {cout}, false), k / 2};
}
Norm BindNorm(const Binder& bind, const std::string& p, int64_t c) {
  return {bind(p + ".weight", {c}, true), bind(p + ".bias", {c}, true)};
}
ResBlock BindResBlock(const Binder& bind, const std::string& p, int64_t cin, int64_t cout) {
  ResBlock r;
  r.norm1 = BindNorm(bind, p + ".norm1", cin);
  r.conv1 = BindConv(bind, p + ".conv1", cin, cout, 3);
  r.norm2 = BindNorm(bind, p + ".norm2", cout);
  r.conv2 = BindConv(bind, p + ".conv2", cout, cout, 3);
  if (cin != cout) r.nin_shortcut = BindConv(bind, p + ".nin_shortcut", cin, cout, 1);
  return r;
}
Attn BindAttn(const Binder& bind, const std::string& p, int64_t c) {
  return {BindNorm(bind, p + ".norm", c), BindConv(bind, p + ".q", c, c, 1), BindConv(bind, p + ".k", c, c, 1),
          BindConv(bind, p + ".v", c, c, 1), BindConv(bind, p + ".proj_out", c, c, 1)};
}

// VQGANDecoder.__init__: block_in starts at ch*ch_mult[-1]; level i has num_res_blocks[i]
// blocks whose output is ch*ch_mult[i]; every level but 0 ends with an upsample.
Layers BuildLayers(const MagvitDecoderConfig& c, const Binder& bind) {
  Layers L;
  const int64_t levels = static_cast<int64_t>(c.ch_mult.size());
  int64_t block_in = c.ch * c.ch_mult.back();
  L.post_quant_conv = BindConv(bind, "decoder.post_quant_conv", c.z_channels, c.z_channels, 1);
  L.conv_in = BindConv(bind, "decoder.conv_in", c.z_channels, block_in, 3);
  L.mid_block_1 = BindResBlock(bind, "decoder.mid.block_1", block_in, block_in);
  L.mid_attn_1 = BindAttn(bind, "decoder.mid.attn_1", block_in);
  L.mid_block_2 = BindResBlock(bind, "decoder.mid.block_2", block_in, block_in);
  L.up.resize(levels);
  for (int64_t level = levels - 1; level >= 0; --level) {
    const std::string p = "decoder.up." + std::to_string(level);
    const int64_t block_out = c.ch * c.ch_mult[level];
    for (int64_t i = 0; i < c.num_res_blocks[level]; ++i) {
      L.up[level].blocks.push_back(BindResBlock(bind, p + ".block." + std::to_string(i), block_in, block_out));
      block_in = block_out;
    }
    if (level != 0) L.up[level].upsample = BindConv(bind, p + ".upsample.conv", block_in, block_in, 3);
  }
  L.norm_out = BindNorm(bind, "decoder.norm_out", block_in);
  L.conv_out = BindConv(bind, "decoder.conv_out", block_in, c.out_channels, 3);
  return L;
}

struct ParamSpec {
  std::string name;
  std::vector<int64_t> shape;
  bool is_norm;
};

std::vector<ParamSpec> Layout(const MagvitDecoderConfig& c) {
  std::vector<ParamSpec> specs;
  BuildLayers(c, [&](const std::string& name, std::vector<int64_t> shape, bool is_norm) {
    specs.push_back({name, std::move(shape), is_norm});
    return at::Tensor();
  });
  return specs;
}

bool StartsWith(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// ---- Forward ----
// Float32 sums for bfloat16 on the CPU (core/float_sum_ops.h): LibTorch's own bfloat16
// convolution there made the test decoder's output 14 % off (relative L2), 2 % with this.
at::Tensor ApplyConv(const at::Tensor& x, const Conv& c) { return Conv2dFloatSum(x, c.w, c.b, 1, c.pad); }

at::Tensor ApplyNorm(const at::Tensor& x, const Norm& n) {
  // float32 statistics: a bfloat16 mean/variance over 128x512x512 values loses most digits.
  return at::group_norm(x.to(at::kFloat), kGroups, n.w, n.b, kNormEps).to(x.scalar_type());
}

at::Tensor NormSwish(const at::Tensor& x, const Norm& n) { return at::silu(ApplyNorm(x, n)); }

at::Tensor ApplyResBlock(const at::Tensor& x, const ResBlock& r) {
  auto h = ApplyConv(NormSwish(x, r.norm1), r.conv1);
  h = ApplyConv(NormSwish(h, r.norm2), r.conv2);  // dropout is 0 at inference
  return (r.nin_shortcut ? ApplyConv(x, *r.nin_shortcut) : x) + h;
}

// Single-head attention over the h*w positions, scale C^-0.5, softmax over keys.
at::Tensor ApplyAttn(const at::Tensor& x, const Attn& a) {
  auto h = ApplyNorm(x, a.norm);
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  auto q = ApplyConv(h, a.q).reshape({B, C, H * W}).to(at::kFloat);
  auto k = ApplyConv(h, a.k).reshape({B, C, H * W}).to(at::kFloat);
  auto v = ApplyConv(h, a.v).reshape({B, C, H * W}).to(at::kFloat);
  // In float32 throughout (one block at the lowest resolution, so cheap): a bfloat16 sum over
  // H*W keys on the CPU is as coarse as its convolutions (core/float_sum_ops.h).
  auto scores = at::bmm(q.transpose(1, 2), k) * (1.0 / std::sqrt(static_cast<double>(C)));  // [B, q, k]
  auto probs = at::softmax(scores, -1);
  auto out = at::bmm(v, probs.transpose(1, 2)).reshape({B, C, H, W}).to(x.scalar_type());  // out[c, i] = sum_j v[c, j] p[i, j]
  return x + ApplyConv(out, a.proj_out);
}

at::Tensor Forward(const Layers& L, const at::Tensor& z) {
  auto h = ApplyConv(ApplyConv(z, L.post_quant_conv), L.conv_in);
  h = ApplyResBlock(h, L.mid_block_1);
  h = ApplyAttn(h, L.mid_attn_1);
  h = ApplyResBlock(h, L.mid_block_2);
  for (int64_t level = static_cast<int64_t>(L.up.size()) - 1; level >= 0; --level) {
    for (const auto& block : L.up[level].blocks) h = ApplyResBlock(h, block);
    if (L.up[level].upsample) {
      h = at::upsample_nearest2d(h, {2 * h.size(2), 2 * h.size(3)});
      h = ApplyConv(h, *L.up[level].upsample);
    }
  }
  return ApplyConv(NormSwish(h, L.norm_out), L.conv_out);
}

// ---- Loading ----
StatusOr<at::ScalarType> ParseDecoderDtype(const std::string& dtype) {
  if (dtype == "float32" || dtype == "fp32") return at::kFloat;
  if (dtype == "bfloat16" || dtype == "bf16") return at::kBFloat16;
  return InvalidArgument("MAGVIT decoder dtype must be float32 or bfloat16, got '" + dtype + "'");
}

// The LFQ buffers carry no information (they are a fixed function of the bit count), but a
// mismatch means the checkpoint is not the quantizer this code assumes.
void CheckQuantizer(const TensorFile& file, int64_t bits, std::vector<std::string>& problems) {
  for (const auto& [name, t] : file.tensors) {
    if (!StartsWith(name, "quantize.")) continue;
    if (name == "quantize.embedding") {
      auto expected = LfqCodebook(bits);
      if (t.sizes() != expected.sizes()) {
        problems.push_back("tensor 'quantize.embedding' has shape " + ShapeText(t.sizes()) + ", expected " +
                           ShapeText(expected.sizes()) + " (2^z_channels x z_channels)");
      } else if (!at::isFloatingType(t.scalar_type()) || !at::equal(t.to(at::kCPU, at::kFloat), expected)) {
        problems.push_back("tensor 'quantize.embedding' differs from the LFQ codebook 2*bit-1 (MSB first)");
      }
    } else if (name == "quantize.power_vals") {
      auto expected = at::pow(2, at::arange(bits - 1, -1, -1, at::kLong));
      if (t.sizes() != expected.sizes()) {
        problems.push_back("tensor 'quantize.power_vals' has shape " + ShapeText(t.sizes()) + ", expected " +
                           ShapeText(expected.sizes()));
      } else if (!at::equal(t.to(at::kCPU, at::kLong), expected)) {
        problems.push_back("tensor 'quantize.power_vals' is not 2^(" + std::to_string(bits - 1) + "..0)");
      }
    } else {
      problems.push_back("unexpected tensor '" + name + "' (LFQuantizer has only embedding and power_vals)");
    }
  }
}

std::vector<std::string> CheckCheckpoint(const TensorFile& file, const MagvitDecoderConfig& config,
                                         const std::vector<ParamSpec>& specs) {
  std::vector<std::string> problems;
  std::set<std::string> expected;
  for (const auto& spec : specs) {
    expected.insert(spec.name);
    auto it = file.tensors.find(spec.name);
    if (it == file.tensors.end()) {
      problems.push_back("missing tensor '" + spec.name + "' " + ShapeText(spec.shape));
      continue;
    }
    const at::Tensor& t = it->second;
    if (!t.defined()) {
      problems.push_back("tensor '" + spec.name + "' is undefined");
    } else if (t.sizes() != at::IntArrayRef(spec.shape)) {
      problems.push_back("tensor '" + spec.name + "' has shape " + ShapeText(t.sizes()) + ", expected " + ShapeText(spec.shape));
    } else if (!at::isFloatingType(t.scalar_type())) {
      problems.push_back("tensor '" + spec.name + "' has non-floating dtype " + std::string(c10::toString(t.scalar_type())));
    } else if (!at::isfinite(t).all().item<bool>()) {
      problems.push_back("tensor '" + spec.name + "' has NaN or Inf values");
    }
  }
  for (const auto& [name, t] : file.tensors) {
    if (StartsWith(name, "decoder.")) {
      if (!expected.count(name)) problems.push_back("unexpected tensor '" + name + "' (not part of this decoder config)");
    } else if (!StartsWith(name, "quantize.") && !StartsWith(name, "encoder.") && !StartsWith(name, "quant_conv.")) {
      problems.push_back("unexpected tensor '" + name +
                         "' (a MAGVIT-v2 checkpoint has only encoder.*, quant_conv.*, decoder.* and quantize.*)");
    }
  }
  CheckQuantizer(file, config.z_channels, problems);
  return problems;
}

std::string JoinProblems(const std::vector<std::string>& problems) {
  std::string out = "MAGVIT decoder checkpoint has " + std::to_string(problems.size()) + " problem(s): ";
  for (size_t i = 0; i < problems.size(); ++i) out += (i ? "; " : "") + problems[i];
  return out;
}

}  // namespace

// ---- Config ----
Status MagvitDecoderConfig::Validate() const {
  if (ch_mult.empty()) return InvalidArgument("MAGVIT decoder config: ch_mult is empty");
  if (ch_mult.size() != num_res_blocks.size()) {
    return InvalidArgument("MAGVIT decoder config: ch_mult has " + std::to_string(ch_mult.size()) +
                           " levels but num_res_blocks has " + std::to_string(num_res_blocks.size()));
  }
  if (ch_mult.size() > 10) return InvalidArgument("MAGVIT decoder config: more than 10 levels");
  if (ch <= 0) return InvalidArgument("MAGVIT decoder config: ch must be positive, got " + std::to_string(ch));
  for (size_t i = 0; i < ch_mult.size(); ++i) {
    if (ch_mult[i] <= 0) return InvalidArgument("MAGVIT decoder config: ch_mult[" + std::to_string(i) + "] must be positive");
    if ((ch * ch_mult[i]) % kGroups != 0) {
      return InvalidArgument("MAGVIT decoder config: level " + std::to_string(i) + " has " + std::to_string(ch * ch_mult[i]) +
                             " channels, not a multiple of 32 (GroupNorm uses 32 groups)");
    }
    if (num_res_blocks[i] < 0) {
      return InvalidArgument("MAGVIT decoder config: num_res_blocks[" + std::to_string(i) + "] is negative");
    }
  }
  if (z_channels < 1 || z_channels > kMaxBits) {
    return InvalidArgument("MAGVIT decoder config: z_channels (the LFQ bit count) must be in [1, 30], got " +
                           std::to_string(z_channels));
  }
  if (out_channels <= 0) return InvalidArgument("MAGVIT decoder config: out_channels must be positive");
  return Status::Ok();
}

// ---- LFQ ----
at::Tensor LfqCodebook(int64_t bits) {
  auto codes = at::arange(int64_t{1} << bits, at::kLong).unsqueeze(1);
  auto shifts = at::arange(bits - 1, -1, -1, at::kLong);
  return at::bitwise_and(at::bitwise_right_shift(codes, shifts), 1).to(at::kFloat) * 2 - 1;
}

StatusOr<at::Tensor> LfqCodesToLatent(const at::Tensor& codes, int64_t bits) {
  if (bits < 1 || bits > kMaxBits) return InvalidArgument("LFQ bits must be in [1, 30], got " + std::to_string(bits));
  if (!codes.defined()) return InvalidArgument("LFQ codes: tensor is undefined");
  if (codes.dim() != 2) return InvalidArgument("LFQ codes must be [B, N], got shape " + ShapeText(codes.sizes()));
  if (!at::isIntegralType(codes.scalar_type(), /*includeBool=*/false)) {
    return InvalidArgument("LFQ codes must be an integer tensor, got " + std::string(c10::toString(codes.scalar_type())));
  }
  const int64_t B = codes.size(0), N = codes.size(1);
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(N))));
  if (B == 0 || N == 0 || side * side != N) {
    return InvalidArgument("LFQ codes must be [B, h*w] with B > 0 and a square, non-empty grid; got shape " +
                           ShapeText(codes.sizes()));
  }
  try {
    auto c = codes.to(at::kLong);
    const int64_t lo = c.min().item<int64_t>(), hi = c.max().item<int64_t>();
    if (lo < 0 || hi >= (int64_t{1} << bits)) {
      return InvalidArgument("LFQ codes must lie in [0, " + std::to_string(int64_t{1} << bits) + "), got values in [" +
                             std::to_string(lo) + ", " + std::to_string(hi) + "]");
    }
    auto shifts = at::arange(bits - 1, -1, -1, c.options());  // channel 0 = MSB
    auto bit = at::bitwise_and(at::bitwise_right_shift(c.unsqueeze(-1), shifts), 1);  // [B, N, bits]
    return (bit.to(at::kFloat) * 2 - 1).view({B, side, side, bits}).permute({0, 3, 1, 2}).contiguous();
  } catch (const c10::Error& e) {
    return Internal(std::string("LFQ codes to latent failed: ") + e.what_without_backtrace());
  }
}

StatusOr<at::Tensor> LatentToLfqCodes(const at::Tensor& latent) {
  if (!latent.defined() || latent.dim() != 4) {
    return InvalidArgument("LFQ latent must be [B, bits, h, w], got shape " +
                           DescribeTensor(latent));
  }
  const int64_t B = latent.size(0), bits = latent.size(1);
  if (bits < 1 || bits > kMaxBits) return InvalidArgument("LFQ latent has " + std::to_string(bits) + " channels, expected 1..30");
  try {
    auto power = at::pow(2, at::arange(bits - 1, -1, -1, latent.options().dtype(at::kLong)));
    auto set = (latent > 0).to(at::kLong).permute({0, 2, 3, 1});  // [B, h, w, bits]
    return (set * power).sum(-1).reshape({B, -1});
  } catch (const c10::Error& e) {
    return Internal(std::string("LFQ latent to codes failed: ") + e.what_without_backtrace());
  }
}

StatusOr<at::Tensor> DecoderOutputToUint8(const at::Tensor& x) {
  if (!x.defined() || x.dim() != 4) return InvalidArgument("decoder output must be [B, C, H, W]");
  try {
    torch::NoGradGuard no_grad;
    // Same float32 operations and order as Show-o; the uint8 cast truncates like astype.
    auto img = at::clamp((x.to(at::kFloat) + 1.0) / 2.0, 0.0, 1.0) * 255.0;
    return img.permute({0, 2, 3, 1}).to(at::kCPU).to(at::kByte).contiguous();
  } catch (const c10::Error& e) {
    return Internal(std::string("converting the decoder output to uint8 failed: ") + e.what_without_backtrace());
  }
}

std::vector<std::pair<std::string, std::vector<int64_t>>> MagvitDecoderParameterShapes(const MagvitDecoderConfig& config) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (auto& spec : Layout(config)) out.emplace_back(std::move(spec.name), std::move(spec.shape));
  return out;
}

TensorFile RandomMagvitDecoderState(const MagvitDecoderConfig& config, uint64_t seed) {
  TensorFile file;
  auto gen = at::detail::createCPUGenerator(seed);
  torch::NoGradGuard no_grad;
  for (const auto& spec : Layout(config)) {
    at::Tensor t;
    const bool is_weight = spec.name.size() > 7 && spec.name.compare(spec.name.size() - 7, 7, ".weight") == 0;
    if (spec.is_norm) {
      t = is_weight ? at::ones(spec.shape, at::kFloat) : at::zeros(spec.shape, at::kFloat);
    } else if (is_weight) {
      const int64_t fan_in = spec.shape[1] * spec.shape[2] * spec.shape[3];
      t = at::normal(0.0, 1.0 / std::sqrt(static_cast<double>(fan_in)), spec.shape, gen);
    } else {
      t = at::zeros(spec.shape, at::kFloat);
    }
    file.tensors[spec.name] = t;
  }
  file.tensors["quantize.embedding"] = LfqCodebook(config.z_channels);
  file.tensors["quantize.power_vals"] = at::pow(2, at::arange(config.z_channels - 1, -1, -1, at::kLong));
  return file;
}

// ---- MagvitDecoder ----
struct MagvitDecoder::Impl {
  Layers layers;
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
  int64_t num_parameters = 0;
};

MagvitDecoder::MagvitDecoder(MagvitDecoderConfig config, std::unique_ptr<Impl> impl)
    : config_(std::move(config)), impl_(std::move(impl)) {}
MagvitDecoder::~MagvitDecoder() = default;

StatusOr<std::unique_ptr<MagvitDecoder>> MagvitDecoder::Create(const TensorFile& checkpoint,
                                                               const MagvitDecoderConfig& config,
                                                               const DeviceOptions& options) {
  RETURN_IF_ERROR(config.Validate());
  ASSIGN_OR_RETURN(at::Device device, ParseDevice(options.device));
  ASSIGN_OR_RETURN(at::ScalarType dtype, ParseDecoderDtype(options.dtype));
  try {
    torch::NoGradGuard no_grad;
    const auto problems = CheckCheckpoint(checkpoint, config, Layout(config));
    if (!problems.empty()) return InvalidArgument(JoinProblems(problems));
    auto impl = std::make_unique<Impl>();
    impl->device = device;
    impl->dtype = dtype;
    // Always a copy: the decoder owns its weights whatever the caller does with the map.
    impl->layers = BuildLayers(config, [&](const std::string& name, std::vector<int64_t>, bool is_norm) {
      const at::Tensor& t = checkpoint.tensors.at(name);
      impl->num_parameters += t.numel();
      return t.to(device, is_norm ? at::kFloat : dtype, /*non_blocking=*/false, /*copy=*/true).contiguous();
    });
    return std::unique_ptr<MagvitDecoder>(new MagvitDecoder(config, std::move(impl)));
  } catch (const c10::Error& e) {
    return Internal(std::string("building the MAGVIT decoder failed: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Internal(std::string("building the MAGVIT decoder failed: ") + e.what());
  }
}

StatusOr<at::Tensor> MagvitDecoder::DecodeLatent(const at::Tensor& latent) const {
  if (!latent.defined() || latent.dim() != 4 || latent.size(1) != config_.z_channels || latent.size(0) == 0) {
    return InvalidArgument("MAGVIT latent must be [B > 0, " + std::to_string(config_.z_channels) + ", h, w], got " +
                           DescribeTensor(latent));
  }
  if (!at::isFloatingType(latent.scalar_type())) return InvalidArgument("MAGVIT latent must be a floating tensor");
  try {
    // NoGradGuard rather than InferenceMode: inference tensors would make later in-place
    // edits or autograd use of the images fail outside InferenceMode, for no measurable gain.
    torch::NoGradGuard no_grad;
    return Forward(impl_->layers, latent.to(impl_->device, impl_->dtype)).to(at::kFloat);
  } catch (const c10::Error& e) {
    return Internal(std::string("MAGVIT decode failed: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {  // e.g. std::bad_alloc for a huge batch
    return Internal(std::string("MAGVIT decode failed: ") + e.what());
  }
}

StatusOr<at::Tensor> MagvitDecoder::Decode(const at::Tensor& codes) const {
  ASSIGN_OR_RETURN(at::Tensor latent, LfqCodesToLatent(codes, config_.z_channels));
  return DecodeLatent(latent);
}

StatusOr<at::Tensor> MagvitDecoder::DecodeToUint8(const at::Tensor& codes) const {
  ASSIGN_OR_RETURN(at::Tensor out, Decode(codes));
  return DecoderOutputToUint8(out);
}

int64_t MagvitDecoder::NumParameters() const { return impl_->num_parameters; }
at::Device MagvitDecoder::device() const { return impl_->device; }
at::ScalarType MagvitDecoder::dtype() const { return impl_->dtype; }

StatusOr<std::unique_ptr<MagvitDecoder>> LoadMagvitDecoder(const std::string& path, const MagvitDecoderConfig& config,
                                                           const DeviceOptions& device) {
  auto file = ReadSafetensors(path);
  if (!file.ok()) return Status(file.status().code(), "reading MAGVIT checkpoint '" + path + "': " + file.status().message());
  auto decoder = MagvitDecoder::Create(*file, config, device);
  if (!decoder.ok()) return Status(decoder.status().code(), "'" + path + "': " + decoder.status().message());
  return decoder;
}

}  // namespace maskgrpo::showo
