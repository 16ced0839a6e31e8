// The reward server's typed config (maskgrpo.config.RewardServerConfig): defaults and checks.
#pragma once

#include <string>

#include "core/status.h"
#include "maskgrpo/service_config.pb.h"
#include "reward_server/batcher.h"

namespace maskgrpo::reward {

config::RewardServerConfig DefaultRewardServerConfig();
// Defaults, then the file (empty path: none). A repeated field merges by appending, so the
// default scorer (shapeworld_dense, weight 1) is only added when the file lists none.
Status LoadRewardServerConfig(const std::string& path, config::RewardServerConfig* c);
// Checks the batcher fields, the scorer list (non-empty, finite weights) and the request cap.
StatusOr<BatcherOptions> ToBatcherOptions(const config::RewardServerConfig& c);

}  // namespace maskgrpo::reward
