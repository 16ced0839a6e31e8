// The learner service's typed config (maskgrpo.config.LearnerServerConfig): defaults and checks.
#pragma once

#include <string>

#include "core/status.h"
#include "learner/learner_core.h"
#include "maskgrpo/service_config.pb.h"

namespace maskgrpo::learner {

config::LearnerServerConfig DefaultLearnerServerConfig();
Status LoadLearnerServerConfig(const std::string& path, config::LearnerServerConfig* c);
StatusOr<LearnerCoreOptions> ToLearnerCoreOptions(const config::LearnerServerConfig& c);

}  // namespace maskgrpo::learner
