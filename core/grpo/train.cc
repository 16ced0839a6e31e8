#include "core/grpo/train.h"

#include "core/torch_api.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "core/grpo/run_folder.h"
#include "core/grpo/seed_mix.h"
#include "core/json.h"
#include "core/model_io.h"
#include "core/safetensors.h"

namespace maskgrpo::grpo {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A per-image statistic of the update line, or -1 when the judge does not count objects.
double PerImage(const Json& line, const char* key) {
  const Json* v = line.Find(key);
  return v && v->is_number() ? v->as_number() : -1.0;
}

// What the trainer adds to the learner's checkpoint: the prompt stream, the sampler round
// counter, prompts waiting to be resampled and the filter's window and counters.
struct TrainerState {
  int64_t prompt_position = 0;
  int64_t sample_round = 0;
  std::deque<std::pair<int64_t, int64_t>> resample_queue;  // (index in the train split, resamples so far)
};

class Trainer {
 public:
  Trainer(const TrainOptions& o, const World& world, const std::function<void(const std::string&)>& log)
      : o_(o), log_(log), world_(world), train_(world.prompts(PromptSplitKind::kTrain)), filter_(o.filter),
        stream_(train_, o.seed, 0, o.task_weights) {}

  Status Run();

 private:
  Status Setup();
  Status Resume(const std::string& dir);
  StatusOr<std::vector<RolloutGroup>> CollectGroups(Json* rollout_stats);
  Status Evaluate(const std::string& label, ExistingEval existing = ExistingEval::kRedo);
  Status Checkpoint();
  Status DumpGroups(const std::vector<RolloutGroup>& groups);
  int64_t PromptIndex(const Prompt* prompt) const { return prompt - train_.data(); }

  const TrainOptions& o_;
  std::function<void(const std::string&)> log_;
  const World& world_;
  const std::vector<Prompt>& train_;
  StdFilter filter_;
  PromptStream stream_;
  TrainerState state_;
  std::unique_ptr<GrpoLearner> learner_;
  MetricsLog metrics_{o_.out_dir + "/metrics.jsonl"};
};

Status Trainer::Setup() {
  RETURN_IF_ERROR(EnsureDir(o_.out_dir));
  ASSIGN_OR_RETURN(learner_, CreateLearner(o_, world_));
  log_("policy: " + std::to_string(learner_->policy().NumParameters()) + " parameters from " + o_.init_model +
       "; transition " + TransitionName(o_.learner.transition) + ", " + std::to_string(o_.groups_per_update) +
       " groups x " + std::to_string(o_.group_size) + " images per update, rollout T=" +
       std::to_string(o_.rollout.steps) + ", eval T=" + std::to_string(o_.eval.sampling.steps));
  return Status::Ok();
}

Status Trainer::Resume(const std::string& dir) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(dir + "/trainer.json"));
  ASSIGN_OR_RETURN(Json j, Json::Parse(text));
  auto number = [&](const char* key, int64_t* out) -> Status {
    const Json* v = j.Find(key);
    if (!v || !v->is_number() || v->as_number() < 0) return DataLoss(dir + "/trainer.json: bad or missing '" + key + "'");
    *out = static_cast<int64_t>(v->as_number());
    return Status::Ok();
  };
  TrainerState st;
  int64_t seed = 0;
  RETURN_IF_ERROR(number("prompt_position", &st.prompt_position));
  RETURN_IF_ERROR(number("sample_round", &st.sample_round));
  RETURN_IF_ERROR(number("seed", &seed));
  if (static_cast<uint64_t>(seed) != (o_.seed & ((1ull << 52) - 1))) {
    return FailedPrecondition(dir + " was written with seed " + std::to_string(seed) + ", the config says " +
                              std::to_string(o_.seed));
  }
  const Json* queue = j.Find("resample_queue");
  if (!queue || !queue->is_array()) return DataLoss(dir + "/trainer.json: bad or missing 'resample_queue'");
  for (const auto& e : queue->as_array()) {
    if (!e.is_array() || e.as_array().size() != 2 || !e.as_array()[0].is_number() || !e.as_array()[1].is_number()) {
      return DataLoss(dir + "/trainer.json: resample_queue entries must be [prompt, resamples]");
    }
    const auto idx = static_cast<int64_t>(e.as_array()[0].as_number());
    if (idx < 0 || idx >= static_cast<int64_t>(train_.size())) {
      return DataLoss(dir + "/trainer.json: resample_queue names prompt " + std::to_string(idx) + ", out of range");
    }
    st.resample_queue.emplace_back(idx, static_cast<int64_t>(e.as_array()[1].as_number()));
  }
  const Json* filter = j.Find("filter");
  if (!filter) return DataLoss(dir + "/trainer.json: missing 'filter'");
  StdFilter restored(o_.filter);
  RETURN_IF_ERROR(restored.FromJson(*filter));
  // Everything parsed: now change state.
  RETURN_IF_ERROR(learner_->LoadCheckpoint(dir));
  filter_ = restored;
  state_ = st;
  stream_ = PromptStream(train_, o_.seed, st.prompt_position, o_.task_weights);
  RETURN_IF_ERROR(metrics_.TruncateAfter(learner_->version()));
  log_("resumed from " + dir + " at version " + std::to_string(learner_->version()));
  return Status::Ok();
}

StatusOr<std::vector<RolloutGroup>> Trainer::CollectGroups(Json* rollout_stats) {
  std::vector<RolloutGroup> accepted;
  const int64_t want = o_.groups_per_update, cap = o_.groups_per_update * o_.max_draws_factor;
  int64_t drawn = 0;
  double reward_sum = 0;
  int64_t reward_count = 0;
  // Objects and fragments per sampled image: clutter and broken shapes show here long before
  // they show in an evaluation.
  int64_t objects = 0, fragments = 0, counted = 0;
  // The sampled reward per task (prompt tag): an overall mean that rises can hide a task that
  // falls (counting, while the policy learns to draw more objects for the two-object tasks).
  std::map<std::string, std::pair<double, int64_t>> by_task;  // tag -> (reward sum, images)
  const auto before = filter_.counters();
  while (static_cast<int64_t>(accepted.size()) < want && drawn < cap) {
    const int64_t need = std::min(want - static_cast<int64_t>(accepted.size()), cap - drawn);
    std::vector<const Prompt*> specs;
    std::vector<int64_t> resamples;
    while (static_cast<int64_t>(specs.size()) < need && !state_.resample_queue.empty()) {
      specs.push_back(&train_[state_.resample_queue.front().first]);
      resamples.push_back(state_.resample_queue.front().second);
      state_.resample_queue.pop_front();
    }
    while (static_cast<int64_t>(specs.size()) < need) {
      specs.push_back(&stream_.Next());
      resamples.push_back(0);
    }
    SampleOptions so = o_.rollout;
    so.record_full = o_.learner.transition == Transition::kFull;  // costs a replay pass
    so.candidate1_edge = o_.learner.candidate1_edge;
    so.seed = MixSeed(o_.seed, static_cast<uint64_t>(state_.sample_round++));
    ASSIGN_OR_RETURN(auto groups, SampleScoredGroups(learner_->policy(), world_, specs, o_.group_size, so, o_.reward,
                                                     learner_->version()));
    drawn += need;
    for (size_t i = 0; i < groups.size(); ++i) {
      auto& task = by_task[specs[i]->tag];
      for (double r : groups[i].group.rewards) reward_sum += r, ++reward_count, task.first += r, ++task.second;
      for (const auto& j : groups[i].scores) {
        if (j.objects < 0 || j.fragments < 0) continue;
        objects += j.objects, fragments += j.fragments, ++counted;
      }
      switch (filter_.Decide(UnbiasedStd(groups[i].group.rewards), resamples[i])) {
        case FilterDecision::kAccept: accepted.push_back(std::move(groups[i])); break;
        case FilterDecision::kResample: state_.resample_queue.emplace_back(PromptIndex(specs[i]), resamples[i] + 1); break;
        case FilterDecision::kDrop: break;
      }
    }
  }
  const auto& after = filter_.counters();
  Json& s = *rollout_stats;
  s["groups_drawn"] = drawn;
  s["sampled_reward_mean"] = reward_count ? reward_sum / reward_count : 0.0;
  Json::Object tasks;
  for (const auto& [tag, sum_images] : by_task) {  // every entry holds a group's images
    tasks[tag] = Json(Json::Object{{"reward", sum_images.first / static_cast<double>(sum_images.second)},
                                   {"images", sum_images.second}});
  }
  s["sampled_by_task"] = Json(std::move(tasks));
  if (counted > 0) {
    s["objects_per_image"] = static_cast<double>(objects) / static_cast<double>(counted);
    s["fragments_per_image"] = static_cast<double>(fragments) / static_cast<double>(counted);
  }
  s["filter_zero_std"] = after.zero_std - before.zero_std;
  s["filter_low_std"] = after.low_std - before.low_std;
  s["filter_resampled"] = after.resampled - before.resampled;
  s["filter_dropped"] = after.dropped - before.dropped;
  s["filter_threshold"] = filter_.Threshold();
  if (accepted.empty()) {
    return FailedPrecondition("no group with a reward spread in " + std::to_string(drawn) +
                              " draws: every group had (near) identical rewards");
  }
  return accepted;
}

Status Trainer::Evaluate(const std::string& label, ExistingEval existing) {
  return EvaluateLearnerIntoRunFolder(*learner_, world_, o_.eval, o_.out_dir, label, metrics_, log_, existing).status();
}

Status Trainer::Checkpoint() {
  const std::string name = VersionDir(learner_->version());
  const std::string dir = o_.out_dir + "/checkpoints/" + name;
  RETURN_IF_ERROR(learner_->SaveCheckpoint(dir));
  Json j;
  j["version"] = learner_->version();
  j["prompt_position"] = stream_.position();
  j["sample_round"] = state_.sample_round;
  j["seed"] = static_cast<int64_t>(o_.seed & ((1ull << 52) - 1));
  Json::Array queue;
  for (const auto& [idx, n] : state_.resample_queue) queue.emplace_back(Json::Array{Json(idx), Json(n)});
  j["resample_queue"] = Json(std::move(queue));
  j["filter"] = filter_.ToJson();
  RETURN_IF_ERROR(WriteFileAtomically(dir + "/trainer.json", j.Dump()));
  // Only now is the checkpoint complete: point `latest` at it, then prune old ones.
  return CommitCheckpoint(o_.out_dir, name, o_.keep_checkpoints);
}

Status Trainer::DumpGroups(const std::vector<RolloutGroup>& groups) {
  std::vector<const ScoredGroup*> scored;
  std::vector<const Prompt*> specs;
  for (const auto& g : groups) scored.push_back(&g.group), specs.push_back(g.prompt);
  return WriteGroupDump(o_.out_dir + "/groups/" + VersionDir(learner_->version() + 1), scored, specs, o_.learner,
                        o_.group_size, o_.rollout.steps);
}

Status Trainer::Run() {
  RETURN_IF_ERROR(Setup());
  ASSIGN_OR_RETURN(std::string latest, LatestCheckpointDir(o_.out_dir));
  if (!latest.empty()) {
    RETURN_IF_ERROR(Resume(latest));
  } else {
    RETURN_IF_ERROR(metrics_.TruncateAfter(-1));
    RETURN_IF_ERROR(Evaluate("before training"));
  }
  const auto start = Clock::now();
  const int64_t first = learner_->version();
  const int64_t last = o_.stop_after > 0 ? std::min(o_.stop_after, o_.updates) : o_.updates;
  while (learner_->version() < last) {
    const auto t0 = Clock::now();
    Json line;
    ASSIGN_OR_RETURN(auto groups, CollectGroups(&line));
    const double rollout_s = Since(t0);
    if (o_.dump_groups) RETURN_IF_ERROR(DumpGroups(groups));
    std::vector<ScoredGroup> batch;
    for (auto& g : groups) batch.push_back(std::move(g.group));
    ASSIGN_OR_RETURN(UpdateStats s, learner_->Update(batch));
    const int64_t v = s.version;
    const Json update = UpdateLine(s);
    for (const auto& [key, value] : update.as_object()) line[key] = value;
    line["rollout_seconds"] = rollout_s;
    line["elapsed_seconds"] = Since(start);
    RETURN_IF_ERROR(metrics_.Append(line));
    const double per_update = Since(start) / static_cast<double>(v - first);
    char buf[512];
    std::snprintf(buf, sizeof(buf),
                  "update %4lld/%lld  reward %.3f (trained %.3f+-%.3f)  groups %lld/%lld drawn (zero-std %lld, low-std %lld, "
                  "resampled %lld, dropped %lld)  loss %+.4f  clip %.3f  approx-kl %.4f  entropy %.3f  objects %.2f  "
                  "fragments %.2f  %.1fs (rollout %.1fs)  ETA %s",
                  static_cast<long long>(v), static_cast<long long>(o_.updates),
                  line.Find("sampled_reward_mean")->as_number(), s.reward_mean, s.reward_std,
                  static_cast<long long>(s.groups), static_cast<long long>(line.Find("groups_drawn")->as_number()),
                  static_cast<long long>(line.Find("filter_zero_std")->as_number()),
                  static_cast<long long>(line.Find("filter_low_std")->as_number()),
                  static_cast<long long>(line.Find("filter_resampled")->as_number()),
                  static_cast<long long>(line.Find("filter_dropped")->as_number()), s.loss, s.clip_fraction,
                  s.approx_kl, s.entropy, PerImage(line, "objects_per_image"), PerImage(line, "fragments_per_image"),
                  Since(t0), rollout_s, FormatDuration(per_update * (o_.updates - v)).c_str());
    log_(buf);
    if (o_.eval_every > 0 && v % o_.eval_every == 0 && v < o_.updates) RETURN_IF_ERROR(Evaluate("during training"));
    if (v % o_.checkpoint_every == 0 || v == last) RETURN_IF_ERROR(Checkpoint());
  }
  if (learner_->version() < o_.updates) {
    log_("stopped at version " + std::to_string(learner_->version()) + " of " + std::to_string(o_.updates) +
         " (stop_after); run the same command without it to resume");
    return Status::Ok();
  }
  // A run resumed after its final evaluation (or after part of it) keeps what is on disk.
  RETURN_IF_ERROR(Evaluate("after training", ExistingEval::kKeep));
  ASSIGN_OR_RETURN(std::vector<std::string> models, SaveFinalModels(o_.out_dir, *learner_));
  log_("trained " + std::to_string(learner_->version()) + " updates in " + FormatDuration(Since(start)) + "; " +
       DescribeFinalModels(models));
  return Status::Ok();
}

}  // namespace

StatusOr<std::unique_ptr<GrpoLearner>> CreateLearner(const TrainOptions& o, const World& world) {
  ASSIGN_OR_RETURN(auto policy, world.LoadModel(o.init_model, o.device));
  const auto& c = policy->config();
  std::unique_ptr<MaskedTransformer> reference;
  if (o.learner.loss.kl_beta > 0) {
    ASSIGN_OR_RETURN(reference, world.LoadModel(o.init_model, o.device));
  }
  const auto uncond = world.UnconditionalPrompt(c.text_len);
  return GrpoLearner::Create(std::move(policy), std::move(reference), uncond, o.learner);
}

Status ValidateTrainOptions(const TrainOptions& o) {
  if (o.init_model.empty()) return InvalidArgument("train: init_model must be set");
  if (o.out_dir.empty()) return InvalidArgument("train: out_dir must be set");
  RETURN_IF_ERROR(ValidateLearnerOptions(o.learner));
  RETURN_IF_ERROR(ValidateFilterOptions(o.filter));
  if (o.group_size < 2 || o.group_size > kMaxGroupSize) {
    return InvalidArgument("train: group_size must be in [2, " + std::to_string(kMaxGroupSize) + "], got " +
                           std::to_string(o.group_size));
  }
  if (o.groups_per_update < 1) return InvalidArgument("train: groups_per_update must be >= 1");
  if (o.updates < 1) return InvalidArgument("train: updates must be >= 1");
  if (o.stop_after < 0) return InvalidArgument("train: stop_after must be >= 0");
  if (o.eval_every < 0) return InvalidArgument("train: eval_every must be >= 0");
  if (o.checkpoint_every < 1) return InvalidArgument("train: checkpoint_every must be >= 1");
  if (o.keep_checkpoints < 1) return InvalidArgument("train: keep_checkpoints must be >= 1");
  if (o.max_draws_factor < 1) return InvalidArgument("train: max_draws_factor must be >= 1");
  if (o.rollout.steps < 1) return InvalidArgument("train: rollout steps must be >= 1");
  if (o.rollout.gumbel_tau0 != o.learner.gumbel_tau0) {
    return InvalidArgument("train: the learner's gumbel_tau0 must equal the rollout's (candidate1's noise edge)");
  }
  if (o.rollout.guidance != o.learner.guidance) {
    return InvalidArgument("train: the learner's guidance must equal the rollout's (the policy is the guided sampler)");
  }
  if (o.learner.reduction.subset != StepSubset::kAll && o.learner.reduction.num_steps > o.rollout.steps) {
    return InvalidArgument("train: reduction.num_steps exceeds the rollout's steps");
  }
  if (o.learner.minibatches > o.group_size * o.groups_per_update) {
    return InvalidArgument("train: more minibatches than samples per update");
  }
  if (o.learner.group_minibatches && o.learner.minibatches > o.groups_per_update) {
    return InvalidArgument("train: minibatch_split groups needs minibatches <= groups_per_update");
  }
  return Status::Ok();
}

Status RunTrain(const TrainOptions& options, const std::function<void(const std::string&)>& log) {
  RETURN_IF_ERROR(ValidateTrainOptions(options));
  ASSIGN_OR_RETURN(auto world, CreateWorld(options.world));
  RETURN_IF_ERROR(CheckRewardName(*world, options.reward));
  if (world->prompts(PromptSplitKind::kTrain).empty()) return InvalidArgument("train: the world has no training prompts");
  RETURN_IF_ERROR(CheckTaskWeights(world->prompts(PromptSplitKind::kTrain), options.task_weights));
  try {
    Trainer trainer(options, *world, log);
    return trainer.Run();
  } catch (const c10::Error& e) {
    return Internal(std::string("training failed: ") + e.what_without_backtrace());
  }
}

}  // namespace maskgrpo::grpo
