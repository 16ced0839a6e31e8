#include "rollout_worker/worker_metrics.h"

#include "rpc/metric_buckets.h"

namespace maskgrpo::worker {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

WorkerMetrics::WorkerMetrics(prometheus::Registry& r)
    : images_(BuildCounter().Name("maskgrpo_worker_images_generated_total").Help("Images sampled").Register(r).Add({})),
      groups_generated_(BuildCounter().Name("maskgrpo_worker_groups_generated_total").Help("Groups sampled").Register(r).Add({})),
      generation_seconds_(BuildHistogram()
                              .Name("maskgrpo_worker_generation_seconds")
                              .Help("Seconds per sampler call (all groups of one lease reply, decoded)")
                              .Register(r)
                              .Add({}, rpc::LatencyBuckets())),
      reward_seconds_(BuildHistogram()
                          .Name("maskgrpo_worker_reward_request_seconds")
                          .Help("Seconds to score one group on the reward servers, retries included")
                          .Register(r)
                          .Add({}, rpc::LatencyBuckets())),
      reward_failures_(BuildCounter()
                           .Name("maskgrpo_worker_reward_failures_total")
                           .Help("Groups whose scoring failed after retries (the group is dropped)")
                           .Register(r)
                           .Add({})),
      groups_(BuildCounter().Name("maskgrpo_worker_groups_total").Help("Groups by final outcome").Register(r)),
      sync_bytes_(BuildCounter().Name("maskgrpo_worker_weight_sync_bytes_total").Help("Weight bytes received").Register(r).Add({})),
      sync_seconds_(BuildHistogram()
                        .Name("maskgrpo_worker_weight_sync_seconds")
                        .Help("Seconds per weights fetch and apply")
                        .Register(r)
                        .Add({}, rpc::LatencyBuckets())),
      version_(BuildGauge().Name("maskgrpo_worker_policy_version").Help("Policy version of the worker's weights").Register(r).Add({})),
      lease_errors_(BuildCounter().Name("maskgrpo_worker_lease_errors_total").Help("Failed Lease calls").Register(r).Add({})),
      probe_checks_(BuildCounter()
                        .Name("maskgrpo_worker_weight_probe_checks_total")
                        .Help("Weight probes computed after applying a version's weights")
                        .Register(r)
                        .Add({})),
      probe_failures_(BuildCounter()
                          .Name("maskgrpo_worker_weight_probe_failures_total")
                          .Help("Versions refused because the worker's log-probabilities disagreed with the learner's")
                          .Register(r)
                          .Add({})) {}

void WorkerMetrics::Generated(int groups, int images, double seconds) {
  groups_generated_.Increment(groups);
  images_.Increment(images);
  generation_seconds_.Observe(seconds);
}

void WorkerMetrics::RewardRequest(double seconds, bool ok) {
  if (ok) {
    reward_seconds_.Observe(seconds);
  } else {
    reward_failures_.Increment();
  }
}

void WorkerMetrics::Group(const std::string& outcome) {
  prometheus::Counter* c;
  {
    sync::MutexLock lock(&mu_);
    auto& slot = by_outcome_[outcome];
    if (!slot) slot = &groups_.Add({{"outcome", outcome}});
    c = slot;
  }
  c->Increment();
}

void WorkerMetrics::WeightSync(int64_t bytes, double seconds, int64_t version) {
  sync_bytes_.Increment(static_cast<double>(bytes));
  sync_seconds_.Observe(seconds);
  version_.Set(static_cast<double>(version));
}

void WorkerMetrics::LeaseError() { lease_errors_.Increment(); }

void WorkerMetrics::WeightProbe(bool passed) {
  probe_checks_.Increment();
  if (!passed) probe_failures_.Increment();
}

}  // namespace maskgrpo::worker
