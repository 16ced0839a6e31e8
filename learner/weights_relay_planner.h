// Weight fan-out, the learner's side: decides where each worker fetches a version from, so
// that the learner streams each version `fanout` times and every worker that holds it (and
// serves it, rollout_worker relay_listen) streams it to at most `fanout` others at once: a
// tree whose holders multiply every round, instead of N pulls from the learner.
//
// Robustness over optimality: a worker whose relay failed, or that waited `wait_ms` for a
// free source, is sent to the learner (the pull path is kept for late joiners, restarts and
// dead relays); an assignment that is never confirmed frees its slot after
// `assignment_timeout_ms`. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "rpc/sync.h"

namespace maskgrpo::learner {

struct RelayPlannerOptions {
  int fanout = 0;  // 0: every worker fetches from the learner
  int64_t wait_ms = 30000;
  int64_t assignment_timeout_ms = 120000;
  int64_t retry_after_ms = 25;  // how soon a waiting worker asks again
};

// How a choice was made, for the learner's metric (maskgrpo_learner_weights_sources_total).
enum class WeightsSourceKind {
  kNone,      // fan-out off: the worker fetches from the learner as without a planner
  kWait,      // no source free yet: ask again after retry_after_ms
  kLearner,   // one of the learner's `fanout` streams, or no one holds the version yet
  kRelay,     // a worker that holds the version
  kFallback,  // the learner, after a failed relay or a wait of wait_ms
};
const char* WeightsSourceKindName(WeightsSourceKind kind);

struct WeightsSourceChoice {
  std::string source;          // a relay address; "" = the learner
  int64_t retry_after_ms = 0;  // > 0: no source free yet
  WeightsSourceKind kind = WeightsSourceKind::kNone;
};

struct RelayPlannerCounts {
  int64_t from_learner = 0;  // assignments to the learner
  int64_t from_relays = 0;   // assignments to a relay
  int64_t fallbacks = 0;     // to the learner after a failed relay or a long wait
  int64_t relays = 0;        // workers serving a version now
};

class WeightsRelayPlanner {
 public:
  explicit WeightsRelayPlanner(const RelayPlannerOptions& options) : options_(options) {}

  // Where `worker` should fetch `version` from. `failed_source`: the relay its last fetch
  // failed from ("" = none): no one is sent to that address for `assignment_timeout_ms`,
  // whatever it reports meanwhile.
  WeightsSourceChoice Choose(const std::string& worker, int64_t version, const std::string& failed_source,
                             int64_t now_ms);
  // `worker` applied `version`; with a `relay_address` it now serves that version (and no
  // longer an older one).
  void Held(const std::string& worker, int64_t version, const std::string& relay_address, int64_t now_ms);
  // Forgets relays that hold only versions older than `oldest_served` (the learner no
  // longer hands them out).
  void Forget(int64_t oldest_served);
  RelayPlannerCounts Counts() const;

 private:
  struct Relay {
    int64_t version = 0;
    std::string address;
  };
  struct Assignment {
    int64_t version = 0;
    std::string relay_worker;  // "" = the learner
    int64_t since_ms = 0;
  };
  void ExpireAssignments(int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int Children(const std::string& relay_worker, int64_t version) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  WeightsSourceChoice Assign(const std::string& worker, int64_t version, const std::string& relay_worker,
                             WeightsSourceKind kind, int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RelayPlannerOptions options_;
  mutable sync::Mutex mu_;
  std::map<std::string, Relay> relays_ ABSL_GUARDED_BY(mu_);            // by worker id
  std::map<std::string, Assignment> assignments_ ABSL_GUARDED_BY(mu_);  // by fetching worker id
  // By worker id: the version it waits for and since when (for wait_ms).
  std::map<std::string, std::pair<int64_t, int64_t>> waiting_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> failed_until_ms_ ABSL_GUARDED_BY(mu_);  // by relay address
  std::map<int64_t, int64_t> learner_copies_ ABSL_GUARDED_BY(mu_);       // streams of each version from the learner
  RelayPlannerCounts counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace maskgrpo::learner
