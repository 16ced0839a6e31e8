// GenEval-style evaluation on a world's held-out prompts with its built-in judge: K images
// per prompt, fixed seeds, GenEval's table; and plain generation for sample grids.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/sampler.h"
#include "core/world/eval_table.h"
#include "core/world/world.h"

namespace maskgrpo {

struct EvalOptions {
  SampleOptions sampling;       // steps, guidance; sampling.seed is the base seed
  int images_per_prompt = 4;
  // Held-out prompts per task (cycled when a task has fewer); 0: every prompt of the split
  // once, so that each task's score is the mean over all of its prompts (the broad evaluation:
  // with 16 a task of one held-out prompt is scored on that prompt alone, 16 times over).
  int prompts_per_task = 16;
  // At least this many images per task: each of a task's prompts gets
  // max(images_per_prompt, ceil(min_images_per_task / prompts)) images.
  int min_images_per_task = 0;
  // Evaluate training prompts instead (evenly spaced through each task's list): held-out
  // against training scores tells generalisation from fitting the prompts trained on.
  bool train_split = false;
  int batch_images = 128;       // images per sampler call
  int grid_images = 24;         // how many images to keep for the sample grid
};

// One evaluated image, as GenEval's results.jsonl records it (plus the dense rewards and
// the number of detections), for finding out why a task fails.
struct EvalImageResult {
  const Prompt* prompt = nullptr;
  Judgement judgement;
};

struct EvalResult {
  EvalTable table;
  std::vector<EvalImageResult> images;  // in evaluation order
  double mean_dense_reward = 0;         // the judge's "dense" reward, when it has one
  std::vector<RgbImage> grid_images;
  std::vector<std::string> grid_captions;
};

// Scores a prompt's images; the default is the world's built-in judge.
using JudgeFn = std::function<StatusOr<std::vector<Judgement>>(const Prompt&, const std::vector<RgbImage>&)>;

// `judge` empty: the world's own judge (an error for a world without one).
StatusOr<EvalResult> EvaluateHeldout(const MaskedTransformer& model, const World& world,
                                     const EvalOptions& options, const std::function<void(int done, int total)>& progress,
                                     const JudgeFn& judge = {});

// Mean of every reward per task tag, and "overall": the mean of the task means (GenEval's
// macro average), e.g. {"colors": {"reward": 0.31, ...}, ..., "overall": {...}}.
std::map<std::string, std::map<std::string, double>> RewardMeansByTask(const EvalResult& result);
// A fixed-width table of RewardMeansByTask: one row per task, one column per reward.
std::string FormatRewardMeans(const std::map<std::string, std::map<std::string, double>>& means);

// Writes `images` as JSON lines: {"tag", "prompt", "correct", "reason", every reward of
// the judge by name (ShapeWorld: "binary", "dense", "graded", "mixed"), "objects", "fragments"}.
Status WriteImageResults(const std::string& path, const EvalResult& result);

// Samples `per_prompt` images for each prompt text, returns pixels (prompt-major order).
// The images are sampled `batch_images` at a time (0: all in one call), because the sampler's
// memory grows with its batch (Show-o: ~32 MB of float32 logits per image per step). Chunk c
// samples with seed options.seed + c * 1000003, as the evaluation does, so a chunk's images do
// not depend on the other chunks; one chunk reproduces the unchunked call. `progress` (may be
// empty) hears (images done, total) after each chunk.
StatusOr<std::vector<RgbImage>> GenerateImages(const MaskedTransformer& model, const World& world,
                                               const std::vector<std::string>& prompts, int per_prompt,
                                               const SampleOptions& options, int batch_images = 0,
                                               const std::function<void(int done, int total)>& progress = {});

}  // namespace maskgrpo
