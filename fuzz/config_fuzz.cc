// Text-proto configs in (app/config.h and the services' *_config.h): the first byte picks the
// config kind, the rest is the file. Loading is parsing plus the load-time checks; whatever
// loads then goes through the same semantic conversion the programs run at start-up. Errors
// must name the file.
#include <cstdint>
#include <string>

#include "app/config.h"
#include "fuzz/fuzz_util.h"
#include "learner/learner_config.h"
#include "reward_server/reward_config.h"
#include "rollout_worker/worker_config.h"

namespace {

template <typename T>
void ExpectNamedError(const maskgrpo::StatusOr<T>& result, const std::string& path) {
  maskgrpo::fuzz::Note("config: " + (result.ok() ? std::string("converted") : result.status().ToString()));
  if (!result.ok()) FUZZ_CHECK(!result.status().message().empty(), "an error without a message");
}

void ExpectLoaded(const maskgrpo::Status& status, const std::string& path, bool* loaded) {
  *loaded = status.ok();
  maskgrpo::fuzz::Note("config: " + (status.ok() ? std::string("loaded") : status.ToString()));
  if (!status.ok()) {
    FUZZ_CHECK(status.message().find(path) != std::string::npos, "a load error that does not name the file: " +
                                                                      status.ToString());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace maskgrpo;
  if (size < 1) return 0;
  const std::string path = fuzz::WriteScratchFile(".textproto", data + 1, size - 1);
  bool loaded = false;
  switch (data[0] % 5) {
    case 0: {
      config::TrainConfig c = app::DefaultTrainConfig();
      ExpectLoaded(app::LoadTextConfig(path, &c), path, &loaded);
      if (loaded) ExpectNamedError(app::ToTrainOptions(c), path);
      break;
    }
    case 1: {
      config::LearnerServerConfig c;
      ExpectLoaded(learner::LoadLearnerServerConfig(path, &c), path, &loaded);
      if (loaded) ExpectNamedError(learner::ToLearnerCoreOptions(c), path);
      break;
    }
    case 2: {
      config::RolloutWorkerConfig c = worker::DefaultRolloutWorkerConfig();
      ExpectLoaded(worker::LoadRolloutWorkerConfig(path, &c), path, &loaded);
      if (loaded) {
        ExpectNamedError(worker::ToWorkerOptions(c), path);
        ExpectNamedError(worker::ToRewardClientOptions(c), path);
      }
      break;
    }
    case 3: {
      config::RewardServerConfig c = reward::DefaultRewardServerConfig();
      ExpectLoaded(reward::LoadRewardServerConfig(path, &c), path, &loaded);
      if (loaded) ExpectNamedError(reward::ToBatcherOptions(c), path);
      break;
    }
    default: {
      config::LaunchConfig c = app::DefaultLaunchConfig();
      ExpectLoaded(app::LoadTextConfig(path, &c), path, &loaded);
      break;
    }
  }
  return 0;
}
