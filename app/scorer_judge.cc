#include "app/scorer_judge.h"

#include "reward_server/reward_config.h"

namespace maskgrpo::app {

StatusOr<std::unique_ptr<ScorerJudge>> ScorerJudge::Load(const std::string& path) {
  config::RewardServerConfig config;
  RETURN_IF_ERROR(reward::LoadRewardServerConfig(path, &config));
  RETURN_IF_ERROR(reward::ToBatcherOptions(config).status());  // the scorer list's checks
  std::vector<reward::WeightedScorer> scorers;
  for (int i = 0; i < config.scorers_size(); ++i) {
    const auto& sc = config.scorers(i);
    auto scorer = reward::MakeScorer(sc);
    if (!scorer.ok()) {
      return InvalidArgument(path + ": scorers[" + std::to_string(i) + "]: " + scorer.status().message());
    }
    scorers.push_back({std::move(*scorer), sc.weight()});
  }
  return std::unique_ptr<ScorerJudge>(
      new ScorerJudge(std::make_unique<reward::CombinedScorer>(std::move(scorers))));
}

JudgeFn ScorerJudge::AsJudge() const {
  const reward::CombinedScorer* scorer = scorer_.get();
  return [scorer](const Prompt& prompt, const std::vector<RgbImage>& images) -> StatusOr<std::vector<Judgement>> {
    std::vector<reward::RewardItem> items(images.size());
    std::vector<const reward::RewardItem*> pointers;
    for (size_t i = 0; i < images.size(); ++i) {
      items[i].image = images[i];
      items[i].prompt = prompt;
      RETURN_IF_ERROR(scorer->CheckItem(items[i], "image " + std::to_string(i)));
      pointers.push_back(&items[i]);
    }
    ASSIGN_OR_RETURN(auto scores, scorer->Score(pointers));
    std::vector<Judgement> out(scores.size());
    for (size_t i = 0; i < scores.size(); ++i) {
      out[i].rewards = scores[i].components;
      out[i].rewards["reward"] = scores[i].reward;
    }
    return out;
  };
}

}  // namespace maskgrpo::app
