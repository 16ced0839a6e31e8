// The rollout worker's typed config (maskgrpo.config.RolloutWorkerConfig): defaults and checks.
#pragma once

#include <string>

#include "core/status.h"
#include "maskgrpo/service_config.pb.h"
#include "rollout_worker/reward_client.h"
#include "rollout_worker/worker.h"

namespace maskgrpo::worker {

config::RolloutWorkerConfig DefaultRolloutWorkerConfig();
Status LoadRolloutWorkerConfig(const std::string& path, config::RolloutWorkerConfig* c);
StatusOr<WorkerOptions> ToWorkerOptions(const config::RolloutWorkerConfig& c);
StatusOr<RewardClientOptions> ToRewardClientOptions(const config::RolloutWorkerConfig& c);

}  // namespace maskgrpo::worker
