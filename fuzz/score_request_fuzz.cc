// A ScoreRequest built from the fuzz bytes (protobuf wire format) goes through the reward
// server's own path: DecodeScoreRequest, the scorers' CheckItem, then the ShapeWorld scorers
// and the image statistics. Accepted items get finite rewards in [0, 1].
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "reward_server/reward_service.h"
#include "reward_server/scorer.h"

namespace {

const maskgrpo::reward::CombinedScorer& Scorers() {
  static const maskgrpo::reward::CombinedScorer* combined = [] {
    std::vector<maskgrpo::reward::WeightedScorer> scorers;
    for (const char* name : {"shapeworld_dense", "shapeworld_binary"}) {
      auto s = maskgrpo::reward::MakeScorer(name);
      FUZZ_CHECK(s.ok(), s.status().ToString());
      scorers.push_back({std::move(*s), 0.5});
    }
    return new maskgrpo::reward::CombinedScorer(std::move(scorers));
  }();
  return *combined;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace maskgrpo;
  v1::ScoreRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto items = reward::DecodeScoreRequest(request, 16);
  if (!items.ok()) {
    FUZZ_CHECK(!items.status().message().empty(), "an error without a message");
    return 0;
  }
  FUZZ_CHECK(items->size() == static_cast<size_t>(request.items_size()), "items lost in decoding");
  std::vector<const reward::RewardItem*> ptrs;
  for (size_t i = 0; i < items->size(); ++i) {
    FUZZ_CHECK((*items)[i].image.Valid(), "a decoded image with inconsistent size");
    Status checked = Scorers().CheckItem((*items)[i], "items[" + std::to_string(i) + "]");
    if (!checked.ok()) {
      fuzz::Note("score: " + checked.ToString());
      return 0;
    }
    ptrs.push_back(&(*items)[i]);
  }
  auto scores = Scorers().Score(ptrs);
  fuzz::Note("score: " + (scores.ok() ? std::to_string(scores->size()) + " scores" : scores.status().ToString()));
  FUZZ_CHECK(scores.ok(), "checked items do not score: " + scores.status().ToString());
  FUZZ_CHECK(scores->size() == ptrs.size(), "one score per item");
  for (const auto& s : *scores) {
    FUZZ_CHECK(std::isfinite(s.reward) && s.reward >= 0 && s.reward <= 1, "a reward outside [0, 1]");
    for (const auto& [name, v] : s.components) FUZZ_CHECK(std::isfinite(v), "a non-finite component " + name);
  }
  return 0;
}
