// The rollout worker's Prometheus metric families, registered once. Thread-safe.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <string>

#include "rpc/sync.h"

namespace maskgrpo::worker {

class WorkerMetrics {
 public:
  explicit WorkerMetrics(prometheus::Registry& registry);
  void Generated(int groups, int images, double seconds);
  void RewardRequest(double seconds, bool ok);
  // Outcome of a group: accepted, duplicate, resample, dropped (the learner's answers) or
  // reward_failure, stale, rejected, submit_failure (never reached the learner's queue).
  void Group(const std::string& outcome);
  void WeightSync(int64_t bytes, double seconds, int64_t version);
  void LeaseError();
  // Verified weight sync: one probe computed after applying a version; failed = refused.
  void WeightProbe(bool passed);

 private:
  prometheus::Counter& images_;
  prometheus::Counter& groups_generated_;
  prometheus::Histogram& generation_seconds_;
  prometheus::Histogram& reward_seconds_;
  prometheus::Counter& reward_failures_;
  prometheus::Family<prometheus::Counter>& groups_;
  prometheus::Counter& sync_bytes_;
  prometheus::Histogram& sync_seconds_;
  prometheus::Gauge& version_;
  prometheus::Counter& lease_errors_;
  prometheus::Counter& probe_checks_;
  prometheus::Counter& probe_failures_;
  sync::Mutex mu_;
  std::map<std::string, prometheus::Counter*> by_outcome_ ABSL_GUARDED_BY(mu_);
};

}  // namespace maskgrpo::worker
