// The reward server's Prometheus metric families, registered once; label values cached.
// Thread-safe (prometheus-cpp metrics are).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <string>

#include "rpc/sync.h"

namespace maskgrpo::reward {

class RewardMetrics {
 public:
  explicit RewardMetrics(prometheus::Registry& registry);

  // One finished Score RPC: its gRPC status code name ("OK", "INVALID_ARGUMENT", ...).
  void Request(const std::string& code, int images, double queue_seconds, double compute_seconds);
  void Batch(int size, double seconds);
  void QueueImages(int n) { queue_images_.Set(n); }
  void Component(const std::string& scorer, double value);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Counter& images_;
  prometheus::Histogram& queue_seconds_;
  prometheus::Histogram& compute_seconds_;
  prometheus::Histogram& batch_size_;
  prometheus::Histogram& batch_seconds_;
  prometheus::Gauge& queue_images_;
  prometheus::Family<prometheus::Histogram>& components_;
  sync::Mutex mu_;
  std::map<std::string, prometheus::Counter*> request_by_code_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, prometheus::Histogram*> component_by_scorer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace maskgrpo::reward
