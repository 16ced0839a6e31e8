#include "learner/learner_core.h"

#include "core/torch_api.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "core/grpo/advantages.h"
#include "core/grpo/run_folder.h"
#include "core/grpo/seed_mix.h"
#include "core/model_io.h"
#include "core/safetensors.h"
#include "rpc/convert.h"

namespace maskgrpo::learner {
namespace {

constexpr int64_t kRetryAfterMs = 200;

std::string RandomHex() {
  std::random_device rd;
  const uint64_t x = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(x));
  return buf;
}

}  // namespace

uint64_t LeaseSamplingSeed(uint64_t run_seed, int64_t lease_number) {
  const uint64_t s = grpo::MixSeed(run_seed, static_cast<uint64_t>(lease_number));
  return s == 0 ? 1 : s;  // 0 means "no seed" on the wire
}

const char* SubmitOutcomeName(SubmitOutcome o) {
  switch (o) {
    case SubmitOutcome::kAccepted: return "accepted";
    case SubmitOutcome::kDuplicate: return "duplicate";
    case SubmitOutcome::kResample: return "resample";
    case SubmitOutcome::kDropped: return "dropped";
  }
  return "?";
}

Status ValidateLearnerCoreOptions(const LearnerCoreOptions& o) {
  RETURN_IF_ERROR(grpo::ValidateTrainOptions(o.train));
  if (o.lease_timeout_ms < 1) return InvalidArgument("lease_timeout_ms must be >= 1");
  if (o.max_policy_lag < 0) return InvalidArgument("max_policy_lag must be >= 0");
  if (o.max_leases_per_request < 1) return InvalidArgument("max_leases_per_request must be >= 1");
  if (o.weights_versions_kept < 1) return InvalidArgument("weights_versions_kept must be >= 1");
  if (o.weights_fanout < 0 || o.weights_fanout > 64) return InvalidArgument("weights_fanout must be in [0, 64]");
  if (o.weights_relay_wait_ms < 0) return InvalidArgument("weights_relay_wait_ms must be >= 0");
  if (o.max_waiting_leases < 0) return InvalidArgument("max_waiting_leases must be >= 0");
  return Status::Ok();
}

LearnerCore::LearnerCore(const LearnerCoreOptions& options, LearnerHooks hooks, std::unique_ptr<World> world)
    : options_(options),
      hooks_(std::move(hooks)),
      world_(std::move(world)),
      train_prompts_(world_->prompts(PromptSplitKind::kTrain)),
      incarnation_(RandomHex()),
      filter_(options.train.filter),
      stream_(train_prompts_, options.train.seed, 0, options.train.task_weights) {
  if (!hooks_.log) hooks_.log = [](const std::string&) {};
}

LearnerCore::~LearnerCore() = default;

StatusOr<std::unique_ptr<LearnerCore>> LearnerCore::Create(const LearnerCoreOptions& options, LearnerHooks hooks) {
  RETURN_IF_ERROR(ValidateLearnerCoreOptions(options));
  ASSIGN_OR_RETURN(auto world, CreateWorld(options.train.world));
  if (world->prompts(PromptSplitKind::kTrain).empty()) return InvalidArgument("the world has no training prompts");
  RETURN_IF_ERROR(grpo::CheckTaskWeights(world->prompts(PromptSplitKind::kTrain), options.train.task_weights));
  std::unique_ptr<LearnerCore> core(new LearnerCore(options, std::move(hooks), std::move(world)));
  try {
    ASSIGN_OR_RETURN(core->learner_, grpo::CreateLearner(options.train, *core->world_));
    core->model_config_ = core->learner_->policy().config();
    // Before any RPC is served: a lease or status must never see the pre-resume state.
    RETURN_IF_ERROR(core->Restore());
  } catch (const c10::Error& e) {
    return Internal(std::string("learner setup failed: ") + e.what_without_backtrace());
  }
  return core;
}

// ---------------------------------------------------------------------------------------
// RPC side

std::map<std::string, LearnerCore::LeaseInfo>::iterator LearnerCore::Reissue(
    std::map<std::string, LeaseInfo>::iterator lease) {
  v1::PendingPrompt p;
  p.set_prompt_index(lease->second.prompt_index);
  p.set_resamples(lease->second.resamples);
  pending_.push_front(p);  // re-issued before new prompts
  // A group that still arrives for it is late, as for an expired lease (and the checkpoint
  // keeps the id, so it stays late after a restart).
  RememberExpired(lease->first);
  lease_cv_.SignalAll();
  return outstanding_.erase(lease);
}

void LearnerCore::ExpireLeases(int64_t now_ms) {
  for (auto it = outstanding_.begin(); it != outstanding_.end();) {
    if (it->second.deadline_unix_ms >= now_ms) {
      ++it;
      continue;
    }
    counters_.set_leases_expired(counters_.leases_expired() + 1);
    hooks_.log("lease " + it->first + " of worker " + it->second.worker_id + " expired; its prompt is re-issued");
    it = Reissue(it);
  }
}

int64_t LearnerCore::ReleaseUnheldLeases(const std::string& worker_id, const std::vector<std::string>& held) {
  const std::set<std::string> kept(held.begin(), held.end());
  int64_t released = 0;
  for (auto it = outstanding_.begin(); it != outstanding_.end();) {
    if (it->second.worker_id != worker_id || kept.count(it->first)) {
      ++it;
      continue;
    }
    ++released;
    counters_.set_leases_released(counters_.leases_released() + 1);
    hooks_.log("lease " + it->first + " of worker " + worker_id +
               " released (the worker no longer holds it); its prompt is re-issued");
    it = Reissue(it);
  }
  return released;
}

int64_t LeaseWindow(const LeaseRoomInputs& in) {
  const int64_t batches = in.max_policy_lag + 1 - (in.updating ? 1 : 0);
  return std::min(in.groups_per_update * batches, in.remaining_groups);
}

int64_t LeaseRoom(const LeaseRoomInputs& in) { return std::max<int64_t>(0, LeaseWindow(in) - in.usable_in_flight); }

int64_t FairShare(int64_t window, int64_t active_workers, int64_t held_by_worker) {
  const int64_t workers = std::max<int64_t>(1, active_workers);
  return std::max<int64_t>(0, (window + workers - 1) / workers - held_by_worker);
}

int LearnerCore::ActiveWorkers(const std::string& worker_id, int64_t now_ms) {
  workers_[worker_id].last_seen_ms = now_ms;
  for (auto it = workers_.begin(); it != workers_.end();) {
    it = now_ms - it->second.last_seen_ms > options_.lease_timeout_ms ? workers_.erase(it) : std::next(it);
  }
  return static_cast<int>(workers_.size());
}

Status LearnerCore::NoteWorkerInstance(const std::string& worker_id, const std::string& instance, int64_t now_ms) {
  WorkerSeen& w = workers_[worker_id];
  if (w.current == instance) {
    w.last_seen_ms = now_ms;
    return Status::Ok();
  }
  if (std::find(w.replaced.begin(), w.replaced.end(), instance) != w.replaced.end()) {
    hooks_.log("worker " + worker_id + ": refused a Lease from instance " + instance + ", which instance " + w.current +
               " replaced: two live processes share this worker_id");
    return InvalidArgument("worker_id \"" + worker_id + "\" is in use by another live worker process (instance " +
                           w.current + " took it over from this one, " + instance +
                           "): give every worker a unique worker_id (the default hostname:pid is unique)");
  }
  // A new process under this id: a restart (or the first call).
  if (!w.current.empty()) {
    w.replaced.push_back(w.current);
    if (w.replaced.size() > kReplacedInstancesKept) w.replaced.pop_front();
  }
  w.current = instance;
  w.last_seen_ms = now_ms;
  return Status::Ok();
}

StatusOr<LeaseBatch> LearnerCore::Lease(const std::string& worker_id, int max_leases, int64_t wait_ms,
                                        const std::vector<std::string>* held, const std::string& instance) {
  if (worker_id.empty() || worker_id.size() > kMaxWorkerIdChars) {
    return InvalidArgument("worker_id must have 1 to " + std::to_string(kMaxWorkerIdChars) + " characters");
  }
  if (max_leases < 1) return InvalidArgument("max_leases must be >= 1");
  if (wait_ms < 0) return InvalidArgument("wait_ms must be >= 0");
  if (instance.size() > kMaxWorkerInstanceChars) {
    return InvalidArgument("worker_instance must have at most " + std::to_string(kMaxWorkerInstanceChars) +
                           " characters");
  }
  if (held) {
    if (held->size() > kMaxHeldLeases) {
      return InvalidArgument("held_lease_ids lists " + std::to_string(held->size()) + " leases, more than " +
                             std::to_string(kMaxHeldLeases));
    }
    for (const auto& id : *held) {
      if (id.empty() || id.size() > kMaxLeaseIdChars) {
        return InvalidArgument("held_lease_ids: every id must have 1 to " + std::to_string(kMaxLeaseIdChars) +
                               " characters");
      }
    }
  }
  // The deadline is on the steady clock and a timed wait that returns early (a sanitizer's
  // runtime, a clock step) waits again for the rest: the call spends its whole wait_ms.
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(std::min(wait_ms, kMaxLeaseWaitMs));
  sync::MutexLock lock(&mu_);
  // Too many calls already held (each holds a server thread): this one is answered now.
  if (waiting_leases_ >= options_.max_waiting_leases) wait_ms = 0;
  if (!instance.empty()) RETURN_IF_ERROR(NoteWorkerInstance(worker_id, instance, rpc::NowUnixMs()));
  const int64_t released = held ? ReleaseUnheldLeases(worker_id, *held) : 0;
  while (true) {
    LeaseBatch out = TryLease(worker_id, max_leases);
    out.released = released;
    if (!out.leases.empty() || out.finished || stop_ || wait_ms == 0) return out;
    const Clock::time_point now = Clock::now();
    if (now >= deadline) {
      // The whole wait is spent: the caller may ask again at once.
      out.retry_after_ms = 1;
      return out;
    }
    // Counted only while it waits: between waits this call holds mu_, so no one sees it.
    ++waiting_leases_;
    lease_cv_.WaitWithTimeout(&mu_, absl::FromChrono(deadline - now));
    --waiting_leases_;
  }
}

LeaseBatch LearnerCore::TryLease(const std::string& worker_id, int max_leases) {
  const auto& t = options_.train;
  const int64_t now = rpc::NowUnixMs();
  ExpireLeases(now);
  LeaseBatch out;
  out.version = version_;
  out.finished = finished_;
  if (finished_ || stop_) {
    out.retry_after_ms = kRetryAfterMs;
    return out;
  }
  // Hand out only what can still be trained on (LeaseRoom). The next batch is taken at
  // version_ + 1 when one is being trained now, so groups older than that minus the lag are
  // already lost to staleness and do not fill the room.
  const int64_t next_batch_version = version_ + (updating_ ? 1 : 0);
  const int64_t oldest_usable = next_batch_version - options_.max_policy_lag;
  int64_t usable_in_flight = 0, held_by_worker = 0;
  for (const auto& q : queue_) usable_in_flight += q.group.policy_version >= oldest_usable ? 1 : 0;
  for (const auto& [id, l] : outstanding_) {
    if (l.version < oldest_usable) continue;
    ++usable_in_flight;
    if (l.worker_id == worker_id) ++held_by_worker;
  }
  LeaseRoomInputs room;
  room.groups_per_update = t.groups_per_update;
  room.max_policy_lag = options_.max_policy_lag;
  room.updating = updating_;
  room.remaining_groups = std::max<int64_t>(0, t.updates - next_batch_version) * t.groups_per_update;
  room.usable_in_flight = usable_in_flight;
  const int64_t share = FairShare(LeaseWindow(room), ActiveWorkers(worker_id, now), held_by_worker);
  const int64_t n = std::min<int64_t>({max_leases, options_.max_leases_per_request, LeaseRoom(room), share});
  if (n <= 0) {
    out.retry_after_ms = kRetryAfterMs;
    return out;
  }
  for (int64_t i = 0; i < n; ++i) {
    v1::PendingPrompt p;
    if (!pending_.empty()) {
      p = pending_.front();
      pending_.pop_front();
    } else {
      p.set_prompt_index(&stream_.Next() - train_prompts_.data());
    }
    const std::string id = incarnation_ + "-" + std::to_string(++lease_sequence_);
    LeaseInfo info;
    info.prompt_index = p.prompt_index();
    info.resamples = p.resamples();
    info.version = version_;
    info.deadline_unix_ms = now + options_.lease_timeout_ms;
    info.worker_id = worker_id;
    outstanding_[id] = info;
    const uint64_t seed = LeaseSamplingSeed(t.seed, counters_.leases_issued());
    counters_.set_leases_issued(counters_.leases_issued() + 1);
    out.leases.push_back({id, &train_prompts_[p.prompt_index()], info.deadline_unix_ms, seed});
  }
  return out;
}

Status LearnerCore::CheckGroup(const Submission& s, int64_t lease_version) const {
  const int64_t G = options_.train.group_size;
  if (s.trajectories.size() != G) {
    return InvalidArgument("group.group_size is " + std::to_string(s.trajectories.size()) + ", the learner uses " +
                           std::to_string(G));
  }
  if (s.trajectories.steps != options_.train.rollout.steps) {
    return InvalidArgument("group.steps is " + std::to_string(s.trajectories.steps) + ", the lease asked for " +
                           std::to_string(options_.train.rollout.steps));
  }
  grpo::ScoredGroup g;
  g.trajectories = s.trajectories;
  g.rewards = s.rewards;
  g.policy_version = lease_version;
  g.prompt = world_->UnconditionalPrompt(model_config_.text_len);  // shape only; the real one is set on admission
  return grpo::ValidateScoredGroup(model_config_, options_.train.learner.transition, lease_version, g);
}

void LearnerCore::RememberCompleted(const std::string& lease_id, SubmitOutcome outcome) {
  completed_[lease_id] = outcome;
  completed_order_.push_front(lease_id);
  while (completed_order_.size() > kCompletedKept) {
    completed_.erase(completed_order_.back());
    completed_order_.pop_back();
  }
}

void LearnerCore::RememberExpired(const std::string& lease_id) {
  expired_.insert(lease_id);
  expired_order_.push_front(lease_id);
  while (expired_order_.size() > kCompletedKept) {
    expired_.erase(expired_order_.back());
    expired_order_.pop_back();
  }
}

StatusOr<SubmitOutcome> LearnerCore::Submit(Submission s) {
  auto count_invalid = [this] {
    sync::MutexLock lock(&mu_);
    counters_.set_groups_invalid(counters_.groups_invalid() + 1);
  };
  if (s.lease_id.empty()) {
    count_invalid();
    return InvalidArgument("lease_id is empty");
  }
  // The lease: known, not expired, issued for the version the group claims, within the bound.
  LeaseInfo lease;
  {
    sync::MutexLock lock(&mu_);
    ExpireLeases(rpc::NowUnixMs());
    if (auto rejected = RejectDuplicateOrUnknown(s.lease_id)) return *rejected;
    lease = outstanding_.at(s.lease_id);
    if (s.policy_version != lease.version) {
      counters_.set_groups_invalid(counters_.groups_invalid() + 1);
      return InvalidArgument("policy_version: the lease was issued for version " + std::to_string(lease.version) +
                             ", the group says " + std::to_string(s.policy_version));
    }
  }
  // The group itself, checked without the lock (it may be large).
  Status checked = CheckGroup(s, lease.version);
  if (!checked.ok()) {
    count_invalid();
    return checked;
  }
  auto prompt = world_->EncodePrompts({train_prompts_[lease.prompt_index].text}, model_config_.text_len);
  if (!prompt.ok()) return prompt.status();
  const double group_std = grpo::UnbiasedStd(s.rewards);

  sync::MutexLock lock(&mu_);
  // Again: a concurrent duplicate may have won the race while the lock was released.
  if (auto rejected = RejectDuplicateOrUnknown(s.lease_id)) return *rejected;
  if (version_ - lease.version > options_.max_policy_lag) {
    // Too old to train on: the prompt goes back to be sampled at the current version.
    counters_.set_groups_stale(counters_.groups_stale() + 1);
    v1::PendingPrompt p;
    p.set_prompt_index(lease.prompt_index);
    p.set_resamples(lease.resamples);
    pending_.push_front(p);
    outstanding_.erase(s.lease_id);
    lease_cv_.SignalAll();
    return FailedPrecondition("policy_version: version " + std::to_string(lease.version) + " is " +
                              std::to_string(version_ - lease.version) + " versions behind the learner's " +
                              std::to_string(version_) + ", beyond max_policy_lag " +
                              std::to_string(options_.max_policy_lag));
  }
  outstanding_.erase(s.lease_id);
  SubmitOutcome outcome;
  switch (filter_.Decide(group_std, lease.resamples)) {
    case grpo::FilterDecision::kAccept: {
      QueuedGroup q;
      q.lease_id = s.lease_id;
      q.prompt_index = lease.prompt_index;
      q.group.prompt_text = train_prompts_[lease.prompt_index].text;
      q.group.prompt = std::move(*prompt);
      q.group.trajectories = std::move(s.trajectories);
      q.group.rewards = std::move(s.rewards);
      q.group.policy_version = lease.version;
      q.components = std::move(s.components);
      queue_.push_back(std::move(q));
      counters_.set_groups_accepted(counters_.groups_accepted() + 1);
      {
        // Under mu_: the ledger's order of admissions, updates and snapshots is the state's.
        Json line;
        line["event"] = "admit";
        line["lease"] = s.lease_id;
        line["worker"] = s.worker_id;
        line["prompt_index"] = lease.prompt_index;
        line["policy_version"] = lease.version;
        line["version"] = version_;
        Record(std::move(line));
      }
      queue_cv_.Signal();
      outcome = SubmitOutcome::kAccepted;
      break;
    }
    case grpo::FilterDecision::kResample: {
      v1::PendingPrompt p;
      p.set_prompt_index(lease.prompt_index);
      p.set_resamples(lease.resamples + 1);
      pending_.push_front(p);
      counters_.set_groups_resampled(counters_.groups_resampled() + 1);
      outcome = SubmitOutcome::kResample;
      break;
    }
    default:
      counters_.set_groups_dropped(counters_.groups_dropped() + 1);
      outcome = SubmitOutcome::kDropped;
  }
  RememberCompleted(s.lease_id, outcome);
  lease_cv_.SignalAll();  // a lease is freed, and a resampled prompt may be pending
  return outcome;
}

std::shared_ptr<const rpc::WeightsSnapshot> LearnerCore::Weights(int64_t version) const {
  sync::MutexLock lock(&mu_);
  auto it = weights_.find(version);
  return it == weights_.end() ? nullptr : it->second;
}

LearnerStatusSnapshot LearnerCore::GetStatus() const {
  sync::MutexLock lock(&mu_);
  LearnerStatusSnapshot s;
  s.version = version_;
  s.target_updates = options_.train.updates;
  s.finished = finished_;
  s.queued_groups = static_cast<int64_t>(queue_.size());
  s.outstanding_leases = static_cast<int64_t>(outstanding_.size());
  s.pending_prompts = static_cast<int64_t>(pending_.size());
  s.counters = counters_;
  s.last_reward_mean = last_reward_mean_;
  s.last_eval_overall = last_eval_overall_;
  s.last_eval_version = last_eval_version_;
  return s;
}

bool LearnerCore::IssuedAfterTheRestoredCheckpoint(const std::string& lease_id) const {
  const size_t dash = lease_id.rfind('-');
  if (dash == std::string::npos) return false;
  const std::string number = lease_id.substr(dash + 1);
  if (number.empty() || number.size() > 18 || number.find_first_not_of("0123456789") != std::string::npos) return false;
  const int64_t n = std::stoll(number);
  for (const auto& [incarnation, after] : lost_leases_) {
    if (lease_id.compare(0, dash, incarnation) == 0 && incarnation.size() == dash && n > after) return true;
  }
  return false;
}

std::optional<StatusOr<SubmitOutcome>> LearnerCore::RejectDuplicateOrUnknown(const std::string& lease_id) {
  if (completed_.count(lease_id)) {
    counters_.set_groups_duplicate(counters_.groups_duplicate() + 1);
    return StatusOr<SubmitOutcome>(SubmitOutcome::kDuplicate);
  }
  if (expired_.count(lease_id)) {
    counters_.set_groups_late(counters_.groups_late() + 1);
    return StatusOr<SubmitOutcome>(FailedPrecondition(
        "lease_id: lease '" + lease_id + "' expired (lease_timeout_ms " + std::to_string(options_.lease_timeout_ms) +
        ") or was released (its worker stopped listing it) before its group arrived; its prompt was re-issued"));
  }
  if (!outstanding_.count(lease_id) && IssuedAfterTheRestoredCheckpoint(lease_id)) {
    // The learner restarted from a checkpoint older than this lease: a worker's work lost to
    // the crash, not a bad group. Its prompt comes again: the prompt stream resumed from the
    // checkpoint's position.
    counters_.set_groups_late(counters_.groups_late() + 1);
    return StatusOr<SubmitOutcome>(FailedPrecondition(
        "lease_id: lease '" + lease_id +
        "' was issued by an earlier learner process after the checkpoint a restart resumed from (or before any), "
        "and lost with it: the group is refused and its prompt drawn again"));
  }
  if (!outstanding_.count(lease_id)) {
    counters_.set_groups_invalid(counters_.groups_invalid() + 1);
    return StatusOr<SubmitOutcome>(FailedPrecondition("lease_id: unknown lease '" + lease_id +
                                                      "' (not issued by this learner, or expired too long ago to be remembered)"));
  }
  return std::nullopt;
}

void LearnerCore::Record(Json line) {
  if (!ledger_) return;
  Status st = ledger_->Append(std::move(line));
  if (!st.ok()) hooks_.log("ledger: " + st.ToString());
}

void LearnerCore::CountInvalid() {
  sync::MutexLock lock(&mu_);
  counters_.set_groups_invalid(counters_.groups_invalid() + 1);
}

void LearnerCore::Stop() {
  sync::MutexLock lock(&mu_);
  stop_ = true;
  queue_cv_.SignalAll();
  lease_cv_.SignalAll();
}

}  // namespace maskgrpo::learner
