// The parts of a training run folder that the in-process trainer and the distributed
// learner write the same way (layout: core/grpo/train.h and docs/run-folder.md):
// metrics.jsonl, eval/vNNNNNN/ and the checkpoints/ rotation.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/evaluate.h"
#include "core/grpo/learner.h"
#include "core/json.h"
#include "core/status.h"

namespace maskgrpo::grpo {

std::string VersionDir(int64_t version);  // "v000042"
std::string FormatDuration(double seconds);  // "3m07s"
Status EnsureDir(const std::string& dir);

// metrics.jsonl: one JSON object per line, each with a "version".
class MetricsLog {
 public:
  explicit MetricsLog(std::string path) : path_(std::move(path)) {}
  Status Append(const Json& line) const;
  // Drops lines of versions above `max_version` (and torn lines): a resumed run rewrites them.
  Status TruncateAfter(int64_t max_version) const;
  // The last {"kind": "eval"} line, or a Json null when there is none (or no file yet).
  StatusOr<Json> LastEval() const;
  // Every line of that {"kind"} in file order (none when there is no file yet).
  StatusOr<std::vector<Json>> Lines(const std::string& kind) const;
  const std::string& path() const { return path_; }

 private:
  // Calls `fn` with each whole line (raw text and parsed); torn lines are skipped. No file: no call.
  Status ForEachLine(const std::function<void(const std::string& raw, Json& parsed)>& fn) const;
  std::string path_;
};

// The update's figures as a metrics line ({"kind": "update", ...}).
Json UpdateLine(const UpdateStats& s);

// Which weights an evaluation judges: the policy, or the learner's moving average of it
// (LearnerOptions::ema_decay), which goes to out_dir/eval_ema/ and {"kind": "eval_ema"} lines.
enum class EvalWeights { kPolicy, kEma };
// out_dir/eval/vNNNNNN or out_dir/eval_ema/vNNNNNN: where that evaluation's files go.
std::string EvalDir(const std::string& out_dir, int64_t version, EvalWeights weights);

// Held-out eval of `policy` at `version`: writes out_dir/eval/vN/{eval.json,grid.png},
// appends the {"kind": "eval"} line to `metrics`, logs the table; returns the line.
StatusOr<Json> EvaluateIntoRunFolder(const MaskedTransformer& policy, const World& world,
                                     const EvalOptions& options, const std::string& out_dir, int64_t version,
                                     const std::string& label, const MetricsLog& metrics,
                                     const std::function<void(const std::string&)>& log,
                                     EvalWeights weights = EvalWeights::kPolicy);

// Whether EvaluateLearnerIntoRunFolder evaluates weights whose eval.json for this version is
// already on disk: a resumed run's final evaluation keeps them, so that a run stopped between
// the policy's final evaluation and the average's does only the missing one.
enum class ExistingEval { kRedo, kKeep };

// The learner's policy evaluated as above and, when it keeps a moving average, the average
// too, with the same evaluation seeds (so the two are paired image for image); returns the
// policy's line, or a Json null when `existing` kept the policy's evaluation on disk.
StatusOr<Json> EvaluateLearnerIntoRunFolder(const GrpoLearner& learner, const World& world,
                                            const EvalOptions& options, const std::string& out_dir,
                                            const std::string& label, const MetricsLog& metrics,
                                            const std::function<void(const std::string&)>& log,
                                            ExistingEval existing = ExistingEval::kRedo);

// The run's final models: out_dir/model.safetensors (the policy) and, with a moving average,
// out_dir/model_ema.safetensors; returns the paths written.
StatusOr<std::vector<std::string>> SaveFinalModels(const std::string& out_dir, const GrpoLearner& learner);
// "final policy: <path>[; moving average of its weights: <path>]" for SaveFinalModels' paths.
std::string DescribeFinalModels(const std::vector<std::string>& paths);

// `dir` (out_dir/groups/vNNNNNN/, docs/run-folder.md): the scored groups an update trained on
// as .npy arrays (tokens, reveal steps, behaviour log-probs, rewards and the advantages the
// learner derives from them) and groups.json (prompts, group_size, steps, transition).
// specs[g] is the prompt of groups[g].
Status WriteGroupDump(const std::string& dir, const std::vector<const ScoredGroup*>& groups,
                      const std::vector<const Prompt*>& specs, const LearnerOptions& learner,
                      int64_t group_size, int64_t steps);

// out_dir/checkpoints/<latest>, or "" when there is no complete checkpoint.
StatusOr<std::string> LatestCheckpointDir(const std::string& out_dir);
// Points checkpoints/latest at `name` (already fully written), then keeps the newest `keep`.
Status CommitCheckpoint(const std::string& out_dir, const std::string& name, int64_t keep);

}  // namespace maskgrpo::grpo
