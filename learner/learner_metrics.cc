#include "learner/learner_metrics.h"

#include "rpc/metric_buckets.h"

namespace maskgrpo::learner {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

namespace {
prometheus::Gauge& NewGauge(prometheus::Registry& r, const std::string& name, const std::string& help) {
  return BuildGauge().Name(name).Help(help).Register(r).Add({});
}
}  // namespace

LearnerMetrics::LearnerMetrics(prometheus::Registry& r)
    : rpcs_(BuildCounter().Name("maskgrpo_learner_rpcs_total").Help("Learner RPCs by method and gRPC status code").Register(r)),
      groups_(BuildCounter()
                  .Name("maskgrpo_learner_groups_total")
                  .Help("Submitted groups by outcome: accepted, duplicate, resampled, dropped, stale, invalid, trained")
                  .Register(r)),
      leases_issued_(BuildCounter().Name("maskgrpo_learner_leases_issued_total").Help("Prompt leases handed out").Register(r).Add({})),
      leases_expired_(BuildCounter().Name("maskgrpo_learner_leases_expired_total").Help("Leases that expired and were re-issued").Register(r).Add({})),
      leases_released_(BuildCounter()
                           .Name("maskgrpo_learner_leases_released_total")
                           .Help("Leases released before their deadline because their worker no longer held them, and re-issued")
                           .Register(r)
                           .Add({})),
      weights_bytes_(BuildCounter().Name("maskgrpo_learner_weights_sent_bytes_total").Help("Weight bytes streamed to workers").Register(r).Add({})),
      weights_sources_(BuildCounter()
                           .Name("maskgrpo_learner_weights_sources_total")
                           .Help("Weight fetches assigned, by source: learner, relay (a worker that holds the version), fallback")
                           .Register(r)),
      weights_seconds_(BuildHistogram()
                           .Name("maskgrpo_learner_weights_send_seconds")
                           .Help("Seconds to stream one weights version to a worker")
                           .Register(r)
                           .Add({}, rpc::LatencyBuckets())),
      version_(NewGauge(r, "maskgrpo_learner_policy_version", "Published policy version")),
      queued_(NewGauge(r, "maskgrpo_learner_queued_groups", "Admitted groups waiting for an update")),
      finished_(NewGauge(r, "maskgrpo_learner_run_finished",
                         "1 once the run has made all its updates (the learner then answers finished)")),
      outstanding_(NewGauge(r, "maskgrpo_learner_outstanding_leases", "Leases handed out and not yet answered")),
      staleness_(BuildHistogram()
                     .Name("maskgrpo_learner_staleness_versions")
                     .Help("Mean policy lag (versions) of the groups of each update")
                     .Register(r)
                     .Add({}, prometheus::Histogram::BucketBoundaries{0, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4})),
      step_seconds_(BuildHistogram()
                        .Name("maskgrpo_learner_step_seconds")
                        .Help("Seconds per GRPO update (replay, loss, optimiser)")
                        .Register(r)
                        .Add({}, rpc::LatencyBuckets())),
      loss_(NewGauge(r, "maskgrpo_learner_loss", "Loss of the last update")),
      reward_mean_(NewGauge(r, "maskgrpo_learner_reward_mean", "Mean reward of the last update's samples")),
      reward_std_(NewGauge(r, "maskgrpo_learner_reward_std", "Reward std of the last update's samples")),
      clip_fraction_(NewGauge(r, "maskgrpo_learner_clip_fraction", "Fraction of clipped ratios in the last update")),
      approx_kl_(NewGauge(r, "maskgrpo_learner_approx_kl", "Approximate KL(old || new) of the last update")),
      entropy_(NewGauge(r, "maskgrpo_learner_policy_entropy",
                        "Mean per-token entropy (nats) of the policy where the last update's replayed steps reveal")),
      kl_(NewGauge(r, "maskgrpo_learner_kl", "KL to the reference policy in the last update (0 when off)")),
      eval_overall_(NewGauge(r, "maskgrpo_learner_eval_overall_score", "Held-out GenEval-style overall score")),
      eval_task_(BuildGauge().Name("maskgrpo_learner_eval_task_score").Help("Held-out score per task").Register(r)),
      component_mean_(BuildGauge()
                          .Name("maskgrpo_learner_component_mean")
                          .Help("Mean of a reward component (scorer value or stat/ image statistic) over the last update")
                          .Register(r)),
      component_baseline_(BuildGauge()
                              .Name("maskgrpo_learner_component_baseline")
                              .Help("Mean of a reward component over the run's first 5 updates (those so far before the 5th)")
                              .Register(r)),
      reward_baseline_(NewGauge(r, "maskgrpo_learner_reward_baseline", "Mean reward over the run's first 5 updates (those so far before the 5th)")) {
  // Every source from the start, at 0: the family is exposed (and rate() defined) before the
  // first fan-out fetch, and stays all zeros when fan-out is off.
  for (const char* source : {"learner", "relay", "fallback"}) weights_sources_.Add({{"source", source}});
}

void LearnerMetrics::Rpc(const std::string& method, const std::string& code) {
  prometheus::Counter* c;
  {
    sync::MutexLock lock(&mu_);
    auto& slot = rpc_series_[{method, code}];
    if (!slot) slot = &rpcs_.Add({{"method", method}, {"code", code}});
    c = slot;
  }
  c->Increment();
}

void LearnerMetrics::WeightsServed(int64_t bytes, double seconds) {
  weights_bytes_.Increment(static_cast<double>(bytes));
  weights_seconds_.Observe(seconds);
}

void LearnerMetrics::WeightsSourceChosen(const std::string& source) { weights_sources_.Add({{"source", source}}).Increment(); }

void LearnerMetrics::Update(const grpo::UpdateStats& s, double staleness_mean) {
  staleness_.Observe(staleness_mean);
  step_seconds_.Observe(s.seconds);
  loss_.Set(s.loss);
  reward_mean_.Set(s.reward_mean);
  reward_std_.Set(s.reward_std);
  clip_fraction_.Set(s.clip_fraction);
  approx_kl_.Set(s.approx_kl);
  entropy_.Set(s.entropy);
  kl_.Set(s.kl);
  version_.Set(static_cast<double>(s.version));
}

void LearnerMetrics::Eval(const Json& line) {
  eval_overall_.Set(line.Find("overall")->as_number());
  if (const Json* tasks = line.Find("tasks"); tasks && tasks->is_object()) {
    for (const auto& [task, score] : tasks->as_object()) {
      if (score.is_number()) eval_task_.Add({{"task", task}}).Set(score.as_number());
    }
  }
}

void LearnerMetrics::Components(const std::map<std::string, double>& means, const std::map<std::string, double>& baseline,
                                double reward_baseline) {
  for (const auto& [name, value] : means) component_mean_.Add({{"reward_component", name}}).Set(value);
  for (const auto& [name, value] : baseline) component_baseline_.Add({{"reward_component", name}}).Set(value);
  if (!baseline.empty()) reward_baseline_.Set(reward_baseline);
}

void LearnerMetrics::Sync(const LearnerStatusSnapshot& s) {
  version_.Set(static_cast<double>(s.version));
  queued_.Set(static_cast<double>(s.queued_groups));
  finished_.Set(s.finished ? 1 : 0);
  outstanding_.Set(static_cast<double>(s.outstanding_leases));
  const std::pair<const char*, int64_t> totals[] = {
      {"accepted", s.counters.groups_accepted()}, {"duplicate", s.counters.groups_duplicate()},
      {"resampled", s.counters.groups_resampled()}, {"dropped", s.counters.groups_dropped()},
      {"stale", s.counters.groups_stale()},       {"late", s.counters.groups_late()},
      {"invalid", s.counters.groups_invalid()},   {"trained", s.counters.groups_trained()},
      {"leases_issued", s.counters.leases_issued()}, {"leases_expired", s.counters.leases_expired()},
      {"leases_released", s.counters.leases_released()}};
  sync::MutexLock lock(&mu_);
  for (const auto& [name, total] : totals) {
    auto [it, fresh] = mirrored_.emplace(name, 0);
    const int64_t delta = total - it->second;
    if (delta <= 0 && !fresh) continue;
    it->second = total;
    const std::string key = name;
    prometheus::Counter& c = key == "leases_issued"    ? leases_issued_
                             : key == "leases_expired" ? leases_expired_
                             : key == "leases_released" ? leases_released_
                                                       : groups_.Add({{"outcome", key}});
    if (delta > 0) c.Increment(static_cast<double>(delta));
  }
}

}  // namespace maskgrpo::learner
