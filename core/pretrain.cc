#include "core/pretrain.h"

#include "core/torch_api.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>

#include "core/json.h"
#include "core/model_io.h"
#include "core/optim.h"
#include "core/safetensors.h"
#include "core/shapeworld/dataset.h"

namespace maskgrpo {
namespace {

namespace fs = std::filesystem;

double LearningRate(const PretrainOptions& o, int64_t step) {
  return WarmupCosineLr(o.learning_rate, o.min_lr_ratio, o.warmup_steps, o.steps, step);
}

std::string FormatSeconds(double s) {
  char buf[32];
  const int total = static_cast<int>(s);
  std::snprintf(buf, sizeof(buf), "%dm%02ds", total / 60, total % 60);
  return buf;
}

Status Validate(const PretrainOptions& o) {
  if (o.steps <= 0) return InvalidArgument("pretrain: steps must be > 0");
  if (o.batch_size <= 0) return InvalidArgument("pretrain: batch_size must be > 0");
  if (!(o.learning_rate > 0)) return InvalidArgument("pretrain: learning_rate must be > 0");
  if (o.prompt_dropout < 0 || o.prompt_dropout >= 1) return InvalidArgument("pretrain: prompt_dropout must be in [0, 1)");
  if (o.warmup_steps < 0) return InvalidArgument("pretrain: warmup_steps must be >= 0");
  if (o.checkpoint_every <= 0 || o.log_every <= 0) return InvalidArgument("pretrain: checkpoint_every and log_every must be > 0");
  if (o.out_dir.empty()) return InvalidArgument("pretrain: out_dir must be set");
  return Status::Ok();
}

}  // namespace

Status RunPretrain(const PretrainOptions& o, const std::function<void(const std::string&)>& log) {
  RETURN_IF_ERROR(Validate(o));
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec) return FailedPrecondition("cannot create '" + o.out_dir + "': " + ec.message());
  const std::string model_path = o.out_dir + "/model.safetensors";
  const std::string optim_path = o.out_dir + "/optimizer.pt";
  const std::string state_path = o.out_dir + "/pretrain_state.json";

  shapeworld::World world;
  ModelConfig config =
      shapeworld::ShapeWorldModelConfig(o.hidden_size, o.num_layers, o.num_heads, o.intermediate_size, o.rotary_dim);
  config.rope_theta = o.rope_theta;
  std::unique_ptr<MaskedTransformer> model;
  int64_t start_step = 0;
  const bool resume = fs::exists(state_path) && fs::exists(model_path) && fs::exists(optim_path);
  if (resume) {
    ASSIGN_OR_RETURN(model, LoadModel(model_path, o.device));
    ASSIGN_OR_RETURN(std::string text, ReadFileToString(state_path));
    ASSIGN_OR_RETURN(Json state, Json::Parse(text));
    const Json* step = state.Find("step");
    if (!step || !step->is_number()) return DataLoss(state_path + ": missing 'step'");
    start_step = static_cast<int64_t>(step->as_number());
    if (model->config().ToJson().Dump() != config.ToJson().Dump()) {
      return FailedPrecondition(model_path + " was trained with a different model shape than this config");
    }
  } else {
    ASSIGN_OR_RETURN(model, MaskedTransformer::Create(config, o.device, o.seed));
  }

  try {
    auto optimizer_ptr = MakeAdamW(*model, AdamWSettings{o.learning_rate, 0.9, 0.95, o.weight_decay});
    auto& optimizer = *optimizer_ptr;
    if (resume) {
      RETURN_IF_ERROR(LoadOptimizer(optimizer, optim_path));
      log("resumed from " + o.out_dir + " at step " + std::to_string(start_step));
    }
    log("model: " + std::to_string(model->NumParameters()) + " parameters, " + std::to_string(config.seq_len()) +
        " tokens per sequence, " + std::to_string(config.num_image_codes) + " image codes");

    auto save = [&](int64_t step) -> Status {
      RETURN_IF_ERROR(SaveModel(model_path, *model, {{"pretrain_step", std::to_string(step)}}));
      RETURN_IF_ERROR(SaveOptimizer(optimizer, optim_path));
      Json state;
      state["step"] = step;
      return WriteFileAtomically(state_path, state.Dump(2));
    };

    const auto dev = model->device();
    const int64_t N = config.image_len;
    auto start = std::chrono::steady_clock::now();
    double loss_sum = 0;
    int64_t loss_count = 0;
    for (int64_t step = start_step; step < o.steps; ++step) {
      // Data and masks depend only on (seed, step): resuming reproduces the same stream.
      std::mt19937_64 rng(o.seed * 1000003ull + static_cast<uint64_t>(step));
      auto batch = shapeworld::MakeSupervisedBatch(world, world.split.train, o.batch_size, config.text_len,
                                                    o.prompt_dropout, rng);
      auto gen = at::detail::createCPUGenerator(o.seed * 7919ull + static_cast<uint64_t>(step));
      auto u = torch::rand({o.batch_size}, gen, torch::kDouble);
      auto num_masked = torch::clamp(torch::ceil(N * torch::cos(M_PI / 2.0 * u)), 1, N).to(torch::kLong);
      auto ranks = torch::rand({o.batch_size, N}, gen).argsort(int64_t{1}, false).argsort(int64_t{1}, false);
      auto masked = (ranks < num_masked.unsqueeze(1)).to(dev);
      auto target = batch.codes.to(dev);
      auto input_codes = torch::where(masked, torch::full({}, -1, target.options()), target);
      auto image = torch::where(input_codes < 0, torch::full({}, config.mask_id, target.options()),
                                input_codes + config.image_token_offset);
      const int64_t B = o.batch_size;
      std::vector<torch::Tensor> parts{batch.prompts.text_ids.to(dev), torch::full({B, 1}, config.soi_id, target.options()),
                                       image, torch::full({B, 1}, config.eoi_id, target.options())};
      auto ids = torch::cat(parts, 1);
      auto logits = model->ImageLogits(ids, batch.prompts.text_valid.to(dev));  // [B, N, K]
      // Cross-entropy on the masked positions only.
      auto per_token = torch::nn::functional::cross_entropy(
          logits.reshape({-1, logits.size(-1)}), target.reshape({-1}),
          torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
      auto mask_f = masked.reshape({-1}).to(per_token.scalar_type());
      auto loss = (per_token * mask_f).sum() / mask_f.sum();
      const double lr = LearningRate(o, step);
      SetLearningRate(optimizer, lr);
      optimizer.zero_grad();
      loss.backward();
      torch::nn::utils::clip_grad_norm_(model->Parameters(), 1.0);
      optimizer.step();
      loss_sum += loss.item<double>();
      ++loss_count;

      const int64_t done = step + 1;
      if (done % o.log_every == 0 || done == o.steps) {
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const double steps_per_s = (done - start_step) / std::max(elapsed, 1e-9);
        const double tokens_per_s = steps_per_s * B * config.seq_len();
        char line[256];
        std::snprintf(line, sizeof(line), "pretrain step %6lld/%lld  loss %.4f  lr %.2e  %.0f tokens/s  elapsed %s  ETA %s",
                      static_cast<long long>(done), static_cast<long long>(o.steps), loss_sum / loss_count, lr, tokens_per_s,
                      FormatSeconds(elapsed).c_str(), FormatSeconds((o.steps - done) / std::max(steps_per_s, 1e-9)).c_str());
        log(line);
        loss_sum = 0;
        loss_count = 0;
      }
      if (done % o.checkpoint_every == 0 || done == o.steps) RETURN_IF_ERROR(save(done));
    }
    return Status::Ok();
  } catch (const c10::Error& e) {
    return Internal(std::string("pretraining failed: ") + e.what_without_backtrace());
  }
}

}  // namespace maskgrpo
