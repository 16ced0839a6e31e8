#include "core/grpo/run_folder.h"

#include "core/torch_api.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/grpo/npy.h"
#include "core/model_io.h"
#include "core/safetensors.h"
#include "core/image/png.h"

namespace maskgrpo::grpo {
namespace fs = std::filesystem;

std::string VersionDir(int64_t version) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "v%06lld", static_cast<long long>(version));
  return buf;
}

std::string FormatDuration(double s) {
  char buf[32];
  const int total = static_cast<int>(std::max(0.0, s));
  std::snprintf(buf, sizeof(buf), "%dm%02ds", total / 60, total % 60);
  return buf;
}

Status EnsureDir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return FailedPrecondition("cannot create '" + dir + "': " + ec.message());
  return Status::Ok();
}

Status MetricsLog::Append(const Json& line) const {
  std::ofstream out(path_, std::ios::app);
  out << line.Dump() << "\n";
  out.flush();
  if (!out) return Internal("cannot append to " + path_);
  return Status::Ok();
}

Status MetricsLog::ForEachLine(const std::function<void(const std::string& raw, Json& parsed)>& fn) const {
  if (!fs::exists(path_)) return Status::Ok();
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path_));
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto j = Json::Parse(line);
    if (j.ok()) fn(line, *j);  // a line that does not parse was cut short by a crash
  }
  return Status::Ok();
}

Status MetricsLog::TruncateAfter(int64_t max_version) const {
  if (!fs::exists(path_)) return Status::Ok();
  std::string kept;
  RETURN_IF_ERROR(ForEachLine([&](const std::string& raw, Json& j) {
    const Json* v = j.Find("version");
    if (v && v->is_number() && v->as_number() <= max_version) kept += raw + "\n";
  }));
  return WriteFileAtomically(path_, kept);
}

StatusOr<Json> MetricsLog::LastEval() const {
  Json last;
  RETURN_IF_ERROR(ForEachLine([&](const std::string&, Json& j) {
    const Json* kind = j.Find("kind");
    if (kind && kind->is_string() && kind->as_string() == "eval") last = std::move(j);
  }));
  return last;
}

StatusOr<std::vector<Json>> MetricsLog::Lines(const std::string& kind) const {
  std::vector<Json> out;
  RETURN_IF_ERROR(ForEachLine([&](const std::string&, Json& j) {
    const Json* k = j.Find("kind");
    if (k && k->is_string() && k->as_string() == kind) out.push_back(std::move(j));
  }));
  return out;
}

Json UpdateLine(const UpdateStats& s) {
  Json line;
  line["kind"] = "update";
  line["version"] = s.version;
  line["groups"] = s.groups;
  line["samples"] = s.samples;
  line["reward_mean"] = s.reward_mean;
  line["reward_std"] = s.reward_std;
  line["loss"] = s.loss;
  line["policy_loss"] = s.policy_loss;
  line["kl"] = s.kl;
  line["clip_fraction"] = s.clip_fraction;
  line["approx_kl"] = s.approx_kl;
  line["ratio_mean"] = s.ratio_mean;
  line["grad_norm"] = s.grad_norm;
  line["entropy"] = s.entropy;
  line["learning_rate"] = s.learning_rate;
  line["learn_seconds"] = s.seconds;
  return line;
}

std::string EvalDir(const std::string& out_dir, int64_t version, EvalWeights weights) {
  return out_dir + (weights == EvalWeights::kEma ? "/eval_ema/" : "/eval/") + VersionDir(version);
}

StatusOr<Json> EvaluateIntoRunFolder(const MaskedTransformer& policy, const World& world,
                                     const EvalOptions& options, const std::string& out_dir, int64_t version,
                                     const std::string& label, const MetricsLog& metrics,
                                     const std::function<void(const std::string&)>& log, EvalWeights weights) {
  const bool ema = weights == EvalWeights::kEma;
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(EvalResult r, EvaluateHeldout(policy, world, options, nullptr));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string dir = EvalDir(out_dir, version, weights);
  RETURN_IF_ERROR(EnsureDir(dir));
  Json j = r.table.ToJson();
  j["version"] = version;
  j["mean_dense_reward"] = r.mean_dense_reward;
  RETURN_IF_ERROR(WriteFileAtomically(dir + "/eval.json", j.Dump(2)));
  RETURN_IF_ERROR(WriteImageResults(dir + "/results.jsonl", r));
  if (!r.grid_images.empty()) {
    RETURN_IF_ERROR(WritePng(dir + "/grid.png", MakeGrid(r.grid_images, r.grid_captions, 6, 2)));
  }
  Json line;
  line["kind"] = ema ? "eval_ema" : "eval";
  line["version"] = version;
  line["overall"] = r.table.Overall();
  line["tasks"] = *j.Find("tasks");
  line["mean_dense_reward"] = r.mean_dense_reward;
  line["seconds"] = seconds;
  RETURN_IF_ERROR(metrics.Append(line));
  char head[200];
  std::snprintf(head, sizeof(head), "eval %s%s at version %lld: overall %.3f, dense reward %.3f (%d images, %.0fs)",
                label.c_str(), ema ? " (moving average of the weights)" : "", static_cast<long long>(version), r.table.Overall(), r.mean_dense_reward,
                r.table.images(), seconds);
  log(head);
  log(r.table.Format());
  return line;
}

StatusOr<Json> EvaluateLearnerIntoRunFolder(const GrpoLearner& learner, const World& world,
                                            const EvalOptions& options, const std::string& out_dir,
                                            const std::string& label, const MetricsLog& metrics,
                                            const std::function<void(const std::string&)>& log,
                                            ExistingEval existing) {
  auto wanted = [&](EvalWeights weights) {
    return existing == ExistingEval::kRedo ||
           !std::filesystem::exists(EvalDir(out_dir, learner.version(), weights) + "/eval.json");
  };
  Json line;
  if (wanted(EvalWeights::kPolicy)) {
    ASSIGN_OR_RETURN(line, EvaluateIntoRunFolder(learner.policy(), world, options, out_dir, learner.version(), label,
                                                 metrics, log));
  }
  if (learner.ema() != nullptr && wanted(EvalWeights::kEma)) {
    RETURN_IF_ERROR(EvaluateIntoRunFolder(*learner.ema(), world, options, out_dir, learner.version(), label, metrics,
                                          log, EvalWeights::kEma)
                        .status());
  }
  return line;
}

StatusOr<std::vector<std::string>> SaveFinalModels(const std::string& out_dir, const GrpoLearner& learner) {
  const std::string version = std::to_string(learner.version());
  std::vector<std::string> paths{out_dir + "/model.safetensors"};
  RETURN_IF_ERROR(SaveModel(paths[0], learner.policy(), {{"policy_version", version}}));
  if (learner.ema() != nullptr) {
    paths.push_back(out_dir + "/model_ema.safetensors");
    RETURN_IF_ERROR(SaveModel(paths[1], *learner.ema(),
                              {{"policy_version", version}, {"ema_decay", std::to_string(learner.options().ema_decay)}}));
  }
  return paths;
}

std::string DescribeFinalModels(const std::vector<std::string>& paths) {
  std::string out = "final policy: " + (paths.empty() ? std::string("none") : paths[0]);
  if (paths.size() > 1) out += "; moving average of its weights: " + paths[1];
  return out;
}

StatusOr<std::string> LatestCheckpointDir(const std::string& out_dir) {
  const std::string latest = out_dir + "/checkpoints/latest";
  if (!fs::exists(latest)) return std::string();
  ASSIGN_OR_RETURN(std::string name, ReadFileToString(latest));
  name.erase(std::remove_if(name.begin(), name.end(), [](char ch) { return std::isspace(static_cast<unsigned char>(ch)); }),
             name.end());
  if (name.empty() || name.find('/') != std::string::npos) return DataLoss(latest + " does not name a checkpoint");
  return out_dir + "/checkpoints/" + name;
}

Status CommitCheckpoint(const std::string& out_dir, const std::string& name, int64_t keep) {
  const std::string root = out_dir + "/checkpoints";
  RETURN_IF_ERROR(WriteFileAtomically(root + "/latest", name + "\n"));
  std::vector<std::string> dirs;
  for (const auto& e : fs::directory_iterator(root)) {
    if (e.is_directory() && e.path().filename().string().rfind("v", 0) == 0) dirs.push_back(e.path().filename().string());
  }
  std::sort(dirs.begin(), dirs.end());
  std::error_code ec;
  for (size_t i = 0; i + static_cast<size_t>(keep) < dirs.size(); ++i) {
    if (dirs[i] != name) fs::remove_all(root + "/" + dirs[i], ec);
  }
  return Status::Ok();
}

Status WriteGroupDump(const std::string& dir, const std::vector<const ScoredGroup*>& groups,
                      const std::vector<const Prompt*>& specs, const LearnerOptions& learner,
                      int64_t group_size, int64_t steps) {
  if (groups.empty() || groups.size() != specs.size()) return InvalidArgument("group dump: one prompt per group");
  RETURN_IF_ERROR(EnsureDir(dir));
  std::vector<torch::Tensor> tokens, reveal, cmin, lp1, lp2, lpf;
  std::vector<double> rewards;
  std::vector<int64_t> group_index, policy_version;
  Json::Array prompts;
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& t = groups[g]->trajectories;
    tokens.push_back(t.tokens);
    reveal.push_back(t.reveal_step);
    cmin.push_back(t.min_revealed_prob);
    lp1.push_back(t.logp_candidate1);
    lp2.push_back(t.logp_candidate2);
    // Rollout workers send the full-vocabulary log-probs only when the learner asks for them.
    lpf.push_back(t.logp_full.defined() ? t.logp_full : torch::full_like(t.logp_candidate1, NAN));
    for (double r : groups[g]->rewards) {
      rewards.push_back(r);
      group_index.push_back(static_cast<int64_t>(g));
      policy_version.push_back(groups[g]->policy_version);
    }
    prompts.push_back(specs[g]->ToJson());
  }
  ASSIGN_OR_RETURN(auto adv, GroupAdvantages(rewards, group_size, learner.advantages));
  const std::pair<const char*, torch::Tensor> arrays[] = {
      {"tokens", torch::cat(tokens)},
      {"reveal_step", torch::cat(reveal)},
      {"min_revealed_prob", torch::cat(cmin)},
      {"logp_candidate1", torch::cat(lp1)},
      {"logp_candidate2", torch::cat(lp2)},
      {"logp_full", torch::cat(lpf)},
      {"rewards", torch::tensor(rewards, torch::kDouble)},
      {"advantages", torch::tensor(adv, torch::kDouble)},
      {"group_index", torch::tensor(group_index, torch::kLong)},
      {"policy_version", torch::tensor(policy_version, torch::kLong)},
  };
  for (const auto& [name, tensor] : arrays) RETURN_IF_ERROR(WriteNpy(dir + "/" + name + ".npy", tensor));
  Json meta;
  meta["prompts"] = Json(std::move(prompts));
  meta["group_size"] = group_size;
  meta["steps"] = steps;
  meta["transition"] = TransitionName(learner.transition);
  return WriteFileAtomically(dir + "/groups.json", meta.Dump(2));
}

}  // namespace maskgrpo::grpo
