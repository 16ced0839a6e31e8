// The learner's Prometheus metric families, registered once; labelled series cached.
// Thread-safe. Counters that the core keeps (groups by outcome, leases) are mirrored by
// Sync(), which the main loop calls a few times a second.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <string>

#include "rpc/sync.h"
#include "core/grpo/learner.h"
#include "core/json.h"
#include "learner/learner_core.h"

namespace maskgrpo::learner {

class LearnerMetrics {
 public:
  explicit LearnerMetrics(prometheus::Registry& registry);

  void Rpc(const std::string& method, const std::string& code);
  void WeightsServed(int64_t bytes, double seconds);
  // Weight fan-out: a worker was sent to `source` ("learner", "relay" or "fallback", the
  // learner after a failed relay or a long wait).
  void WeightsSourceChosen(const std::string& source);
  void Update(const grpo::UpdateStats& s, double staleness_mean);
  void Eval(const Json& eval_line);
  // Reward components (scorers and "stat/..." image statistics): this update's means and
  // their baseline over the first updates of the run (those so far until there are 5).
  void Components(const std::map<std::string, double>& means, const std::map<std::string, double>& baseline,
                  double reward_baseline);
  void Sync(const LearnerStatusSnapshot& s);

 private:
  prometheus::Counter& GroupCounter(const std::string& outcome);

  prometheus::Family<prometheus::Counter>& rpcs_;
  prometheus::Family<prometheus::Counter>& groups_;
  prometheus::Counter& leases_issued_;
  prometheus::Counter& leases_expired_;
  prometheus::Counter& leases_released_;
  prometheus::Counter& weights_bytes_;
  prometheus::Family<prometheus::Counter>& weights_sources_;
  prometheus::Histogram& weights_seconds_;
  prometheus::Gauge& version_;
  prometheus::Gauge& queued_;
  prometheus::Gauge& finished_;
  prometheus::Gauge& outstanding_;
  prometheus::Histogram& staleness_;
  prometheus::Histogram& step_seconds_;
  prometheus::Gauge& loss_;
  prometheus::Gauge& reward_mean_;
  prometheus::Gauge& reward_std_;
  prometheus::Gauge& clip_fraction_;
  prometheus::Gauge& approx_kl_;
  prometheus::Gauge& entropy_;
  prometheus::Gauge& kl_;
  prometheus::Gauge& eval_overall_;
  prometheus::Family<prometheus::Gauge>& eval_task_;
  prometheus::Family<prometheus::Gauge>& component_mean_;
  prometheus::Family<prometheus::Gauge>& component_baseline_;
  prometheus::Gauge& reward_baseline_;
  sync::Mutex mu_;
  std::map<std::pair<std::string, std::string>, prometheus::Counter*> rpc_series_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> mirrored_ ABSL_GUARDED_BY(mu_);
};

}  // namespace maskgrpo::learner
