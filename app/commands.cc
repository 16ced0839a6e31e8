#include "app/commands.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <google/protobuf/text_format.h>

#include "app/config.h"
#include "app/flags.h"
#include "app/scorer_judge.h"
#include "benchmarks/sampler_bench.h"
#include "core/model_io.h"
#include "core/runtime.h"
#include "core/safetensors.h"
#include "core/image/png.h"
#include "core/world/registry.h"

namespace maskgrpo::app {
namespace {

namespace fs = std::filesystem;

void Log(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

Status ApplySamplingFlags(const Flags& f, config::Sampling* s) {
  int64_t steps = s->steps();
  double guidance = s->guidance();
  RETURN_IF_ERROR(f.GetInt("sampling-steps", &steps));
  RETURN_IF_ERROR(f.GetDouble("guidance", &guidance));
  s->set_steps(steps);
  s->set_guidance(guidance);
  return Status::Ok();
}

// eval and generate share these settings: the config file, then runtime, sampling,
// images-per-prompt and seed flags over it.
template <typename Config>
Status LoadSamplingCommandConfig(const Flags& f, Config* c) {
  RETURN_IF_ERROR(LoadTextConfig(f.Get("config"), c));
  RETURN_IF_ERROR(ApplyRuntimeFlags(f, c->mutable_runtime()));
  RETURN_IF_ERROR(ApplySamplingFlags(f, c->mutable_sampling()));
  int64_t k = c->images_per_prompt();
  uint64_t seed = c->seed();
  RETURN_IF_ERROR(f.GetInt("images-per-prompt", &k));
  RETURN_IF_ERROR(f.GetUint("seed", &seed));
  c->set_images_per_prompt(static_cast<int32_t>(k));
  c->set_seed(seed);
  return Status::Ok();
}

Status EnsureDir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return FailedPrecondition("cannot create '" + dir + "': " + ec.message());
  return Status::Ok();
}

}  // namespace

int PretrainCommand(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"config", "out", "steps", "threads", "device", "dtype", "seed", "batch-size"});
  if (!flags.ok()) return ReportError(flags.status());
  auto c = DefaultPretrainConfig();
  Status st = LoadTextConfig(flags->Get("config"), &c);
  if (!st.ok()) return ReportError(st);
  int64_t steps = c.steps(), batch = c.batch_size();
  uint64_t seed = c.seed();
  if (!(st = flags->GetInt("steps", &steps)).ok() || !(st = flags->GetInt("batch-size", &batch)).ok() ||
      !(st = flags->GetUint("seed", &seed)).ok() || !(st = ApplyRuntimeFlags(*flags, c.mutable_runtime())).ok()) {
    return ReportError(st);
  }
  c.set_steps(steps);
  c.set_batch_size(batch);
  c.set_seed(seed);
  if (flags->Has("out")) c.set_out_dir(flags->Get("out"));
  auto options = ToPretrainOptions(c);
  if (!options.ok()) return ReportError(options.status());
  ConfigureThreads(c.runtime().threads());
  st = RunPretrain(*options, Log);
  if (!st.ok()) return ReportError(st);
  Log("pretrained model: " + options->out_dir + "/model.safetensors");
  return 0;
}

int EvalCommand(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"config", "checkpoint", "out", "threads", "device", "dtype", "seed", "sampling-steps",
                                   "guidance", "images-per-prompt", "prompts-per-task", "min-images-per-task", "split"});
  if (!flags.ok()) return ReportError(flags.status());
  if (!flags->Has("checkpoint") || !flags->Has("out")) {
    return ReportError(InvalidArgument("eval needs --checkpoint PATH and --out DIR"));
  }
  const std::string split = flags->Has("split") ? flags->Get("split") : "heldout";
  if (split != "heldout" && split != "train") {
    return ReportError(InvalidArgument("--split must be heldout or train, got '" + split + "'"));
  }
  auto c = DefaultEvalConfig();
  Status st = LoadSamplingCommandConfig(*flags, &c);
  int64_t p = c.prompts_per_task();
  if (!st.ok() || !(st = flags->GetInt("prompts-per-task", &p)).ok()) return ReportError(st);
  c.set_prompts_per_task(static_cast<int32_t>(p));
  int64_t min_images = c.min_images_per_task();
  if (!(st = flags->GetInt("min-images-per-task", &min_images)).ok()) return ReportError(st);
  c.set_min_images_per_task(static_cast<int32_t>(min_images));
  const uint64_t seed = c.seed();
  auto options = ToEvalOptions(c);
  if (!options.ok()) return ReportError(options.status());
  options->train_split = split == "train";
  auto device = ToDeviceOptions(c.runtime());
  if (!device.ok()) return ReportError(device.status());
  ConfigureThreads(c.runtime().threads());
  auto world_options = ToWorldOptions(c.world(), *device);
  if (!world_options.ok()) return ReportError(world_options.status());
  auto world = CreateWorld(*world_options);
  if (!world.ok()) return ReportError(world.status());
  // The reward server's scorers in process when a reward_config is given (worlds without a
  // built-in judge need one), else the world's judge.
  std::unique_ptr<ScorerJudge> scorers;
  if (!c.reward_config().empty()) {
    auto loaded = ScorerJudge::Load(c.reward_config());
    if (!loaded.ok()) return ReportError(loaded.status());
    scorers = std::move(*loaded);
  }
  auto model = (*world)->LoadModel(flags->Get("checkpoint"), *device);
  if (!model.ok()) return ReportError(model.status());
  const std::string out = flags->Get("out");
  if (!(st = EnsureDir(out)).ok()) return ReportError(st);
  auto result = EvaluateHeldout(
      **model, **world, *options,
      [](int done, int total) {
        std::fprintf(stderr, "\reval: %d/%d images", done, total);
        if (done == total) std::fprintf(stderr, "\n");
      },
      scorers ? scorers->AsJudge() : JudgeFn());
  if (!result.ok()) return ReportError(result.status());
  std::printf("%s evaluation of %s (%d images per prompt, %lld steps, guidance %.1f)\n",
              options->train_split ? "training-prompt" : "held-out", flags->Get("checkpoint").c_str(), options->images_per_prompt,
              static_cast<long long>(options->sampling.steps), options->sampling.guidance);
  const auto means = RewardMeansByTask(*result);
  Json j;
  if (scorers) {
    // Scorers give values, not GenEval's verdict: the table is each scorer's mean per task.
    std::printf("scorers of %s, mean per task (overall: mean of the task means)\n%s", c.reward_config().c_str(),
                FormatRewardMeans(means).c_str());
    j["overall"] = means.at("overall").at("reward");
    j["images"] = static_cast<int64_t>(result->images.size());
    j["reward_config"] = c.reward_config();
  } else {
    std::printf("%s", result->table.Format().c_str());
    j = result->table.ToJson();
  }
  Json means_json;
  for (const auto& [tag, by_name] : means)
    for (const auto& [name, value] : by_name) means_json[tag][name] = value;
  j["reward_means"] = means_json;
  j["checkpoint"] = flags->Get("checkpoint");
  j["mean_dense_reward"] = result->mean_dense_reward;
  j["images_per_prompt"] = options->images_per_prompt;
  j["prompts_per_task"] = options->prompts_per_task;
  j["min_images_per_task"] = options->min_images_per_task;
  j["sampling_steps"] = static_cast<int64_t>(options->sampling.steps);
  j["guidance"] = options->sampling.guidance;
  j["seed"] = static_cast<int64_t>(seed);
  j["split"] = split;
  if (!(st = WriteFileAtomically(out + "/eval.json", j.Dump(2) + "\n")).ok()) return ReportError(st);
  if (!(st = WriteImageResults(out + "/results.jsonl", *result)).ok()) return ReportError(st);
  auto grid = MakeGrid(result->grid_images, result->grid_captions, 6, (*world)->image_size() >= 256 ? 1 : 3);
  if (!(st = WritePng(out + "/eval_grid.png", grid)).ok()) return ReportError(st);
  Log("wrote " + out + "/eval.json, " + out + "/results.jsonl and " + out + "/eval_grid.png");
  return 0;
}

int GenerateCommand(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"config", "checkpoint", "out", "prompt", "threads", "device", "dtype", "seed",
                                   "sampling-steps", "guidance", "images-per-prompt"});
  if (!flags.ok()) return ReportError(flags.status());
  if (!flags->Has("checkpoint") || !flags->Has("out")) {
    return ReportError(InvalidArgument("generate needs --checkpoint PATH and --out FILE.png"));
  }
  auto c = DefaultGenerateConfig();
  Status st = LoadSamplingCommandConfig(*flags, &c);
  if (!st.ok()) return ReportError(st);
  const int64_t k = c.images_per_prompt();
  if (k <= 0) return ReportError(InvalidArgument("generate: images_per_prompt must be > 0, got " + std::to_string(k)));
  if (c.batch_images() <= 0) {
    return ReportError(InvalidArgument("generate: batch_images must be > 0, got " + std::to_string(c.batch_images())));
  }
  auto sampling = ToSampleOptions(c.sampling(), c.seed());
  if (!sampling.ok()) return ReportError(sampling.status());
  auto device = ToDeviceOptions(c.runtime());
  if (!device.ok()) return ReportError(device.status());
  auto world_options = ToWorldOptions(c.world(), *device);
  if (!world_options.ok()) return ReportError(world_options.status());
  auto world = CreateWorld(*world_options);
  if (!world.ok()) return ReportError(world.status());
  std::vector<std::string> prompts(c.prompts().begin(), c.prompts().end());
  if (flags->Has("prompt")) prompts = {flags->Get("prompt")};
  if (prompts.empty()) {
    // One held-out prompt per task.
    const auto& heldout = (*world)->prompts(PromptSplitKind::kHeldout);
    for (const auto& tag : OrderedTags(heldout)) {
      for (const auto& p : heldout) {
        if (p.tag == tag) { prompts.push_back(p.text); break; }
      }
    }
  }
  if (prompts.empty()) return ReportError(InvalidArgument("generate: no prompt (give --prompt TEXT or prompts in the config)"));
  ConfigureThreads(c.runtime().threads());
  auto model = (*world)->LoadModel(flags->Get("checkpoint"), *device);
  if (!model.ok()) return ReportError(model.status());
  const int64_t total = static_cast<int64_t>(prompts.size()) * k;
  auto images = GenerateImages(**model, **world, prompts, static_cast<int>(k), *sampling, c.batch_images(),
                               [total](int done, int) {
                                 if (done < total) Log("generate: " + std::to_string(done) + "/" + std::to_string(total) + " images");
                               });
  if (!images.ok()) return ReportError(images.status());
  std::vector<std::string> captions;
  for (const auto& p : prompts)
    for (int64_t i = 0; i < k; ++i) captions.push_back(p);
  const std::string out = flags->Get("out");
  if (fs::path(out).has_parent_path() && !(st = EnsureDir(fs::path(out).parent_path().string())).ok()) return ReportError(st);
  st = WritePng(out, MakeGrid(*images, captions, static_cast<int>(k), c.scale()));
  if (!st.ok()) return ReportError(st);
  Log("wrote " + out + " (" + std::to_string(images->size()) + " images)");
  return 0;
}

int TrainCommand(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"config", "out", "init", "updates", "stop-after", "seed", "threads", "device", "dtype",
                                   "eval-every", "dump-groups"});
  if (!flags.ok()) return ReportError(flags.status());
  auto c = DefaultTrainConfig();
  Status st = LoadTextConfig(flags->Get("config"), &c);
  if (!st.ok()) return ReportError(st);
  int64_t updates = c.updates(), eval_every = c.eval_every(), stop_after = 0;
  uint64_t seed = c.seed();
  if (!(st = flags->GetInt("updates", &updates)).ok() || !(st = flags->GetInt("eval-every", &eval_every)).ok() ||
      !(st = flags->GetInt("stop-after", &stop_after)).ok() || !(st = flags->GetUint("seed", &seed)).ok() ||
      !(st = ApplyRuntimeFlags(*flags, c.mutable_runtime())).ok()) {
    return ReportError(st);
  }
  c.set_updates(updates);
  c.set_eval_every(eval_every);
  c.set_seed(seed);
  if (flags->Has("out")) c.set_out_dir(flags->Get("out"));
  if (flags->Has("init")) c.set_init_model(flags->Get("init"));
  if (flags->Has("dump-groups")) {
    const std::string v = flags->Get("dump-groups");
    if (v != "true" && v != "false") return ReportError(InvalidArgument("flag --dump-groups must be true or false"));
    c.set_dump_groups(v == "true");
  }
  auto options = ToTrainOptions(c);
  if (!options.ok()) return ReportError(options.status());
  options->stop_after = stop_after;
  if (!(st = SnapshotRunConfig(options->out_dir, c)).ok()) return ReportError(st);
  ConfigureThreads(c.runtime().threads());
  st = grpo::RunTrain(*options, Log);
  return st.ok() ? 0 : ReportError(st);
}

int BenchCommand(const std::vector<std::string>& args) {
  auto flags = Flags::Parse(args, {"model", "checkpoint", "device", "dtype", "threads", "batch", "sampling-steps",
                                   "guidance", "repeats", "sweep", "forward-prompts", "loop-codes", "loop-seed"});
  if (!flags.ok()) return ReportError(flags.status());
  SamplerBenchOptions o;
  o.model = flags->Get("model", o.model);
  o.checkpoint = flags->Get("checkpoint");
  o.device.device = flags->Get("device", o.device.device);
  o.device.dtype = flags->Get("dtype", o.device.dtype);
  int64_t threads = 0, batch = o.batch, steps = o.steps, repeats = o.repeats, forward_prompts = 0;
  Status st;
  if (!(st = flags->GetInt("threads", &threads)).ok() || !(st = flags->GetInt("batch", &batch)).ok() ||
      !(st = flags->GetInt("forward-prompts", &forward_prompts)).ok() ||
      !(st = flags->GetInt("sampling-steps", &steps)).ok() || !(st = flags->GetInt("repeats", &repeats)).ok() ||
      !(st = flags->GetDouble("guidance", &o.guidance)).ok()) {
    return ReportError(st);
  }
  o.threads = static_cast<int>(threads);
  o.batch = static_cast<int>(batch);
  o.steps = static_cast<int>(steps);
  o.repeats = static_cast<int>(repeats);
  if (forward_prompts < 0 || forward_prompts > 65536) {
    return ReportError(InvalidArgument("--forward-prompts must be in 0..65536 (0 = the device's default), got " +
                                       std::to_string(forward_prompts)));
  }
  o.forward_prompts = static_cast<int>(forward_prompts);
  o.loop_codes = flags->Get("loop-codes");
  int64_t loop_seed = 0;
  if (!(st = flags->GetInt("loop-seed", &loop_seed)).ok()) return ReportError(st);
  if (loop_seed < 0) return ReportError(InvalidArgument("--loop-seed must be >= 0, got " + std::to_string(loop_seed)));
  o.loop_seed = static_cast<uint64_t>(loop_seed);
  // --sweep 1,8,64,256: sampler images/s at each batch size.
  const std::string sweep = flags->Get("sweep");
  for (size_t start = 0; start < sweep.size();) {
    size_t end = std::min(sweep.find(',', start), sweep.size());
    const std::string item = sweep.substr(start, end - start);
    start = end + 1;
    char* rest = nullptr;
    const long batch_size = std::strtol(item.c_str(), &rest, 10);
    if (item.empty() || *rest != '\0' || batch_size <= 0 || batch_size > 65536) {
      return ReportError(InvalidArgument("--sweep must be a comma-separated list of batch sizes in 1..65536, got '" + item + "'"));
    }
    o.sweep.push_back(static_cast<int>(batch_size));
  }
  st = RunSamplerBench(o);
  return st.ok() ? 0 : ReportError(st);
}

int ReportError(const Status& st) {
  std::fprintf(stderr, "error: %s\n", st.ToString().c_str());
  return st.code() == StatusCode::kInvalidArgument || st.code() == StatusCode::kNotFound ? 2 : 1;
}

}  // namespace maskgrpo::app
