// The reward server's scorers as an in-process judge for `maskgrpo eval`: the same config
// file the reward server reads, the same scorer code, no server. Each image's Judgement holds
// the combined "reward" and every scorer's component by name; `correct` stays false (a
// scorer gives a value, not GenEval's verdict).
#pragma once

#include <memory>
#include <string>

#include "core/evaluate.h"
#include "reward_server/scorer.h"

namespace maskgrpo::app {

class ScorerJudge {
 public:
  // Loads the scorers of a reward server config (maskgrpo.config.RewardServerConfig).
  static StatusOr<std::unique_ptr<ScorerJudge>> Load(const std::string& reward_config_path);
  // Valid while this object lives.
  JudgeFn AsJudge() const;

 private:
  explicit ScorerJudge(std::unique_ptr<reward::CombinedScorer> scorer) : scorer_(std::move(scorer)) {}
  std::unique_ptr<reward::CombinedScorer> scorer_;
};

}  // namespace maskgrpo::app
