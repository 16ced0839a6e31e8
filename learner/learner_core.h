// The distributed learner, without gRPC: prompt leases, admission of scored groups (checks,
// staleness bound, the std filter with resampling), GRPO updates through grpo::GrpoLearner,
// versioned weight snapshots, checkpoints with the full state and periodic held-out eval.
//
// Threads: Run() is the one thread that owns the model (updates, eval, checkpoints). Lease,
// Submit, Weights and GetStatus are called from RPC threads; they take the state mutex
// briefly and never touch the model (a group's checks need only the model's shape).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "rpc/sync.h"
#include "core/grpo/run_folder.h"
#include "core/grpo/std_filter.h"
#include "core/grpo/train.h"
#include "core/world/world.h"
#include "learner/component_monitor.h"
#include "learner/ledger.h"
#include "maskgrpo/learner_state.pb.h"
#include "rpc/weights_stream.h"

namespace maskgrpo::learner {

struct LearnerCoreOptions {
  // The learner, filter, eval, rollout sampling, group size, updates and run folder, as for
  // the in-process trainer (stop_after and max_draws_factor are not used; dump_groups writes
  // groups/vNNNNNN/ as the trainer does, with the rewards the workers submitted).
  grpo::TrainOptions train;
  int64_t lease_timeout_ms = 120000;
  int64_t max_policy_lag = 1;        // versions between sampling and the update that uses it
  int32_t max_leases_per_request = 8;
  int64_t weights_versions_kept = 2;
  int32_t weights_fanout = 0;  // weight fan-out (learner/weights_relay_planner.h); 0 = off
  int64_t weights_relay_wait_ms = 30000;
  // Lease calls held at once waiting for room (each holds a server thread); more are
  // answered at once. 0 = no long polls.
  int32_t max_waiting_leases = 64;
};
Status ValidateLearnerCoreOptions(const LearnerCoreOptions& o);

// How many new leases the learner can still train on. A group leased now, at the published
// version V, is usable by the batches taken at versions V .. V + max_policy_lag; while an
// update is running its batch is already taken, so only V + 1 .. V + max_policy_lag are left
// (none at lag 0: such a group would arrive stale and be thrown away, after taking CPU from
// the update). Groups already in flight that those batches can use count against the room;
// so does the end of the run (`remaining_groups`).
struct LeaseRoomInputs {
  int64_t groups_per_update = 0;
  int64_t max_policy_lag = 0;
  bool updating = false;
  int64_t remaining_groups = 0;   // groups the updates not yet started still need
  int64_t usable_in_flight = 0;   // queued or leased groups those updates can still take
};
int64_t LeaseRoom(const LeaseRoomInputs& in);
// The groups those batches take in all (the room before in-flight groups are counted).
int64_t LeaseWindow(const LeaseRoomInputs& in);

// A worker's share of the window: with `active_workers` leasing (the asking one included),
// each may hold ceil(window / active_workers) usable leases, less those it already holds, so
// the first worker to ask cannot take a whole update while the others wait, whatever
// `leases_per_request` the workers are configured with.
int64_t FairShare(int64_t window, int64_t active_workers, int64_t held_by_worker);

struct LeaseGrant {
  std::string lease_id;
  const Prompt* prompt = nullptr;
  int64_t deadline_unix_ms = 0;
  uint64_t sampling_seed = 0;  // LeaseSamplingSeed: never 0
};

// The seed of the run's lease_number-th lease (Lease.sampling_seed, numbered by the
// checkpointed leases_issued counter): two runs with different seeds sample different noise,
// and a run resumed from a checkpoint hands out the seeds that followed that checkpoint
// before. Never 0.
uint64_t LeaseSamplingSeed(uint64_t run_seed, int64_t lease_number);

// The longest a Lease call waits for room (LeaseRequest.wait_ms is capped to it): long enough
// to span an update of a small model, short enough that a held call keeps neither a server
// thread nor a shutdown for long.
inline constexpr int64_t kMaxLeaseWaitMs = 5000;

// The longest worker_id any learner call takes: the learner keeps ids (fair shares, the relay
// planner, logs) until a worker has been gone a lease timeout, so their size is bounded.
inline constexpr size_t kMaxWorkerIdChars = 256;
// Bounds of a worker's report of the leases it holds (LeaseRequest.held_lease_ids).
inline constexpr size_t kMaxHeldLeases = 4096;
inline constexpr size_t kMaxLeaseIdChars = 256;
// Bounds of LeaseRequest.worker_instance, and how many replaced instances the learner
// remembers per worker_id (two processes sharing an id alternate, so the last few suffice).
inline constexpr size_t kMaxWorkerInstanceChars = 128;
inline constexpr size_t kReplacedInstancesKept = 8;

struct LeaseBatch {
  int64_t version = 0;
  std::vector<LeaseGrant> leases;
  int64_t retry_after_ms = 0;  // > 0 when nothing could be handed out now
  bool finished = false;
  int64_t released = 0;  // leases of this worker released because it no longer holds them
};

struct Submission {
  std::string lease_id;
  std::string worker_id;
  int64_t policy_version = 0;
  TrajectoryBatch trajectories;  // CPU tensors
  std::vector<double> rewards;
  ComponentValues components;    // the reward servers' per-scorer values and image statistics
};

enum class SubmitOutcome { kAccepted, kDuplicate, kResample, kDropped };
const char* SubmitOutcomeName(SubmitOutcome o);

struct LearnerStatusSnapshot {
  int64_t version = 0;
  int64_t target_updates = 0;
  bool finished = false;
  int64_t queued_groups = 0;
  int64_t outstanding_leases = 0;
  int64_t pending_prompts = 0;
  v1::LearnerCounters counters;
  double last_reward_mean = 0;
  double last_eval_overall = -1;
  int64_t last_eval_version = -1;
};

// Hooks for metrics and progress, called on the owner thread.
struct LearnerHooks {
  std::function<void(const grpo::UpdateStats&, double staleness_mean)> on_update;
  // The update's mean of each reward component, and their baseline: the mean over the run's
  // first updates (over those so far while there are fewer).
  std::function<void(const std::map<std::string, double>& means, const std::map<std::string, double>& baseline,
                     double reward_baseline)>
      on_components;
  std::function<void(int64_t version, const Json& eval_line)> on_eval;
  std::function<void(const std::string&)> log;
};

class LearnerCore {
 public:
  static StatusOr<std::unique_ptr<LearnerCore>> Create(const LearnerCoreOptions& options, LearnerHooks hooks);
  ~LearnerCore();

  // RPC side (thread-safe).
  // With `wait_ms` > 0 and nothing to hand out, the call waits (up to kMaxLeaseWaitMs, and
  // only while fewer than max_waiting_leases calls wait) for room: a published version, a
  // resampled or expired prompt, a freed lease. A worker then
  // starts sampling as soon as it can, instead of up to a retry_after_ms late.
  // With `held` (the worker's report of the leases it still holds), every other outstanding
  // lease of `worker_id` is released first, its prompt re-issued like an expired one's
  // (LeaseRequest.held_lease_ids says when that happens); null: the worker does not report.
  // A non-empty `instance` (LeaseRequest.worker_instance) that `worker_id` was already seen
  // to replace is refused with INVALID_ARGUMENT before anything is released: two live
  // processes share the id.
  StatusOr<LeaseBatch> Lease(const std::string& worker_id, int max_leases, int64_t wait_ms = 0,
                             const std::vector<std::string>* held = nullptr, const std::string& instance = {});
  // Errors: INVALID_ARGUMENT (malformed group, the field named), FAILED_PRECONDITION
  // (unknown lease, counted as invalid; expired or released lease, or one the previous
  // process issued after the checkpoint this one resumed from, counted as late; version
  // beyond the staleness bound, counted as stale). State is unchanged on error except for the error's
  // counter.
  StatusOr<SubmitOutcome> Submit(Submission submission);
  // Null when `version` is not (or no longer) held.
  std::shared_ptr<const rpc::WeightsSnapshot> Weights(int64_t version) const;
  LearnerStatusSnapshot GetStatus() const;
  // Counts a submission the adapter could not even decode.
  void CountInvalid();
  const LearnerCoreOptions& options() const { return options_; }
  const World& world() const { return *world_; }
  int64_t image_tokens() const { return model_config_.image_len; }

  // Owner side (Create has already resumed from the run folder's latest checkpoint, if
  // any, and published the weights): evaluates a fresh run first, then trains until
  // options.train.updates (returns OK), Stop() (returns OK with a checkpoint written), or
  // an error.
  Status Run();
  void Stop();

  // Loads the checkpoint folder `dir` as a resume would (weights, optimiser state,
  // learner_state.pb, every check Resume makes), then checks every floating-point tensor of
  // the weights and of the optimiser state, and every queued reward, for NaN/Inf. Returns
  // the figures as JSON ("ok", "version", "tensors_checked", "nonfinite": [names]); an error
  // when the folder does not load. Writes nothing.
  static StatusOr<Json> VerifyCheckpoint(const LearnerCoreOptions& options, const std::string& dir);

 private:
  // Lease ids remembered (completed ones for duplicate detection, expired ones to count late
  // groups as late), and how many of the newest of each a checkpoint keeps.
  static constexpr size_t kCompletedKept = 65536;
  static constexpr int kCompletedCheckpointed = 4096;
  struct LeaseInfo {
    int64_t prompt_index = 0;
    int64_t resamples = 0;
    int64_t version = 0;
    int64_t deadline_unix_ms = 0;
    std::string worker_id;
  };
  struct QueuedGroup {
    std::string lease_id;  // for the ledger
    int64_t prompt_index = 0;
    grpo::ScoredGroup group;
    ComponentValues components;  // monitoring only: not kept in checkpoints
  };

  LearnerCore(const LearnerCoreOptions& options, LearnerHooks hooks, std::unique_ptr<World> world);
  Status Restore();  // resume (or start fresh) and publish; called by Create
  Status Resume(const std::string& dir);
  Status Checkpoint();
  Status Evaluate(const std::string& label, grpo::ExistingEval existing = grpo::ExistingEval::kRedo);
  Status Publish() ABSL_LOCKS_EXCLUDED(mu_);
  void ExpireLeases(int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Releases the outstanding leases of `worker_id` that `held` leaves out; returns how many.
  int64_t ReleaseUnheldLeases(const std::string& worker_id, const std::vector<std::string>& held)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets an outstanding lease and queues its prompt to be issued next; returns the next one.
  std::map<std::string, LeaseInfo>::iterator Reissue(std::map<std::string, LeaseInfo>::iterator lease)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One attempt of Lease; `out.leases` is empty when there is no room now.
  LeaseBatch TryLease(const std::string& worker_id, int max_leases) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Notes that `worker_id` asks now; returns the workers that asked within one lease timeout
  // (longer than any sampling round of a live worker, which holds its leases meanwhile).
  int ActiveWorkers(const std::string& worker_id, int64_t now_ms) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Notes `instance` as `worker_id`'s current process; an error when it is one that a later
  // instance replaced (two live processes under one id). Its entry is ActiveWorkers's, so an
  // id not seen for a lease timeout is forgotten with it.
  Status NoteWorkerInstance(const std::string& worker_id, const std::string& instance, int64_t now_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether `lease_id` is one the incarnation whose checkpoint was restored issued after it.
  bool IssuedAfterTheRestoredCheckpoint(const std::string& lease_id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A submission for a lease already completed (a duplicate, counted), expired (late,
  // counted), issued after the restored checkpoint (late, counted) or never issued
  // (unknown, counted as invalid); nullopt when the lease is outstanding.
  std::optional<StatusOr<SubmitOutcome>> RejectDuplicateOrUnknown(const std::string& lease_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RememberCompleted(const std::string& lease_id, SubmitOutcome outcome) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RememberExpired(const std::string& lease_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status CheckGroup(const Submission& s, int64_t current_version) const;
  // Waits for a full update's worth of admitted groups; false on Stop().
  bool TakeBatch(std::vector<QueuedGroup>* batch, double* staleness_mean);

  const LearnerCoreOptions options_;
  LearnerHooks hooks_;
  const std::unique_ptr<World> world_;
  const std::vector<Prompt>& train_prompts_;    // world_'s training split
  std::unique_ptr<grpo::GrpoLearner> learner_;  // owner thread only
  ComponentMonitor monitor_;                     // owner thread only
  ModelConfig model_config_;
  std::string incarnation_;  // makes lease ids unique across restarts
  // Earlier processes whose leases numbered beyond a threshold are work lost to a crash
  // (refused as late, not invalid), newest last, at most kLostLeasesKept: at a restart, the
  // checkpoint's writer and the processes the ledger says resumed from the same checkpoint
  // (or, on a fresh start, started fresh too) and died before writing one of their own, all
  // with the checkpoint's lease count as threshold (lease numbers continue from it); and,
  // carried in every checkpoint, those of earlier restarts.
  static constexpr size_t kLostLeasesKept = 64;
  std::vector<std::pair<std::string, int64_t>> lost_leases_ ABSL_GUARDED_BY(mu_);
  // Notes which earlier processes' leases are lost work; called by Restore before this
  // process's own start line. `checkpoint` is null on a fresh start.
  void NoteLostLeases(const v1::LearnerState* checkpoint) ABSL_LOCKS_EXCLUDED(mu_);
  // What NoteLostLeases needs of the checkpoint Resume loaded: its writer, number, lease
  // count, version and lost_leases (nothing else: no queued groups).
  v1::LearnerState restored_state_;
  std::unique_ptr<Ledger> ledger_;  // opened by Restore; out_dir/ledger.jsonl
  Json resumed_from_;               // the snapshot Resume loaded (null on a fresh start)
  // Appends to the ledger; a failure is logged, not fatal (the ledger is evidence, not state).
  void Record(Json line);
  bool fresh_start_ = false;  // no checkpoint was found: Run evaluates the base first

  mutable sync::Mutex mu_;
  sync::CondVar queue_cv_;
  // Signalled whenever room for leases may have opened (see Lease's wait_ms).
  sync::CondVar lease_cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int waiting_leases_ ABSL_GUARDED_BY(mu_) = 0;  // Lease calls now held in a long poll
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool updating_ ABSL_GUARDED_BY(mu_) = false;  // a batch is taken, its update not yet published
  int64_t version_ ABSL_GUARDED_BY(mu_) = 0;  // the published version
  grpo::StdFilter filter_ ABSL_GUARDED_BY(mu_);
  grpo::PromptStream stream_ ABSL_GUARDED_BY(mu_);
  int64_t lease_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t checkpoint_seq_ ABSL_GUARDED_BY(mu_) = 0;  // snapshots taken by this incarnation
  std::deque<v1::PendingPrompt> pending_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, LeaseInfo> outstanding_ ABSL_GUARDED_BY(mu_);
  // Per worker id that asked within one lease timeout (FairShare counts them): when it last asked, and its process
  // tokens (LeaseRequest.worker_instance).
  struct WorkerSeen {
    int64_t last_seen_ms = 0;
    std::string current;               // the instance that asked last
    std::deque<std::string> replaced;  // newest last, at most kReplacedInstancesKept
  };
  std::map<std::string, WorkerSeen> workers_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> completed_order_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, SubmitOutcome> completed_ ABSL_GUARDED_BY(mu_);
  // Leases that expired in this incarnation, so that their late groups are told apart from
  // unknown lease ids (not checkpointed: after a restart a late group counts as invalid).
  std::deque<std::string> expired_order_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> expired_ ABSL_GUARDED_BY(mu_);
  std::deque<QueuedGroup> queue_ ABSL_GUARDED_BY(mu_);
  v1::LearnerCounters counters_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, std::shared_ptr<const rpc::WeightsSnapshot>> weights_ ABSL_GUARDED_BY(mu_);
  double last_reward_mean_ ABSL_GUARDED_BY(mu_) = 0;
  double last_eval_overall_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t last_eval_version_ ABSL_GUARDED_BY(mu_) = -1;
};

}  // namespace maskgrpo::learner
