// GenEval's rules applied to ShapeWorld detections: a binary verdict per image and a dense
// partial-credit reward for RL; plus the per-task / overall table.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/shapeworld/detector.h"
#include "core/shapeworld/prompts.h"

namespace maskgrpo::shapeworld {

struct ScoreResult {
  bool correct = false;  // GenEval's binary verdict (top-`count` detections per class, see scorer.cc)
  double dense = 0.0;    // partial credit in [0, 1]; an empty image earns credit (see scorer.cc)
  double graded = 0.0;   // partial credit in [0, 1] that is 0 for an empty image (see scorer.cc)
  // `graded` without its charge for fragments: the continuous partial credit alone, as a
  // CLIP-like reward would give it (whether a continuous reward learns once fragments cost
  // nothing: docs/ablation.md).
  double graded_nofrag = 0.0;
  std::string reason;    // first failed rule, for reports; empty when correct
  int fragments = 0;     // detections of no shape (broken or half-drawn regions)
};

// `binary_clean`: the binary verdict minus kFragmentPenalty per fragment, at most
// kMaxPenalisedFragments of them (a reward in [-0.2, 1]). Fragments go with failure on every
// task (a trained policy's images hold ~3.5 of them), yet the binary verdict gives a group in
// which every image fails no signal at all; the penalty ranks such a group's images by how
// clean they are and breaks ties among correct ones. Measured, it loses on every seed: group
// normalisation blows the small differences up, and the policy stops drawing shapes
// (docs/ablation.md); it stays selectable as that negative result.
inline constexpr double kFragmentPenalty = 0.05;
inline constexpr int kMaxPenalisedFragments = 4;

// GenEval's relative-position threshold: 10% of the image size between centres.
inline constexpr double kPositionThreshold = 0.1 * kImageSize;

ScoreResult ScoreDetections(const PromptSpec& spec, const std::vector<Detection>& detections);

// Accumulates binary verdicts per task; overall = mean of the task scores (as GenEval).
class EvalTable {
 public:
  void Add(Task task, bool correct);
  double TaskScore(Task task) const;
  double Overall() const;
  int images() const;
  int TaskImages(Task task) const { return total_[static_cast<int>(task)]; }
  std::string Format() const;  // a fixed-width text table
  Json ToJson() const;         // {"overall", "tasks": {...}, "images"}

 private:
  std::array<int, kNumTasks> correct_{};
  std::array<int, kNumTasks> total_{};
};

}  // namespace maskgrpo::shapeworld
