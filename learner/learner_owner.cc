// LearnerCore's owner thread: updates, weight publishing, eval, checkpoints and resume.
#include "core/torch_api.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include <unistd.h>

#include "core/grpo/run_folder.h"
#include "core/model_io.h"
#include "core/safetensors.h"
#include "learner/learner_core.h"
#include "rpc/convert.h"

namespace maskgrpo::learner {
namespace {
using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

Status LearnerCore::Publish() {
  ASSIGN_OR_RETURN(auto snapshot, rpc::SnapshotWeights(learner_->policy(), learner_->version(), /*with_probe=*/true,
                                                          learner_->frozen_names()));
  sync::MutexLock lock(&mu_);
  weights_[snapshot->version] = snapshot;
  version_ = snapshot->version;
  updating_ = false;
  lease_cv_.SignalAll();
  while (static_cast<int64_t>(weights_.size()) > options_.weights_versions_kept) weights_.erase(weights_.begin());
  return Status::Ok();
}

bool LearnerCore::TakeBatch(std::vector<QueuedGroup>* batch, double* staleness_mean) {
  const auto& t = options_.train;
  sync::MutexLock lock(&mu_);
  while (!stop_) {
    ExpireLeases(std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count());
    // Groups that fell beyond the bound while queued go back as prompts.
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (version_ - it->group.policy_version <= options_.max_policy_lag) {
        ++it;
        continue;
      }
      v1::PendingPrompt p;
      p.set_prompt_index(it->prompt_index);
      pending_.push_front(p);
      counters_.set_groups_stale(counters_.groups_stale() + 1);
      {
        Json line;
        line["event"] = "stale";
        line["lease"] = it->lease_id;
        line["policy_version"] = it->group.policy_version;
        line["version"] = version_;
        Record(std::move(line));
      }
      it = queue_.erase(it);
      lease_cv_.SignalAll();
    }
    if (static_cast<int64_t>(queue_.size()) >= t.groups_per_update) {
      double lag = 0;
      for (int64_t i = 0; i < t.groups_per_update; ++i) {
        lag += static_cast<double>(version_ - queue_.front().group.policy_version);
        batch->push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      *staleness_mean = lag / static_cast<double>(t.groups_per_update);
      counters_.set_groups_trained(counters_.groups_trained() + t.groups_per_update);
      updating_ = true;  // until Publish: leases now serve only the batches after this one
      return true;
    }
    queue_cv_.WaitWithTimeout(&mu_, absl::Milliseconds(200));
  }
  return false;
}

Status LearnerCore::Evaluate(const std::string& label, grpo::ExistingEval existing) {
  grpo::MetricsLog metrics(options_.train.out_dir + "/metrics.jsonl");
  const int64_t version = learner_->version();
  if (!world_->has_judge()) {
    hooks_.log("eval " + label + " skipped: world '" + world_->name() + "' has no built-in judge");
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(Json line, grpo::EvaluateLearnerIntoRunFolder(*learner_, *world_, options_.train.eval,
                                                                  options_.train.out_dir, label, metrics, hooks_.log,
                                                                  existing));
  if (line.type() == Json::Type::kNull) return Status::Ok();  // the policy's evaluation was on disk
  {
    sync::MutexLock lock(&mu_);
    last_eval_overall_ = line.Find("overall")->as_number();
    last_eval_version_ = version;
  }
  if (hooks_.on_eval) hooks_.on_eval(version, line);
  return Status::Ok();
}

Status LearnerCore::Checkpoint() {
  const std::string name = grpo::VersionDir(learner_->version());
  const std::string dir = options_.train.out_dir + "/checkpoints/" + name;
  RETURN_IF_ERROR(learner_->SaveCheckpoint(dir));
  if (const int64_t pause = FailpointPauseMs("checkpoint_pause"); pause > 0) {
    hooks_.log("failpoint checkpoint_pause: checkpoint " + name + " half written, pausing " + std::to_string(pause) +
               " ms");
    std::this_thread::sleep_for(std::chrono::milliseconds(pause));
  }
  v1::LearnerState st;
  int64_t seq = 0;
  {
    sync::MutexLock lock(&mu_);
    seq = ++checkpoint_seq_;
    st.set_incarnation(incarnation_);
    st.set_checkpoint_seq(seq);
    st.set_version(learner_->version());
    st.set_seed(options_.train.seed);
    st.set_prompt_position(stream_.position());
    st.set_lease_sequence(lease_sequence_);
    for (const auto& p : pending_) *st.add_pending() = p;
    for (const auto& [id, l] : outstanding_) {
      auto* r = st.add_outstanding();
      r->set_lease_id(id);
      r->set_prompt_index(l.prompt_index);
      r->set_resamples(l.resamples);
      r->set_policy_version(l.version);
      r->set_deadline_unix_ms(l.deadline_unix_ms);
      r->set_worker_id(l.worker_id);
    }
    int kept = 0;
    for (const auto& id : completed_order_) {
      if (kept++ == kCompletedCheckpointed) break;
      st.add_completed_leases(id);
    }
    kept = 0;
    for (const auto& id : expired_order_) {
      if (kept++ == kCompletedCheckpointed) break;
      st.add_expired_leases(id);
    }
    for (const auto& [incarnation, after] : lost_leases_) {
      auto* lost = st.add_lost_leases();
      lost->set_incarnation(incarnation);
      lost->set_after_lease(after);
    }
    for (const auto& q : queue_) {
      auto* r = st.add_queued();
      rpc::ToProto(q.group.trajectories, r->mutable_group());
      for (double x : q.group.rewards) r->add_rewards(x);
      r->set_policy_version(q.group.policy_version);
      st.add_queued_prompt_index(q.prompt_index);
      st.add_queued_lease_id(q.lease_id);
    }
    *st.mutable_counters() = counters_;
    st.set_filter_json(filter_.ToJson().Dump());
    // The cut: what a resume from this snapshot keeps is the ledger up to this line.
    Json line;
    line["event"] = "checkpoint_snapshot";
    line["version"] = st.version();
    line["seq"] = seq;
    Json::Array queued;
    for (const auto& q : queue_) queued.push_back(q.lease_id);
    line["queued"] = queued;
    Record(std::move(line));
  }
  RETURN_IF_ERROR(WriteFileAtomically(dir + "/learner_state.pb", st.SerializeAsString()));
  RETURN_IF_ERROR(grpo::CommitCheckpoint(options_.train.out_dir, name, options_.train.keep_checkpoints));
  Json line;
  line["event"] = "checkpoint";
  line["version"] = st.version();
  line["seq"] = seq;
  Record(std::move(line));
  return Status::Ok();
}

Status LearnerCore::Resume(const std::string& dir) {
  const std::string path = dir + "/learner_state.pb";
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  v1::LearnerState st;
  if (!st.ParseFromString(bytes)) return DataLoss(path + ": not a LearnerState message");
  if (st.seed() != options_.train.seed) {
    return FailedPrecondition(path + " was written with seed " + std::to_string(st.seed()) + ", the config says " +
                              std::to_string(options_.train.seed));
  }
  const int64_t prompts = static_cast<int64_t>(train_prompts_.size());
  auto check_prompt = [&](int64_t idx, const char* what) -> Status {
    if (idx < 0 || idx >= prompts) return DataLoss(path + ": " + what + " names prompt " + std::to_string(idx));
    return Status::Ok();
  };
  for (const auto& p : st.pending()) RETURN_IF_ERROR(check_prompt(p.prompt_index(), "pending"));
  for (const auto& l : st.outstanding()) RETURN_IF_ERROR(check_prompt(l.prompt_index(), "outstanding"));
  if (st.queued_size() != st.queued_prompt_index_size()) return DataLoss(path + ": queued groups without prompts");
  std::deque<QueuedGroup> queue;
  for (int i = 0; i < st.queued_size(); ++i) {
    RETURN_IF_ERROR(check_prompt(st.queued_prompt_index(i), "queued"));
    const auto& r = st.queued(i);
    auto traj = rpc::FromProto(r.group(), model_config_.image_len, "queued[" + std::to_string(i) + "].group");
    if (!traj.ok()) return DataLoss(path + ": " + traj.status().message());
    QueuedGroup q;
    q.prompt_index = st.queued_prompt_index(i);
    if (i < st.queued_lease_id_size()) q.lease_id = st.queued_lease_id(i);
    q.group.prompt_text = train_prompts_[q.prompt_index].text;
    ASSIGN_OR_RETURN(q.group.prompt, world_->EncodePrompts({q.group.prompt_text}, model_config_.text_len));
    q.group.trajectories = std::move(*traj);
    q.group.rewards.assign(r.rewards().begin(), r.rewards().end());
    q.group.policy_version = r.policy_version();
    Status valid = grpo::ValidateScoredGroup(model_config_, options_.train.learner.transition, st.version(), q.group);
    if (!valid.ok()) return DataLoss(path + ": queued[" + std::to_string(i) + "]: " + valid.message());
    queue.push_back(std::move(q));
  }
  ASSIGN_OR_RETURN(Json filter_json, Json::Parse(st.filter_json()));
  grpo::StdFilter filter(options_.train.filter);
  RETURN_IF_ERROR(filter.FromJson(filter_json));
  // Everything checked: now change state.
  RETURN_IF_ERROR(learner_->LoadCheckpoint(dir));
  if (learner_->version() != st.version()) {
    return DataLoss(path + ": version " + std::to_string(st.version()) + " but the weights are at " +
                    std::to_string(learner_->version()));
  }
  restored_state_.Clear();
  restored_state_.set_incarnation(st.incarnation());
  restored_state_.set_checkpoint_seq(st.checkpoint_seq());
  restored_state_.set_lease_sequence(st.lease_sequence());
  restored_state_.set_version(st.version());
  *restored_state_.mutable_lost_leases() = st.lost_leases();
  sync::MutexLock lock(&mu_);
  filter_ = filter;
  stream_ = grpo::PromptStream(train_prompts_, options_.train.seed, st.prompt_position(), options_.train.task_weights);
  lease_sequence_ = st.lease_sequence();
  pending_.assign(st.pending().begin(), st.pending().end());
  outstanding_.clear();
  for (const auto& l : st.outstanding()) {
    LeaseInfo info;
    info.prompt_index = l.prompt_index();
    info.resamples = l.resamples();
    info.version = l.policy_version();
    info.deadline_unix_ms = l.deadline_unix_ms();
    info.worker_id = l.worker_id();
    outstanding_[l.lease_id()] = info;
  }
  for (int i = st.completed_leases_size() - 1; i >= 0; --i) RememberCompleted(st.completed_leases(i), SubmitOutcome::kAccepted);
  for (int i = st.expired_leases_size() - 1; i >= 0; --i) RememberExpired(st.expired_leases(i));
  queue_ = std::move(queue);
  counters_ = st.counters();
  resumed_from_ = Json();
  resumed_from_["incarnation"] = st.incarnation();
  resumed_from_["seq"] = st.checkpoint_seq();
  resumed_from_["version"] = st.version();
  resumed_from_["dir"] = dir;
  return Status::Ok();
}

void LearnerCore::NoteLostLeases(const v1::LearnerState* checkpoint) {
  std::vector<std::pair<std::string, int64_t>> lost;
  const int64_t after = checkpoint ? checkpoint->lease_sequence() : 0;
  if (checkpoint) {
    for (const auto& l : checkpoint->lost_leases()) lost.emplace_back(l.incarnation(), l.after_lease());
    if (!checkpoint->incarnation().empty()) lost.emplace_back(checkpoint->incarnation(), after);
  }
  // A checkpoint from before incarnations were recorded names no writer: no ledger line can
  // be matched to it.
  if (!checkpoint || !checkpoint->incarnation().empty()) {
    auto siblings = IncarnationsResumedFrom(ledger_->path(), checkpoint ? checkpoint->incarnation() : "",
                                            checkpoint ? checkpoint->checkpoint_seq() : 0);
    if (siblings.ok()) {
      for (const auto& inc : *siblings) lost.emplace_back(inc, after);
    } else {
      hooks_.log("ledger: " + siblings.status().ToString() +
                 " (a group of a lease lost with an earlier process will count as invalid, not late)");
    }
  }
  lost.erase(std::remove_if(lost.begin(), lost.end(), [&](const auto& l) { return l.first == incarnation_; }),
             lost.end());
  if (lost.size() > kLostLeasesKept) lost.erase(lost.begin(), lost.end() - kLostLeasesKept);
  sync::MutexLock lock(&mu_);
  lost_leases_ = std::move(lost);
}

Status LearnerCore::Restore() {
  const auto& t = options_.train;
  RETURN_IF_ERROR(grpo::EnsureDir(t.out_dir));
  ASSIGN_OR_RETURN(ledger_, Ledger::Open(t.out_dir + "/ledger.jsonl", incarnation_));
  grpo::MetricsLog metrics(t.out_dir + "/metrics.jsonl");
  ASSIGN_OR_RETURN(std::string latest, grpo::LatestCheckpointDir(t.out_dir));
  if (!latest.empty()) {
    RETURN_IF_ERROR(Resume(latest));
    RETURN_IF_ERROR(metrics.TruncateAfter(learner_->version()));
    hooks_.log("resumed from " + latest + " at version " + std::to_string(learner_->version()));
    ASSIGN_OR_RETURN(std::vector<Json> updates, metrics.Lines("update"));
    monitor_.Replay(updates);
    // The status (and the launcher's progress line) keeps showing the last held-out score
    // rather than nothing until the next eval.
    ASSIGN_OR_RETURN(Json eval, metrics.LastEval());
    const Json* overall = eval.is_object() ? eval.Find("overall") : nullptr;
    const Json* version = eval.is_object() ? eval.Find("version") : nullptr;
    if (overall && overall->is_number() && version && version->is_number()) {
      const int64_t eval_version = static_cast<int64_t>(version->as_number());
      {
        sync::MutexLock lock(&mu_);
        last_eval_overall_ = overall->as_number();
        last_eval_version_ = eval_version;
      }
      if (hooks_.on_eval) hooks_.on_eval(eval_version, eval);
    }
  } else {
    RETURN_IF_ERROR(metrics.TruncateAfter(-1));
    fresh_start_ = true;
  }
  NoteLostLeases(fresh_start_ ? nullptr : &restored_state_);
  RETURN_IF_ERROR(Publish());
  Json line;
  line["event"] = "start";
  line["pid"] = static_cast<int64_t>(::getpid());
  line["version"] = learner_->version();
  line["target"] = t.updates;
  line["resumed_from"] = resumed_from_;
  {
    sync::MutexLock lock(&mu_);
    Json::Array queued, outstanding;
    for (const auto& q : queue_) queued.push_back(q.lease_id);
    for (const auto& [id, l] : outstanding_) outstanding.push_back(id);
    line["queued"] = queued;
    line["outstanding"] = outstanding;
    Record(std::move(line));
  }
  return Status::Ok();
}

Status LearnerCore::Run() {
  try {
    const auto& t = options_.train;
    grpo::MetricsLog metrics(t.out_dir + "/metrics.jsonl");
    if (fresh_start_) RETURN_IF_ERROR(Evaluate("before training"));
    const auto start = Clock::now();
    const int64_t first = learner_->version();
    auto last_done = Clock::now();
    while (learner_->version() < t.updates) {
      std::vector<QueuedGroup> batch;
      double staleness = 0;
      if (!TakeBatch(&batch, &staleness)) break;  // Stop()
      const double wait_s = Since(last_done);
      if (t.dump_groups) {
        std::vector<const grpo::ScoredGroup*> dumped;
        std::vector<const Prompt*> specs;
        for (const auto& q : batch) dumped.push_back(&q.group), specs.push_back(&train_prompts_[q.prompt_index]);
        RETURN_IF_ERROR(grpo::WriteGroupDump(t.out_dir + "/groups/" + grpo::VersionDir(learner_->version() + 1), dumped,
                                             specs, t.learner, t.group_size, t.rollout.steps));
      }
      std::vector<const ComponentValues*> component_values;
      for (const auto& q : batch) component_values.push_back(&q.components);
      const auto component_means = ComponentMeans(component_values);
      std::vector<grpo::ScoredGroup> groups;
      Json::Array trained;
      for (auto& q : batch) groups.push_back(std::move(q.group)), trained.push_back(q.lease_id);
      ASSIGN_OR_RETURN(grpo::UpdateStats s, learner_->Update(groups));
      RETURN_IF_ERROR(Publish());
      {
        sync::MutexLock lock(&mu_);  // ordered with admissions
        Json line;
        line["event"] = "update";
        line["version"] = s.version;
        line["leases"] = trained;
        Record(std::move(line));
      }
      last_done = Clock::now();
      const auto status = GetStatus();
      {
        sync::MutexLock lock(&mu_);
        last_reward_mean_ = s.reward_mean;
      }
      Json line = grpo::UpdateLine(s);
      line["staleness_mean"] = staleness;
      line["wait_seconds"] = wait_s;
      line["elapsed_seconds"] = Since(start);
      line["groups_accepted_total"] = status.counters.groups_accepted();
      line["groups_resampled_total"] = status.counters.groups_resampled();
      line["groups_dropped_total"] = status.counters.groups_dropped();
      line["groups_stale_total"] = status.counters.groups_stale();
      line["groups_invalid_total"] = status.counters.groups_invalid();
      line["groups_late_total"] = status.counters.groups_late();
      line["leases_expired_total"] = status.counters.leases_expired();
      line["leases_released_total"] = status.counters.leases_released();
      if (!component_means.empty()) {
        Json components;
        for (const auto& [name, mean] : component_means) components[name] = mean;
        line["components"] = components;
      }
      RETURN_IF_ERROR(metrics.Append(line));
      if (hooks_.on_update) hooks_.on_update(s, staleness);
      monitor_.Record(s.version, s.reward_mean, component_means);
      if (hooks_.on_components) {
        hooks_.on_components(component_means, monitor_.baseline(), monitor_.reward_baseline());
      }
      char buf[400];
      const double per_update = Since(start) / static_cast<double>(s.version - first);
      std::snprintf(buf, sizeof(buf),
                    "update %4lld/%lld  reward %.3f+-%.3f  staleness %.2f  groups accepted %lld resampled %lld dropped "
                    "%lld stale %lld late %lld invalid %lld  loss %+.4f  clip %.3f  approx-kl %.4f  learn %.1fs wait %.1fs  ETA %s",
                    static_cast<long long>(s.version), static_cast<long long>(t.updates), s.reward_mean, s.reward_std,
                    staleness, static_cast<long long>(status.counters.groups_accepted()),
                    static_cast<long long>(status.counters.groups_resampled()),
                    static_cast<long long>(status.counters.groups_dropped()),
                    static_cast<long long>(status.counters.groups_stale()),
                    static_cast<long long>(status.counters.groups_late()),
                    static_cast<long long>(status.counters.groups_invalid()), s.loss, s.clip_fraction, s.approx_kl,
                    s.seconds, wait_s, grpo::FormatDuration(per_update * (t.updates - s.version)).c_str());
      hooks_.log(buf);
      if (t.eval_every > 0 && s.version % t.eval_every == 0 && s.version < t.updates) {
        RETURN_IF_ERROR(Evaluate("during training"));
      }
      if (s.version % t.checkpoint_every == 0) RETURN_IF_ERROR(Checkpoint());
    }
    if (learner_->version() < t.updates) {
      RETURN_IF_ERROR(Checkpoint());
      Json line;
      line["event"] = "stopped";
      line["version"] = learner_->version();
      Record(std::move(line));
      hooks_.log("stopped at version " + std::to_string(learner_->version()) + "; checkpoint written");
      return Status::Ok();
    }
    // A run resumed after its final evaluation (or after part of it) keeps what is on disk.
    RETURN_IF_ERROR(Evaluate("after training", grpo::ExistingEval::kKeep));
    ASSIGN_OR_RETURN(std::vector<std::string> models, grpo::SaveFinalModels(t.out_dir, *learner_));
    RETURN_IF_ERROR(Checkpoint());
    {
      sync::MutexLock lock(&mu_);
      finished_ = true;
      lease_cv_.SignalAll();
      Json line;
      line["event"] = "finished";
      line["version"] = learner_->version();
      Record(std::move(line));
    }
    hooks_.log("trained " + std::to_string(learner_->version()) + " updates; " + grpo::DescribeFinalModels(models));
    return Status::Ok();
  } catch (const c10::Error& e) {
    return Internal(std::string("learner failed: ") + e.what_without_backtrace());
  }
}

}  // namespace maskgrpo::learner

namespace maskgrpo::learner {
namespace {

// Every tensor in a LibTorch archive (optimizer.pt), nested archives included.
void CheckArchive(torch::serialize::InputArchive& archive, const std::string& prefix, int64_t* checked,
                  Json::Array* nonfinite) {
  for (const auto& key : archive.keys()) {
    torch::Tensor t;
    if (archive.try_read(key, t)) {
      ++*checked;
      if (t.is_floating_point() && !torch::isfinite(t).all().item<bool>()) nonfinite->push_back(prefix + key);
      continue;
    }
    torch::serialize::InputArchive sub;
    if (archive.try_read(key, sub)) CheckArchive(sub, prefix + key + ".", checked, nonfinite);
  }
}

}  // namespace

StatusOr<Json> LearnerCore::VerifyCheckpoint(const LearnerCoreOptions& options, const std::string& dir) {
  RETURN_IF_ERROR(ValidateLearnerCoreOptions(options));
  ASSIGN_OR_RETURN(auto world, CreateWorld(options.train.world));
  std::unique_ptr<LearnerCore> core(new LearnerCore(options, LearnerHooks{}, std::move(world)));
  try {
    ASSIGN_OR_RETURN(core->learner_, grpo::CreateLearner(options.train, *core->world_));
    core->model_config_ = core->learner_->policy().config();
    RETURN_IF_ERROR(core->Resume(dir));
    int64_t checked = 0;
    Json::Array nonfinite;
    for (const auto& [name, p] : core->learner_->policy().NamedParameters()) {
      ++checked;
      if (p.is_floating_point() && !torch::isfinite(p).all().item<bool>()) nonfinite.push_back("model." + name);
    }
    int64_t optimizer_tensors = 0;
    torch::serialize::InputArchive archive;
    archive.load_from(dir + "/optimizer.pt");
    CheckArchive(archive, "optimizer.", &optimizer_tensors, &nonfinite);
    checked += optimizer_tensors;
    int64_t queued = 0;
    {
      sync::MutexLock lock(&core->mu_);
      for (const auto& q : core->queue_) {
        ++queued;
        for (double r : q.group.rewards) {
          if (!std::isfinite(r)) nonfinite.push_back("queued[" + q.lease_id + "].rewards");
        }
      }
    }
    Json out;
    out["dir"] = dir;
    out["version"] = core->learner_->version();
    out["tensors_checked"] = checked;
    out["optimizer_tensors"] = optimizer_tensors;
    out["queued_groups"] = queued;
    out["nonfinite"] = nonfinite;
    out["ok"] = nonfinite.empty();
    return out;
  } catch (const c10::Error& e) {
    return DataLoss(dir + ": " + e.what_without_backtrace());
  }
}

}  // namespace maskgrpo::learner
