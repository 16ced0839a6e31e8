#include "rollout_worker/worker.h"

#include "core/torch_api.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "core/grpo/rollout.h"
#include "core/json.h"
#include "core/model_config.h"
#include "core/weight_probe.h"
#include "rollout_worker/backoff.h"
#include "rpc/convert.h"

namespace maskgrpo::worker {
namespace {

uint64_t Mix(uint64_t a, uint64_t b) {
  uint64_t x = (a + 0x9E3779B97F4A7C15ull) * 0xBF58476D1CE4E5B9ull ^ (b * 0x94D049BB133111EBull);
  return x ^ (x >> 31);
}

// Fault injection for tests only (tests/service_test.cc): MASKGRPO_FAILPOINT=swap_weights_after_crc
// swaps two same-shaped tensors of every fetched version after the stream's checksums
// passed, as a sender or loader bug would; the weight probe must catch it.
bool SwapWeightsFailpoint() {
  const char* v = std::getenv("MASKGRPO_FAILPOINT");
  return v != nullptr && std::string(v) == "swap_weights_after_crc";
}

void SwapTwoSameShapedTensors(std::map<std::string, at::Tensor>* tensors) {
  for (auto a = tensors->begin(); a != tensors->end(); ++a) {
    for (auto b = std::next(a); b != tensors->end(); ++b) {
      if (a->second.dim() == 2 && a->second.sizes() == b->second.sizes() && !torch::equal(a->second, b->second)) {
        std::swap(a->second, b->second);
        return;
      }
    }
  }
}

// 16 hex digits from the system's entropy source and the clock: unique per process start.
std::string NewInstanceToken() {
  std::random_device rd;
  const uint64_t clock = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  const uint64_t v = Mix((static_cast<uint64_t>(rd()) << 32) ^ rd(), clock);
  char out[17];
  std::snprintf(out, sizeof(out), "%016llx", static_cast<unsigned long long>(v));
  return out;
}

const char* OutcomeName(v1::SubmitReply::Outcome o) {
  switch (o) {
    case v1::SubmitReply::ACCEPTED: return "accepted";
    case v1::SubmitReply::DUPLICATE: return "duplicate";
    case v1::SubmitReply::RESAMPLE: return "resample";
    case v1::SubmitReply::DROPPED: return "dropped";
    default: return "unknown";
  }
}

}  // namespace

RolloutWorker::RolloutWorker(const WorkerOptions& options, const World* world, LearnerClient* learner,
                             RewardClient* rewards, WorkerMetrics* metrics, std::function<void(const std::string&)> log)
    : options_(options),
      instance_(NewInstanceToken()),
      learner_(learner),
      rewards_(rewards),
      metrics_(metrics),
      log_(std::move(log)),
      world_(world),
      fetcher_(learner, options.worker_id, options.relay, options.relay_address, options.relay_wait_max, log_,
               options.fetch_from_relays) {
  if (SwapWeightsFailpoint()) log_("WARNING: failpoint swap_weights_after_crc is set (tests only): weights will be corrupted");
  scorer_ = std::thread([this] { ScoreAndSubmitLoop(); });
}

RolloutWorker::~RolloutWorker() {
  Stop();
  scorer_.join();
}

void RolloutWorker::Stop() {
  stop_ = true;
  learner_->CancelLeases();  // a long-polling Lease would otherwise hold the stop for up to lease_wait_ms
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
}

Status RolloutWorker::SyncWeights(int64_t version) {
  if (model_ && model_version_ == version) return Status::Ok();
  std::string relay;
  ASSIGN_OR_RETURN(FetchedWeights w, fetcher_.Fetch(version, model_ ? held_frozen_fingerprint_ : 0, &relay,
                                                    [this] { return Stopping(); }));
  // Weights from a relay that do not apply or fail the probe: report that relay next time.
  struct BadRelayOnError {
    WeightsFetcher* fetcher;
    const std::string& relay;
    bool ok = false;
    ~BadRelayOnError() {
      if (!ok && !relay.empty()) fetcher->ReportBadRelay(relay);
    }
  } mark_bad{&fetcher_, relay};
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(Json config_json, Json::Parse(w.model_config_json));
  auto config = ModelConfig::FromJson(config_json);
  if (!config.ok()) return InvalidArgument("weights stream: model config: " + config.status().message());
  // A learner of another world (or a misconfigured worker) is an error to fix, not to retry.
  if (Status fits = world_->CheckModel(*config); !fits.ok()) {
    return FailedPrecondition("the learner's model does not fit this worker's world '" + world_->name() +
                              "': " + fits.message());
  }
  if (!model_ || !(model_->config().ToJson().Dump() == config->ToJson().Dump())) {
    if (w.trained_only) {
      // The frozen parameters were for the model this worker held (the client checked the
      // fingerprint), not for a new shape: fetch the whole model next time.
      held_frozen_fingerprint_ = 0;
      return DataLoss("weights of version " + std::to_string(version) +
                      ": trained parameters only, but the model's shape changed");
    }
    ASSIGN_OR_RETURN(model_, MaskedTransformer::Create(*config, options_.device, /*init_seed=*/0));
    model_version_ = -1;
  }
  if (SwapWeightsFailpoint()) SwapTwoSameShapedTensors(&w.tensors);
  // LoadState checks every tensor before changing any: the model is never half-updated.
  // Until the probe passes, the frozen parameters count as not held (a failed apply or
  // probe makes the next fetch a whole one).
  model_version_ = -1;
  held_frozen_fingerprint_ = 0;
  Status loaded = model_->LoadState(
      w.tensors, w.trained_only ? MaskedTransformer::Coverage::kSubset : MaskedTransformer::Coverage::kAll);
  if (!loaded.ok()) return DataLoss("weights of version " + std::to_string(version) + ": " + loaded.message());
  // Verified weight sync: recompute the learner's probe with the weights as applied.
  if (w.probe.positions_size() > 0) {
    Status probed = CheckWeightProbe(*model_, rpc::FromProto(w.probe));
    if (metrics_) metrics_->WeightProbe(probed.ok());
    if (!probed.ok()) {
      // model_version_ stays -1: nothing is sampled with these weights; the next lease
      // fetches them again.
      return DataLoss("weights of version " + std::to_string(version) + " refused: " + probed.message());
    }
  } else if (!warned_no_probe_) {
    warned_no_probe_ = true;
    log_("the learner sends no weight probe: weights are applied unverified");
  }
  model_version_ = version;
  held_frozen_fingerprint_ = w.frozen_fingerprint;
  mark_bad.ok = true;
  const double seconds = w.seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (metrics_) metrics_->WeightSync(w.bytes, seconds, version);
  char buf[160];
  std::snprintf(buf, sizeof(buf), "weights of version %lld applied (%.2f MB in %.2fs%s)", static_cast<long long>(version),
                static_cast<double>(w.bytes) / 1e6, seconds, w.trained_only ? ", trained parameters only" : "");
  log_(std::string(buf) + (relay.empty() ? "" : ", from relay " + relay));
  fetcher_.Held(w);
  return Status::Ok();
}

uint64_t SamplingSeed(const v1::LeaseReply& reply, uint64_t worker_seed, int64_t call) {
  if (reply.leases_size() > 0 && reply.leases(0).sampling_seed() != 0) return reply.leases(0).sampling_seed();
  return Mix(worker_seed, static_cast<uint64_t>(call));
}

StatusOr<LeaseWork> ReadLeaseReply(const v1::LeaseReply& reply, int max_leases, int64_t image_tokens) {
  if (reply.policy_version() < 0) {
    return InvalidArgument("lease reply: policy_version must be >= 0, got " + std::to_string(reply.policy_version()));
  }
  if (reply.group_size() < 2 || reply.group_size() > grpo::kMaxGroupSize) {
    return InvalidArgument("lease reply: group_size must be in [2, " + std::to_string(grpo::kMaxGroupSize) + "], got " +
                           std::to_string(reply.group_size()));
  }
  if (reply.leases_size() < 1 || reply.leases_size() > max_leases) {
    return InvalidArgument("lease reply: " + std::to_string(reply.leases_size()) + " leases for a request of at most " +
                           std::to_string(max_leases));
  }
  LeaseWork work;
  work.group_size = reply.group_size();
  const auto& s = reply.sampling();
  work.sampling.steps = s.steps();
  work.sampling.guidance = s.guidance();
  work.sampling.temperature = s.temperature();
  work.sampling.gumbel_tau0 = s.gumbel_tau0();
  work.sampling.record_full = reply.record_full();
  work.sampling.candidate1_edge = reply.candidate1_noise_edge() ? Candidate1Edge::kNoise : Candidate1Edge::kFixed;
  if (Status st = CheckSampleSettings(work.sampling); !st.ok()) return InvalidArgument("lease reply: " + st.message());
  if (s.steps() > image_tokens) {
    return InvalidArgument("lease reply: sampling.steps must not exceed the model's " + std::to_string(image_tokens) +
                           " image tokens, got " + std::to_string(s.steps()));
  }
  if (s.temperature() != 1.0) {
    return InvalidArgument("lease reply: sampling.temperature must be 1 (the learner replays at temperature 1), got " +
                           std::to_string(s.temperature()));
  }
  for (int i = 0; i < reply.leases_size(); ++i) {
    auto prompt = rpc::FromProto(reply.leases(i).prompt(), "lease reply: leases[" + std::to_string(i) + "].prompt");
    if (!prompt.ok()) return prompt.status();
    work.prompts.push_back(std::move(*prompt));
  }
  return work;
}

StatusOr<RolloutWorker::SampledBatch> RolloutWorker::Sample(const v1::LeaseReply& reply) {
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(LeaseWork work, ReadLeaseReply(reply, options_.leases_per_request, model_->config().image_len));
  std::vector<const Prompt*> spec_ptrs;
  for (const auto& s : work.prompts) spec_ptrs.push_back(&s);
  SampleOptions so = work.sampling;
  so.seed = SamplingSeed(reply, options_.seed, sample_calls_++);
  ASSIGN_OR_RETURN(auto groups,
                   grpo::SampleGroups(*model_, *world_, spec_ptrs, work.group_size, so, reply.policy_version()));
  SampledBatch batch;
  batch.version = reply.policy_version();
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& lease = reply.leases(static_cast<int>(g));
    batch.leases.push_back(lease);
    v1::SubmitRequest req;
    req.set_lease_id(lease.lease_id());
    req.set_worker_id(options_.worker_id);
    req.set_policy_version(reply.policy_version());
    auto& trajectories = groups[g].group.trajectories;
    if (!reply.record_full()) trajectories.logp_full = at::Tensor();  // not recorded (NaN): not sent
    rpc::ToProto(trajectories, req.mutable_group());
    batch.requests.push_back(std::move(req));
    std::vector<v1::ScoreItem> items;
    for (const auto& image : groups[g].images) {
      v1::ScoreItem item;
      rpc::ToProto(image, item.mutable_image());
      *item.mutable_prompt() = lease.prompt();
      items.push_back(std::move(item));
    }
    batch.items.push_back(std::move(items));
  }
  if (metrics_) {
    metrics_->Generated(static_cast<int>(groups.size()), static_cast<int>(groups.size()) * reply.group_size(),
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return batch;
}

void RolloutWorker::ScoreAndSubmit(SampledBatch batch) {
  for (size_t g = 0; g < batch.requests.size(); ++g) {
    auto& req = batch.requests[g];
    const auto& lease = batch.leases[g];
    RewardTiming timing;
    auto scores = rewards_->Score(batch.items[g], &timing);
    if (metrics_) metrics_->RewardRequest(timing.seconds, scores.ok());
    if (!scores.ok()) {
      // Never an invented reward: the group is dropped; its lease expires at the learner
      // and the prompt is sampled again.
      if (metrics_) metrics_->Group("reward_failure");
      log_("group of lease " + lease.lease_id() + " dropped: " + scores.status().ToString());
      ReleaseHeld(lease.lease_id());
      continue;
    }
    for (const auto& s : *scores) {
      req.add_rewards(s.reward());
      for (const auto& [name, value] : s.components()) (*req.mutable_reward_components())[name].add_values(value);
    }
    // Submission is idempotent at the learner, so a retry after a lost reply is safe.
    for (int attempt = 0;; ++attempt) {
      auto reply = learner_->Submit(req);
      if (reply.ok()) {
        submitted_++;
        if (metrics_) metrics_->Group(OutcomeName(reply->outcome()));
        break;
      }
      const auto code = reply.status().code();
      const bool retry = (code == StatusCode::kUnavailable || code == StatusCode::kDeadlineExceeded) &&
                         rpc::NowUnixMs() < lease.deadline_unix_ms() && !Stopping();
      if (retry) {
        learner_->PauseBeforeRetry(BackoffDelay(attempt, options_.backoff_initial, options_.backoff_max));
        continue;
      }
      if (metrics_) metrics_->Group(code == StatusCode::kFailedPrecondition ? "stale" : "rejected");
      log_("group of lease " + lease.lease_id() + " not admitted: " + reply.status().ToString());
      break;
    }
    ReleaseHeld(lease.lease_id());
  }
}

void RolloutWorker::ReleaseHeld(const std::string& lease_id) {
  std::lock_guard<std::mutex> lock(mu_);
  held_leases_.erase(lease_id);
}

void RolloutWorker::ScoreAndSubmitLoop() {
  while (true) {
    SampledBatch batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return !to_score_.empty() || stop_.load(); });
      if (to_score_.empty()) return;  // stopping and nothing left
      batch = std::move(to_score_.front());
      to_score_.pop_front();
      scorer_busy_ = true;
    }
    cv_.notify_all();
    ScoreAndSubmit(std::move(batch));
    {
      std::lock_guard<std::mutex> lock(mu_);
      scorer_busy_ = false;
    }
    cv_.notify_all();
  }
}

Status RolloutWorker::Run() {
  int failures = 0;
  // Consecutive failed weight syncs: each waits longer (up to backoff_max), since a worker
  // whose leases are released at once would otherwise fetch again and again.
  int sync_failures = 0;
  bool idle = false;  // the learner reported training finished (stay_after_finish)
  Status fatal;
  while (!Stopping()) {
    std::vector<std::string> held;
    {
      std::lock_guard<std::mutex> lock(mu_);
      held.assign(held_leases_.begin(), held_leases_.end());
    }
    auto reply = learner_->Lease(options_.worker_id, options_.leases_per_request,
                                 static_cast<int>(options_.lease_wait.count()), &held, instance_);
    if (!reply.ok()) {
      if (Stopping()) break;  // the call was cancelled by Stop
      if (metrics_) metrics_->LeaseError();
      if (reply.status().code() == StatusCode::kInvalidArgument) {
        fatal = reply.status();
        break;
      }
      if (failures == 0) log_("learner unreachable (" + reply.status().ToString() + "); retrying with backoff");
      learner_->PauseBeforeRetry(BackoffDelay(failures++, options_.backoff_initial, options_.backoff_max));
      continue;
    }
    if (failures > 0) log_("learner reachable again");
    failures = 0;
    if (reply->finished()) {
      if (!options_.stay_after_finish) {
        log_("the learner reports training finished");
        break;
      }
      if (!idle) log_("the learner reports training finished: staying up until stopped (stay_after_finish)");
      idle = true;
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, options_.backoff_max, [this] { return stop_.load(); });
      continue;
    }
    if (idle) log_("the learner is training again");
    idle = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& l : reply->leases()) held_leases_.insert(l.lease_id());
    }
    // Until the batch is queued for scoring, a failure below drops these leases.
    auto drop_leases = [&] {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& l : reply->leases()) held_leases_.erase(l.lease_id());
    };
    if (reply->leases_size() == 0) {
      // After a long poll the learner has already waited; without one, a floor keeps a
      // learner that answers retry_after_ms 0 from being asked in a busy loop.
      const int64_t floor_ms = options_.lease_wait.count() > 0 ? 1 : 50;
      std::this_thread::sleep_for(std::chrono::milliseconds(std::max<int64_t>(reply->retry_after_ms(), floor_ms)));
      continue;
    }
    Status synced = SyncWeights(reply->policy_version());
    if (!synced.ok()) {
      if (synced.code() == StatusCode::kInvalidArgument) {
        fatal = synced;
        break;
      }
      // The version moved on, the stream broke or the learner went away: lease again.
      log_("weights sync failed (" + synced.ToString() + "); leasing again");
      drop_leases();
      SleepBackoff(sync_failures++, options_.backoff_initial, options_.backoff_max);
      continue;
    }
    sync_failures = 0;
    auto batch = Sample(*reply);
    if (!batch.ok()) {
      drop_leases();
      fatal = batch.status();
      break;
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return to_score_.empty() || stop_.load(); });
    to_score_.push_back(std::move(*batch));
    cv_.notify_all();
  }
  // Let the groups already sampled be scored and submitted (unless stopping).
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return (to_score_.empty() && !scorer_busy_) || stop_.load(); });
  return fatal;
}

}  // namespace maskgrpo::worker
