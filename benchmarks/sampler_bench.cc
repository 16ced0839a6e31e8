#include "benchmarks/sampler_bench.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>

#include "core/model_io.h"
#include "core/runtime.h"
#include "core/sampler.h"
#include "core/shapeworld/text_tokenizer.h"
#include "core/showo/magvit.h"

namespace maskgrpo {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void Sync(const at::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

// Forward FLOPs of ImageLogits for a batch of B sequences (multiply-add = 2 FLOPs).
double ForwardFlops(const ModelConfig& c, int64_t B) {
  const double d = c.hidden_size, m = c.intermediate_size, S = c.seq_len(), L = c.num_layers;
  const double per_token_layer = 2.0 * (4 * d * d + 2 * d * m) + 2.0 * 2.0 * S * d;  // projections + attention
  return B * (S * L * per_token_layer + c.image_len * 2.0 * d * c.num_image_codes);
}

}  // namespace

// Show-o's image detokenizer at the published size (random weights): decoded images/s.
Status RunDecoderBench(const SamplerBenchOptions& o, int64_t side_tokens) {
  if (o.batch <= 0 || o.repeats <= 0) return InvalidArgument("bench: batch and repeats must be > 0");
  const showo::MagvitDecoderConfig config;  // the published decoder
  ASSIGN_OR_RETURN(auto decoder,
                   showo::MagvitDecoder::Create(showo::RandomMagvitDecoderState(config, 1), config, o.device));
  auto codes = torch::randint(0, int64_t{1} << config.z_channels, {o.batch, side_tokens * side_tokens}, torch::kLong);
  std::printf("MAGVIT-v2 decoder (%lld parameters), device %s, dtype %s, threads %d, %lldx%lld codes -> %lld px\n",
              static_cast<long long>(decoder->NumParameters()), o.device.device.c_str(), o.device.dtype.c_str(),
              torch::get_num_threads(), static_cast<long long>(side_tokens), static_cast<long long>(side_tokens),
              static_cast<long long>(side_tokens * config.UpsampleFactor()));
  RETURN_IF_ERROR(decoder->DecodeToUint8(codes).status());  // warm-up
  const double t0 = Now();
  for (int i = 0; i < o.repeats; ++i) RETURN_IF_ERROR(decoder->DecodeToUint8(codes).status());
  const double seconds = (Now() - t0) / o.repeats;
  std::printf("%-34s %12.3f\n", "decoder images/s", o.batch / seconds);
  std::printf("%-34s %12.3f\n", "seconds per batch", seconds);
  std::printf("(batch %d images, %d repeats, uint8 output on the CPU included)\n", o.batch, o.repeats);
  return Status::Ok();
}

Status RunSamplerBench(const SamplerBenchOptions& o) {
  ConfigureThreads(o.threads);
  if (o.model == "magvit512") return RunDecoderBench(o, 32);
  if (o.model == "magvit256") return RunDecoderBench(o, 16);
  std::unique_ptr<MaskedTransformer> model;
  if (!o.checkpoint.empty()) {
    ASSIGN_OR_RETURN(model, LoadModel(o.checkpoint, o.device));
  } else {
    ModelConfig config;
    if (o.model == "shapeworld") {
      config = shapeworld::ShapeWorldModelConfig(128, 4, 4, 512, 16);
    } else if (o.model == "showo512") {
      config = ModelConfig::ShowO512();
    } else {
      return InvalidArgument("bench: --model must be shapeworld, showo512, magvit512 or magvit256");
    }
    ASSIGN_OR_RETURN(model, MaskedTransformer::Create(config, o.device, 1));
  }
  if (o.batch <= 0 || o.steps <= 0 || o.repeats <= 0) return InvalidArgument("bench: batch, steps and repeats must be > 0");
  const auto& c = model->config();
  const auto dev = model->device();
  try {
    torch::NoGradGuard no_grad;
    std::printf("device %s, dtype %s, threads %d, model %lld parameters (hidden %lld, layers %lld, seq %lld)\n",
                dev.str().c_str(), c10::toString(model->dtype()), torch::get_num_threads(),
                static_cast<long long>(model->NumParameters()), static_cast<long long>(c.hidden_size),
                static_cast<long long>(c.num_layers), static_cast<long long>(c.seq_len()));

    // 1. Plain matmul: this machine's practical limit for the same dtype.
    const int64_t n = 1024;
    auto a = torch::randn({n, n}, torch::TensorOptions().device(dev).dtype(model->dtype()));
    auto b = torch::randn({n, n}, a.options());
    torch::matmul(a, b);
    Sync(dev);
    double t0 = Now();
    const int mm_reps = 20;
    for (int i = 0; i < mm_reps; ++i) torch::matmul(a, b);
    Sync(dev);
    const double mm_gflops = mm_reps * 2.0 * n * n * n / (Now() - t0) / 1e9;

    // 2. Transformer forward at the sampler's batch (doubled by the CFG twin).
    const int64_t B = o.batch * (o.guidance != 0.0 ? 2 : 1);
    auto ids = torch::randint(0, c.image_token_offset, {B, c.seq_len()}, torch::TensorOptions().dtype(torch::kLong).device(dev));
    auto valid = torch::ones({B, c.text_len}, torch::TensorOptions().dtype(torch::kBool).device(dev));
    model->ImageLogits(ids, valid);
    Sync(dev);
    t0 = Now();
    for (int i = 0; i < o.repeats; ++i) model->ImageLogits(ids, valid);
    Sync(dev);
    const double fwd_s = (Now() - t0) / o.repeats;
    const double fwd_gflops = ForwardFlops(c, B) / fwd_s / 1e9;

    // 3. The sampler end to end.
    auto text = torch::full({o.batch, c.text_len}, c.pad_id, torch::kLong);
    text.select(1, 0).fill_(1);
    PromptBatch prompts{text, text != c.pad_id};
    PromptBatch uncond{text.slice(0, 0, 1), text.slice(0, 0, 1) != c.pad_id};
    SampleOptions so;
    so.steps = o.steps;
    so.guidance = o.guidance;
    so.record_full = false;
    RETURN_IF_ERROR(SampleTrajectories(*model, prompts, uncond, so).status());  // warm-up
    Sync(dev);
    t0 = Now();
    for (int i = 0; i < o.repeats; ++i) {
      so.seed = i;
      RETURN_IF_ERROR(SampleTrajectories(*model, prompts, uncond, so).status());
    }
    Sync(dev);
    const double sample_s = (Now() - t0) / o.repeats;

    std::printf("%-34s %12s\n", "measure", "value");
    std::printf("%-34s %12.1f\n", "matmul 1024^2 GFLOP/s", mm_gflops);
    std::printf("%-34s %12.1f\n", "transformer forward GFLOP/s", fwd_gflops);
    std::printf("%-34s %11.1f%%\n", "forward / matmul", 100.0 * fwd_gflops / mm_gflops);
    std::printf("%-34s %12.4f\n", "forward seconds (batch incl. CFG)", fwd_s);
    std::printf("%-34s %12.2f\n", "sampler images/s", o.batch / sample_s);
    std::printf("%-34s %12.3f\n", "sampler seconds per batch", sample_s);
    std::printf("(batch %d images, %d steps, guidance %.1f, %d repeats)\n", o.batch, o.steps, o.guidance, o.repeats);
    return Status::Ok();
  } catch (const c10::Error& e) {
    return Internal(std::string("bench failed: ") + e.what_without_backtrace());
  }
}

}  // namespace maskgrpo
