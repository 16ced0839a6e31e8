// The services' logging facade over spdlog: one line per event, with the component name
// (and whatever context the caller puts in the message: worker id, version, lease).
// Thread-safe. Secrets (tokens) are never passed here.
#pragma once

#include <string>

namespace maskgrpo::log {

// Names the process in every line, e.g. "learner", "rollout_worker[w1]". Call once.
void Init(const std::string& component);
void Info(const std::string& message);
void Warn(const std::string& message);
void Error(const std::string& message);

}  // namespace maskgrpo::log
