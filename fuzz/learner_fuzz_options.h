// The learner core the learner-side fuzz targets (submit, learner_calls) drive: the ShapeWorld
// base model, small groups, a run folder of its own in TMPDIR per call, nothing that runs by
// itself (Run() is never called) and leases that outlive a long fuzzing session.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "learner/learner_core.h"

namespace maskgrpo::fuzz {

// A new, empty run folder for a harness of `target` (one per process and generation).
inline std::filesystem::path FreshRunDir(const std::string& target) {
  static int generation = 0;
  const auto dir = std::filesystem::temp_directory_path() /
                   ("maskgrpo_" + target + "_fuzz_" + std::to_string(::getpid()) + "_" + std::to_string(generation++));
  std::filesystem::remove_all(dir);
  return dir;
}

inline learner::LearnerCoreOptions FuzzLearnerOptions(const std::filesystem::path& run_dir) {
  learner::LearnerCoreOptions o;
  o.train.init_model = std::string(MASKGRPO_SOURCE_DIR) + "/models/shapeworld_base.safetensors";
  o.train.out_dir = run_dir.string();
  o.train.device = {"cpu", "float32"};
  o.train.rollout.steps = 4;
  o.train.group_size = 4;
  o.train.groups_per_update = 16;
  o.train.updates = 4;
  o.train.learner.total_updates = 4;
  o.train.eval_every = 0;
  o.train.checkpoint_every = 1000;  // Run() is never called: no update, no checkpoint
  o.max_policy_lag = 3;
  o.lease_timeout_ms = 24 * 3600 * 1000;  // no lease expires during a fuzzing session
  return o;
}

}  // namespace maskgrpo::fuzz
