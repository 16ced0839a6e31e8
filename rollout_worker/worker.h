// The rollout worker's loop, without gRPC details: lease prompts, bring the weights to the
// leased version (fetched whole, checked, then applied at once between sampler calls),
// sample whole groups in one batched call, decode, and hand them to a scoring thread that
// asks the reward servers and submits, so that scoring one batch overlaps sampling the
// next. Stateless across restarts: everything it needs comes from the learner.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/runtime.h"
#include "core/grpo/rollout.h"
#include "core/sampler.h"
#include "core/world/registry.h"
#include "core/transformer.h"
#include "maskgrpo/learner.pb.h"
#include "rollout_worker/learner_client.h"
#include "rollout_worker/reward_client.h"
#include "rollout_worker/weights_relay.h"
#include "rollout_worker/worker_metrics.h"

namespace maskgrpo::worker {

struct WorkerOptions {
  std::string worker_id;
  DeviceOptions device;
  int leases_per_request = 1;
  // How long the learner may hold a lease call that has nothing to hand out (a long poll).
  std::chrono::milliseconds lease_wait{0};
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{5000};
  // Sampler seeds derive from (seed, call number) only when the learner sends none
  // (Lease.sampling_seed, SamplingSeed below).
  uint64_t seed = 0;
  WorldOptions world;  // must be the learner's: prompts are encoded and images decoded by it
  // Weight fan-out: this worker's relay (null = it serves nothing) and the address other
  // workers reach it at. Fetching from other workers' relays needs neither.
  WeightsRelayService* relay = nullptr;
  std::string relay_address;
  // false: every version from the learner, none from relays (learner_tls without
  // relay_client_tls: relays would be reached in plaintext).
  bool fetch_from_relays = true;
  // The longest this worker waits for the learner to name a free source before it fetches
  // from the learner itself (the learner bounds the wait too: weights_relay_wait_ms).
  std::chrono::milliseconds relay_wait_max{120000};
  // When the learner reports training finished: false, Run() returns; true, it asks again
  // every backoff_max until Stop() (and works again if the learner hands out leases).
  bool stay_after_finish = false;
};

// The seed a lease reply's groups are sampled with: the first lease's sampling_seed (set by
// the learner from the run's seed, so that the run's seed and not the worker decides the
// noise), or, from a learner that sends none (0), the worker's own stream: a mix of
// worker_seed and the call number.
uint64_t SamplingSeed(const v1::LeaseReply& reply, uint64_t worker_seed, int64_t call);

// What a lease reply asks the sampler for.
struct LeaseWork {
  std::vector<Prompt> prompts;  // one group each, in lease order
  int64_t group_size = 0;
  SampleOptions sampling;  // without the seed (SamplingSeed)
};

// Reads and checks a lease reply before anything is sampled, so that a reply the worker cannot
// sample as asked (a learner bug, a corrupted or foreign reply) is an error naming its field
// rather than a crash or a NaN: group_size in [2, grpo::kMaxGroupSize], at most `max_leases` leases
// (what the worker asked for), the sampling settings in CheckSampleSettings' ranges with steps
// <= `image_tokens` (the model's), temperature 1 (the learner replays at temperature 1), each
// lease's prompt well formed. Whether the prompt's words are known is the world's to say when
// it encodes them.
StatusOr<LeaseWork> ReadLeaseReply(const v1::LeaseReply& reply, int max_leases, int64_t image_tokens);

class RolloutWorker {
 public:
  // The world and the clients must outlive the worker; `metrics` may be null.
  RolloutWorker(const WorkerOptions& options, const World* world, LearnerClient* learner, RewardClient* rewards,
                WorkerMetrics* metrics, std::function<void(const std::string&)> log);
  ~RolloutWorker();

  // Runs until the learner reports training finished (OK; not with stay_after_finish),
  // Stop(), or an error that retrying cannot fix (e.g. a model the worker cannot build).
  Status Run();
  void Stop();

  int64_t groups_submitted() const { return submitted_.load(); }

 private:
  struct SampledBatch {
    int64_t version = 0;
    std::vector<v1::Lease> leases;
    std::vector<v1::SubmitRequest> requests;  // trajectories filled, rewards empty
    std::vector<std::vector<v1::ScoreItem>> items;  // per group: the images to score
  };
  Status SyncWeights(int64_t version);
  StatusOr<SampledBatch> Sample(const v1::LeaseReply& reply);
  void ScoreAndSubmitLoop();
  void ScoreAndSubmit(SampledBatch batch);
  bool Stopping() const { return stop_.load(); }

  WorkerOptions options_;
  // Drawn once per worker object and sent with every Lease call (LeaseRequest.worker_instance),
  // so that the learner can tell a restart under this worker_id from a second live process.
  const std::string instance_;
  LearnerClient* learner_;
  RewardClient* rewards_;
  WorkerMetrics* metrics_;
  std::function<void(const std::string&)> log_;
  const World* world_;
  WeightsFetcher fetcher_;  // where each version comes from (weight fan-out)
  std::unique_ptr<MaskedTransformer> model_;
  int64_t model_version_ = -1;  // -1 until a version is applied and its probe passed
  // The frozen parameters' fingerprint of the last stream applied whose probe passed (0:
  // none): sent with each fetch so that the learner leaves those parameters out.
  uint64_t held_frozen_fingerprint_ = 0;
  bool warned_no_probe_ = false;
  uint64_t sample_calls_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> submitted_{0};

  // One sampled batch may wait for the scoring thread: back-pressure beyond that.
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<SampledBatch> to_score_;
  bool scorer_busy_ = false;
  // The leases this worker holds, from the Lease reply until their group is submitted,
  // refused or dropped: reported with every Lease call, so that the learner re-issues at
  // once the prompts of leases this worker no longer holds (after a restart of either side).
  std::set<std::string> held_leases_;
  void ReleaseHeld(const std::string& lease_id);
  std::thread scorer_;
};

}  // namespace maskgrpo::worker
