#include "reward_server/reward_metrics.h"

#include "rpc/metric_buckets.h"

namespace maskgrpo::reward {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

RewardMetrics::RewardMetrics(prometheus::Registry& r)
    : requests_(BuildCounter().Name("maskgrpo_reward_requests_total").Help("Score RPCs by gRPC status code").Register(r)),
      images_(BuildCounter().Name("maskgrpo_reward_images_total").Help("Images scored").Register(r).Add({})),
      queue_seconds_(BuildHistogram()
                         .Name("maskgrpo_reward_request_queue_seconds")
                         .Help("Time a Score RPC's first image waited in the batch queue")
                         .Register(r)
                         .Add({}, rpc::LatencyBuckets())),
      compute_seconds_(BuildHistogram()
                           .Name("maskgrpo_reward_request_compute_seconds")
                           .Help("Time from a Score RPC's first batch to its reply")
                           .Register(r)
                           .Add({}, rpc::LatencyBuckets())),
      batch_size_(BuildHistogram()
                      .Name("maskgrpo_reward_batch_size")
                      .Help("Images per scorer batch")
                      .Register(r)
                      .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512})),
      batch_seconds_(BuildHistogram()
                         .Name("maskgrpo_reward_batch_seconds")
                         .Help("Seconds spent scoring one batch")
                         .Register(r)
                         .Add({}, rpc::LatencyBuckets())),
      queue_images_(BuildGauge().Name("maskgrpo_reward_queue_images").Help("Images waiting in the batch queue").Register(r).Add({})),
      components_(BuildHistogram()
                      .Name("maskgrpo_reward_component_value")
                      .Help("Each scorer's unweighted value per image")
                      .Register(r)) {}

void RewardMetrics::Request(const std::string& code, int images, double queue_seconds, double compute_seconds) {
  prometheus::Counter* counter;
  {
    sync::MutexLock lock(&mu_);
    auto& c = request_by_code_[code];
    if (!c) c = &requests_.Add({{"code", code}});
    counter = c;
  }
  counter->Increment();
  if (code != "OK") return;
  images_.Increment(images);
  queue_seconds_.Observe(queue_seconds);
  compute_seconds_.Observe(compute_seconds);
}

void RewardMetrics::Batch(int size, double seconds) {
  batch_size_.Observe(size);
  batch_seconds_.Observe(seconds);
}

void RewardMetrics::Component(const std::string& scorer, double value) {
  prometheus::Histogram* h;
  {
    sync::MutexLock lock(&mu_);
    auto& c = component_by_scorer_[scorer];
    if (!c) {
      c = &components_.Add({{"scorer", scorer}},
                           prometheus::Histogram::BucketBoundaries{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1});
    }
    h = c;
  }
  h->Observe(value);
}

}  // namespace maskgrpo::reward
