// `maskgrpo train`: Mask-GRPO in one process. Rollouts on a world's training prompts,
// rewards from the world's built-in judge (ShapeWorld's pixel-only scorer), the std filter with resampling, GRPO updates,
// periodic held-out eval, checkpoints with the full state and exact resume.
//
// Run folder (out_dir):
//   metrics.jsonl             one JSON object per line: {"kind":"update",...} or {"kind":"eval",...}
//   eval/vNNNNNN/             eval.json (per-task table) and grid.png at that version
//   checkpoints/vNNNNNN/      model.safetensors, optimizer.pt, learner.json, trainer.json
//   checkpoints/latest        name of the newest complete checkpoint directory
//   model.safetensors         the final policy
//   groups/vNNNNNN/           (dump_groups) the scored groups an update trained on, as .npy
//                             files plus groups.json; see docs/run-folder.md
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "core/evaluate.h"
#include "core/grpo/learner.h"
#include "core/grpo/rollout.h"
#include "core/grpo/std_filter.h"
#include "core/world/registry.h"

namespace maskgrpo::grpo {

struct TrainOptions {
  WorldOptions world;      // prompts, text layout, decoder and judge
  std::string init_model;  // starting weights (also the KL reference)
  std::string out_dir;
  DeviceOptions device;
  LearnerOptions learner;
  SampleOptions rollout;   // training sampling; rollout.steps < eval steps = unmasking reduction
  int64_t group_size = 8;  // G
  int64_t groups_per_update = 8;
  int64_t updates = 60;
  // Stop (with a checkpoint) once this version is reached, as a preempted job would; the
  // schedule still spans `updates`. 0 = run to the end.
  int64_t stop_after = 0;
  FilterOptions filter;
  std::string reward = "dense";  // one of the world judge's rewards (ShapeWorld: binary, dense, graded, mixed, binary_clean)
  EvalOptions eval;
  int64_t eval_every = 20;        // 0: only before and after training
  int64_t checkpoint_every = 10;
  int64_t keep_checkpoints = 2;
  bool dump_groups = false;
  uint64_t seed = 1;
  // Relative draw weight per task tag (PromptStream); empty = every task equally.
  std::map<std::string, double> task_weights;
  // Cap on groups sampled for one update, as a multiple of groups_per_update, so that a
  // policy producing only zero-std groups stops with an error instead of looping.
  int64_t max_draws_factor = 8;
};
Status ValidateTrainOptions(const TrainOptions& o);

// The policy from o.init_model (checked to fit the world), the frozen reference when the KL
// term is on, and the learner around them.
StatusOr<std::unique_ptr<GrpoLearner>> CreateLearner(const TrainOptions& o, const World& world);

// Trains (or resumes, when out_dir holds a checkpoint) for options.updates updates in
// total. `log` receives the progress lines.
Status RunTrain(const TrainOptions& options, const std::function<void(const std::string&)>& log);

}  // namespace maskgrpo::grpo
