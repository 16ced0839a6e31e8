#include "learner/weights_relay_planner.h"

#include <vector>

namespace maskgrpo::learner {

const char* WeightsSourceKindName(WeightsSourceKind kind) {
  switch (kind) {
    case WeightsSourceKind::kNone: return "none";
    case WeightsSourceKind::kWait: return "wait";
    case WeightsSourceKind::kLearner: return "learner";
    case WeightsSourceKind::kRelay: return "relay";
    case WeightsSourceKind::kFallback: return "fallback";
  }
  return "?";
}

void WeightsRelayPlanner::ExpireAssignments(int64_t now_ms) {
  for (auto it = assignments_.begin(); it != assignments_.end();) {
    it = now_ms - it->second.since_ms >= options_.assignment_timeout_ms ? assignments_.erase(it) : std::next(it);
  }
}

int WeightsRelayPlanner::Children(const std::string& relay_worker, int64_t version) const {
  int n = 0;
  for (const auto& [worker, a] : assignments_) n += (a.relay_worker == relay_worker && a.version == version) ? 1 : 0;
  return n;
}

WeightsSourceChoice WeightsRelayPlanner::Assign(const std::string& worker, int64_t version,
                                                const std::string& relay_worker, WeightsSourceKind kind,
                                                int64_t now_ms) {
  assignments_[worker] = Assignment{version, relay_worker, now_ms};
  waiting_.erase(worker);
  WeightsSourceChoice choice;
  choice.kind = kind;
  if (kind == WeightsSourceKind::kFallback) {
    counts_.fallbacks++;
  } else if (relay_worker.empty()) {
    counts_.from_learner++;
  } else {
    counts_.from_relays++;
    choice.source = relays_.at(relay_worker).address;
  }
  return choice;
}

WeightsSourceChoice WeightsRelayPlanner::Choose(const std::string& worker, int64_t version,
                                                const std::string& failed_source, int64_t now_ms) {
  if (options_.fanout <= 0) return {};
  sync::MutexLock lock(&mu_);
  ExpireAssignments(now_ms);
  // Asking again means the last assignment is over (fetched elsewhere, or failed).
  assignments_.erase(worker);
  if (!failed_source.empty()) {
    failed_until_ms_[failed_source] = now_ms + options_.assignment_timeout_ms;
    for (auto it = relays_.begin(); it != relays_.end();) {
      it = it->second.address == failed_source ? relays_.erase(it) : std::next(it);
    }
    learner_copies_[version]++;
    return Assign(worker, version, "", WeightsSourceKind::kFallback, now_ms);
  }
  // The relay of this version with the fewest children, if one has room.
  const std::string* best = nullptr;
  int best_children = options_.fanout;
  for (const auto& [relay_worker, relay] : relays_) {
    if (relay.version != version || relay_worker == worker) continue;
    const int children = Children(relay_worker, version);
    if (children < best_children) {
      best = &relay_worker;
      best_children = children;
    }
  }
  if (best) return Assign(worker, version, *best, WeightsSourceKind::kRelay, now_ms);
  // The learner streams each version `fanout` times (its egress does not grow with the
  // workers), and again only when no one holds the version or is about to.
  bool held_or_coming = false;
  for (const auto& [relay_worker, relay] : relays_) held_or_coming = held_or_coming || relay.version == version;
  for (const auto& [w, a] : assignments_) held_or_coming = held_or_coming || a.version == version;
  if (learner_copies_[version] < options_.fanout || !held_or_coming) {
    learner_copies_[version]++;
    return Assign(worker, version, "", WeightsSourceKind::kLearner, now_ms);
  }
  auto [it, inserted] = waiting_.try_emplace(worker, version, now_ms);
  if (!inserted && it->second.first != version) it->second = {version, now_ms};
  if (now_ms - it->second.second >= options_.wait_ms) {
    learner_copies_[version]++;
    return Assign(worker, version, "", WeightsSourceKind::kFallback, now_ms);
  }
  WeightsSourceChoice wait;
  wait.retry_after_ms = options_.retry_after_ms;
  wait.kind = WeightsSourceKind::kWait;
  return wait;
}

void WeightsRelayPlanner::Held(const std::string& worker, int64_t version, const std::string& relay_address,
                               int64_t now_ms) {
  sync::MutexLock lock(&mu_);
  assignments_.erase(worker);
  waiting_.erase(worker);
  for (auto it = failed_until_ms_.begin(); it != failed_until_ms_.end();) {
    it = now_ms >= it->second ? failed_until_ms_.erase(it) : std::next(it);
  }
  if (relay_address.empty() || failed_until_ms_.count(relay_address)) {
    relays_.erase(worker);
    return;
  }
  auto& relay = relays_[worker];
  if (version >= relay.version || relay.address != relay_address) relay = Relay{version, relay_address};
}

void WeightsRelayPlanner::Forget(int64_t oldest_served) {
  sync::MutexLock lock(&mu_);
  for (auto it = relays_.begin(); it != relays_.end();) {
    it = it->second.version < oldest_served ? relays_.erase(it) : std::next(it);
  }
  learner_copies_.erase(learner_copies_.begin(), learner_copies_.lower_bound(oldest_served));
}

RelayPlannerCounts WeightsRelayPlanner::Counts() const {
  sync::MutexLock lock(&mu_);
  RelayPlannerCounts c = counts_;
  c.relays = static_cast<int64_t>(relays_.size());
  return c;
}

}  // namespace maskgrpo::learner
