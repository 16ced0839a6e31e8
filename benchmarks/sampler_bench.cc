#include "benchmarks/sampler_bench.h"

#include "core/torch_api.h"

#include <chrono>
#include <cstdio>
#include <functional>
#include <limits>
#include <numeric>
#include <utility>

#include "core/grpo/learner.h"
#include "core/grpo/npy.h"
#include "core/model_io.h"
#include "core/runtime.h"
#include "core/sampler.h"
#include "core/schedule.h"
#include "core/transition.h"
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

// Forward FLOPs (multiply-add = 2 FLOPs) of B sequences, split the way the model computes them:
// the prompt rows (causal attention over text_len keys; the last layer computes only their
// keys and values) and the image-span rows (attention over text_len + span keys), plus the
// image-code rows of the head.
double PromptFlops(const ModelConfig& c, int64_t B) {
  const double d = c.hidden_size, m = c.intermediate_size, L = c.text_len, layers = c.num_layers;
  const double full_layer = 2.0 * (4 * d * d + 2 * d * m) + 2.0 * 2.0 * L * d;
  return B * L * ((layers - 1) * full_layer + 2.0 * 2 * d * d);
}
double SpanFlops(const ModelConfig& c, int64_t B) {
  const double d = c.hidden_size, m = c.intermediate_size, L = c.text_len, Sp = c.image_len + 2;
  const double per_row_layer = 2.0 * (4 * d * d + 2 * d * m) + 2.0 * 2.0 * (L + Sp) * d;
  return B * (Sp * c.num_layers * per_row_layer + c.image_len * 2.0 * d * c.num_image_codes);
}

// The loop a user of the Mask-GRPO authors' scripts runs: one image at a time, every step a
// full-sequence forward of the prompt and its CFG twin together (full attention mask, logits
// over the whole vocabulary, then the image-code slice), the same schedule and noise.
// Returns the image's codes [N]. benchmarks/authors_loop.py is the same loop in Python.
at::Tensor AuthorsStyleSample(const MaskedTransformer& model, const at::Tensor& text_row,
                              const at::Tensor& uncond_row, int64_t steps, double guidance, at::Generator& gen) {
  const auto& c = model.config();
  const int64_t N = c.image_len;
  auto dev = model.device();
  const bool cfg = guidance != 0.0;
  auto text = cfg ? torch::cat({text_row, uncond_row}, 0) : text_row;  // [1 or 2, L]
  auto valid = text != c.pad_id;
  auto codes = torch::full({1, N}, -1, torch::TensorOptions().dtype(torch::kLong).device(dev));
  int64_t masked_before = N;
  for (int64_t t = 0; t < steps; ++t) {
    auto image = torch::where(codes < 0, torch::full({}, c.mask_id, codes.options()), codes + c.image_token_offset);
    auto span = torch::cat({torch::full({1, 1}, c.soi_id, codes.options()), image, torch::full({1, 1}, c.eoi_id, codes.options())}, 1);
    auto ids = torch::cat({text, span.expand({text.size(0), span.size(1)})}, 1);
    auto logits = model.AllLogits(ids, valid)
                      .slice(1, c.image_begin(), c.image_begin() + N)
                      .slice(2, c.image_token_offset, c.image_token_offset + c.num_image_codes);
    if (cfg) logits = (1.0 + guidance) * logits.slice(0, 0, 1) - guidance * logits.slice(0, 1, 2);
    auto probs = torch::softmax(logits, -1)[0];  // [N, K]
    auto sampled = torch::multinomial(probs, 1, true, gen).squeeze(-1);
    auto logp_y = probs.gather(-1, sampled.unsqueeze(-1)).squeeze(-1).log();
    auto masked = codes[0] < 0;
    const int64_t keep = MaskedAfterStep(N, steps, t, masked_before);
    auto remaining = torch::zeros_like(masked);
    if (keep > 0) {
      auto u = torch::rand({N}, gen, logp_y.options()).clamp(1e-20, 1.0 - 1e-7);
      auto conf = torch::where(masked, logp_y - GumbelTemperature(1.0, steps, t) * torch::log(-torch::log(u)),
                               torch::full({}, std::numeric_limits<float>::infinity(), logp_y.options()));
      remaining.scatter_(0, std::get<1>(torch::topk(conf, keep, -1, false)), true);
    }
    codes[0] = torch::where(masked & remaining.logical_not(), sampled, codes[0]);
    masked_before = keep;
  }
  return codes[0];
}

// `batch` prompts of one token each (and the unconditional row for CFG): the benchmark times the
// model, not the tokenizer, so every row is the same shortest prompt.
struct BenchPrompts {
  PromptBatch prompts;
  PromptBatch uncond;
};
BenchPrompts OneTokenPrompts(const ModelConfig& c, int batch) {
  auto text = torch::full({batch, c.text_len}, c.pad_id, torch::kLong);
  text.select(1, 0).fill_(1);
  auto uncond = text.slice(0, 0, 1);
  return {PromptBatch{text, text != c.pad_id}, PromptBatch{uncond, uncond != c.pad_id}};
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
    } else if (o.model == "mid") {
      config = shapeworld::ShapeWorldModelConfig(512, 8, 8, 2048, 32);
    } else if (o.model == "showo512") {
      config = ModelConfig::ShowO512();
    } else {
      return InvalidArgument("bench: --model must be shapeworld, mid, showo512, magvit512 or magvit256");
    }
    ASSIGN_OR_RETURN(model, MaskedTransformer::Create(config, o.device, 1));
  }
  if (o.batch <= 0 || o.steps <= 0 || o.repeats <= 0) return InvalidArgument("bench: batch, steps and repeats must be > 0");
  for (int b : o.sweep) {
    if (b <= 0) return InvalidArgument("bench: --sweep batch sizes must be > 0");
  }
  const auto& c = model->config();
  const auto dev = model->device();
  try {
    std::printf("device %s, dtype %s, threads %d, model %lld parameters (hidden %lld, layers %lld, text %lld + span %lld)\n",
                dev.str().c_str(), c10::toString(model->dtype()), torch::get_num_threads(),
                static_cast<long long>(model->NumParameters()), static_cast<long long>(c.hidden_size),
                static_cast<long long>(c.num_layers), static_cast<long long>(c.text_len),
                static_cast<long long>(c.image_len + 2));
    std::printf("attention: %s\n", FusedAttentionAvailable() ? "fused (at::scaled_dot_product_attention)"
                                                              : "explicit, float32 scores (LibTorch < 2.0 has no fused kernel)");
    torch::NoGradGuard no_grad;
    auto timed = [&](int reps, const std::function<void()>& body) {
      body();  // warm-up
      Sync(dev);
      const double t0 = Now();
      for (int i = 0; i < reps; ++i) body();
      Sync(dev);
      return (Now() - t0) / reps;
    };

    // 1. Plain matmul: this machine's practical limit for the same dtype.
    const int64_t n = 1024;
    auto a = torch::randn({n, n}, torch::TensorOptions().device(dev).dtype(model->dtype()));
    auto b = torch::randn({n, n}, a.options());
    const double mm_gflops = 2.0 * n * n * n / timed(20, [&] { torch::matmul(a, b); }) / 1e9;

    // 2. Transformer forward at the sampler's batch (doubled by the CFG twin): the prompt and
    // the span together (what the first step costs), then the span alone (every later step).
    const int64_t B = o.batch * (o.guidance != 0.0 ? 2 : 1);
    auto ids = torch::randint(0, c.image_token_offset, {B, c.seq_len()}, torch::TensorOptions().dtype(torch::kLong).device(dev));
    auto valid = torch::ones({B, c.text_len}, torch::TensorOptions().dtype(torch::kBool).device(dev));
    const double fwd_s = timed(o.repeats, [&] { model->ImageLogits(ids, valid); });
    const double fwd_gflops = (PromptFlops(c, B) + SpanFlops(c, B)) / fwd_s / 1e9;
    auto context = model->EncodeText(ids.slice(1, 0, c.text_len), valid);
    auto span = ids.slice(1, c.text_len);
    const double span_s = timed(o.repeats, [&] { model->SpanImageLogits(context, span); });
    const double span_gflops = SpanFlops(c, B) / span_s / 1e9;

    // 3. The sampler end to end, with the prompt encoded once and re-encoded every step.
    // forward_prompts: prompts per transformer forward, 0 = the sampler's default for the device.
    auto sampler_options = [&](bool reuse, int forward_prompts) {
      SampleOptions so;
      so.steps = o.steps;
      so.guidance = o.guidance;
      so.record_full = false;
      so.reuse_prompt_context = reuse;
      so.max_forward_prompts = forward_prompts;
      return so;
    };
    auto sampler_seconds = [&](int batch, bool reuse, int forward_prompts) -> StatusOr<double> {
      const BenchPrompts rows = OneTokenPrompts(c, batch);
      SampleOptions so = sampler_options(reuse, forward_prompts);
      Status failed;
      const double s = timed(o.repeats, [&] {
        so.seed += 1;
        if (auto r = SampleTrajectories(*model, rows.prompts, rows.uncond, so); !r.ok()) failed = r.status();
      });
      if (!failed.ok()) return failed;
      return s;
    };
    // Two slicings of the same batch timed in alternation (a b a b ...) on the same seeds, so
    // that drift during the run (clock, a neighbour's load) falls on both alike: timed one
    // after the other, the second read 8 % faster with identical code.
    auto sampler_seconds_ab = [&](int batch, int prompts_a, int prompts_b) -> StatusOr<std::pair<double, double>> {
      const BenchPrompts rows = OneTokenPrompts(c, batch);
      SampleOptions a = sampler_options(true, prompts_a), b = sampler_options(true, prompts_b);
      double total[2] = {0, 0};
      for (int r = -1; r < o.repeats; ++r) {  // r = -1: the warm-up of both
        for (int which = 0; which < 2; ++which) {
          SampleOptions& so = which == 0 ? a : b;
          so.seed = static_cast<uint64_t>(r + 2);
          Sync(dev);
          const double t0 = Now();
          auto out = SampleTrajectories(*model, rows.prompts, rows.uncond, so);
          Sync(dev);
          if (!out.ok()) return out.status();
          if (r >= 0) total[which] += Now() - t0;
        }
      }
      return std::make_pair(total[0] / o.repeats, total[1] / o.repeats);
    };
    // The slice the sampler uses for `batch` prompts with these options, for the printout.
    auto forward_slice = [&](int batch) {
      SampleOptions slicing;
      slicing.max_forward_prompts = o.forward_prompts;
      return static_cast<long long>(SampleForwardPrompts(slicing, dev, batch));
    };
    ASSIGN_OR_RETURN(const double sample_s, sampler_seconds(o.batch, true, o.forward_prompts));
    ASSIGN_OR_RETURN(const double sample_noreuse_s, sampler_seconds(o.batch, false, o.forward_prompts));

    // 4. The authors'-style loop on the same weights and settings.
    auto text_row = torch::full({1, c.text_len}, c.pad_id, torch::TensorOptions().dtype(torch::kLong).device(dev));
    text_row.select(1, 0).fill_(1);
    auto uncond_row = torch::full_like(text_row, c.pad_id);
    uncond_row.select(1, 0).fill_(1);
    auto gen = at::globalContext().defaultGenerator(dev);
    if (!o.loop_codes.empty()) {
      // One image from a generator seeded as benchmarks/authors_loop.py --seed seeds its own,
      // so that the Python loop can be checked draw for draw (tests/authors_loop_test.sh).
      at::Generator seeded = dev.is_cpu() ? at::detail::createCPUGenerator(o.loop_seed) : gen;
      if (!dev.is_cpu()) seeded.set_current_seed(o.loop_seed);
      RETURN_IF_ERROR(grpo::WriteNpy(o.loop_codes, AuthorsStyleSample(*model, text_row, uncond_row, o.steps,
                                                                      o.guidance, seeded)));
      std::printf("wrote the authors'-style loop's first image (seed %llu) to %s\n",
                  static_cast<unsigned long long>(o.loop_seed), o.loop_codes.c_str());
    }
    const int loop_images = std::max(1, std::min(o.batch, 8));
    const double loop_s = timed(1, [&] {
      for (int i = 0; i < loop_images; ++i) AuthorsStyleSample(*model, text_row, uncond_row, o.steps, o.guidance, gen);
    }) / loop_images;

    std::printf("%-46s %12s\n", "measure", "value");
    std::printf("%-46s %12.1f\n", "matmul 1024^2 GFLOP/s", mm_gflops);
    std::printf("%-46s %12.1f\n", "forward GFLOP/s (prompt + span)", fwd_gflops);
    std::printf("%-46s %11.1f%%\n", "  / matmul", 100.0 * fwd_gflops / mm_gflops);
    std::printf("%-46s %12.1f\n", "forward GFLOP/s (span, prompt reused)", span_gflops);
    std::printf("%-46s %11.1f%%\n", "  / matmul", 100.0 * span_gflops / mm_gflops);
    std::printf("%-46s %12.4f\n", "forward seconds (batch incl. CFG, span only)", span_s);
    std::printf("%-46s %12.2f\n", "sampler images/s (prompt encoded once)", o.batch / sample_s);
    std::printf("%-46s %12.2f\n", "sampler images/s (prompt re-encoded per step)", o.batch / sample_noreuse_s);
    std::printf("%-46s %12.2f\n", "authors'-style loop images/s", 1.0 / loop_s);
    std::printf("%-46s %11.2fx\n", "sampler / authors'-style loop", loop_s * o.batch / sample_s);
    std::printf("(batch %d images in forwards of %lld prompts, %d steps, guidance %.1f, %d repeats; the loop: %d images "
                "one at a time)\n",
                o.batch, forward_slice(o.batch), o.steps, o.guidance, o.repeats, loop_images);

    // 5. The learner's replay: every step of `batch` trajectories, forward and backward, in
    // micro-batches of the learner's default size with gradients accumulated, as an update
    // runs it (one replay of all B x T rows at once needs ~5 MB per row here: batch 256 at
    // T = 16 ran this machine's 24 GB out of memory).
    {
      const int64_t micro = grpo::LearnerOptions().micro_batch;
      const BenchPrompts rows = OneTokenPrompts(c, o.batch);
      SampleOptions so;
      so.steps = o.steps;
      so.record_full = false;
      ASSIGN_OR_RETURN(auto traj, SampleTrajectories(*model, rows.prompts, rows.uncond, so));
      std::vector<int64_t> all(o.steps);
      std::iota(all.begin(), all.end(), 0);
      Status failed;
      torch::AutoGradMode grad(true);
      // One update's replay of all B trajectories with `transition` as the objective: candidate1
      // computes its term over the [rows, N, K] log-probs, candidate2 skips it.
      auto replay_update = [&](Transition transition) {
        for (int64_t b = 0; b < o.batch && failed.ok(); b += micro) {
          const int64_t e = std::min<int64_t>(o.batch, b + micro);
          auto r = ReplayStepLogProbs(*model, rows.prompts.Rows(b, e), rows.uncond, traj.Rows(b, e), all, /*guidance=*/0.0, false,
                                      Candidate1Edge::kFixed, 1.0, transition == Transition::kCandidate1);
          if (!r.ok()) {
            failed = r.status();
            return;
          }
          r->Get(transition).sum().backward();
        }
      };
      auto replay_seconds = [&](Transition transition) { return timed(1, [&] { replay_update(transition); }); };
      const double replay_c1_s = replay_seconds(Transition::kCandidate1);
      RETURN_IF_ERROR(failed);
      const double replay_c2_s = replay_seconds(Transition::kCandidate2);
      RETURN_IF_ERROR(failed);
      std::printf("%-46s %12.3f\n", "replay seconds, candidate1 (fwd + bwd)", replay_c1_s);
      std::printf("%-46s %12.3f\n", "replay seconds, candidate2 (fwd + bwd)", replay_c2_s);
      std::printf("(%d trajectories x %d steps in micro-batches of %lld, guidance 0 as in training)\n", o.batch, o.steps,
                  static_cast<long long>(micro));
      for (auto& p : model->Parameters()) p.mutable_grad() = torch::Tensor();
    }

    // 6. Throughput per image as the batch grows: with the forward sliced as the sampler does
    // by default on this device (or as --forward-prompts says), and as one forward per step,
    // the two timed in alternation.
    if (!o.sweep.empty()) {
      std::printf("%8s %10s %14s %16s %22s\n", "batch", "slice", "images/s", "ms per image", "images/s one forward");
      for (int batch : o.sweep) {
        ASSIGN_OR_RETURN(const auto seconds, sampler_seconds_ab(batch, o.forward_prompts, batch));
        const auto [s, wide_s] = seconds;
        std::printf("%8d %10lld %14.2f %16.2f %22.2f\n", batch, forward_slice(batch), batch / s, 1000.0 * s / batch,
                    batch / wide_s);
      }
    }
    return Status::Ok();
  } catch (const c10::Error& e) {
    return Internal(std::string("bench failed: ") + e.what_without_backtrace());
  }
}

}  // namespace maskgrpo
