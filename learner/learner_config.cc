#include "learner/learner_config.h"

#include "app/config.h"

namespace maskgrpo::learner {

using app::DefaultTrainConfig;
using app::LoadTextConfig;
using app::ToTrainOptions;

config::LearnerServerConfig DefaultLearnerServerConfig() {
  config::LearnerServerConfig c;
  *c.mutable_train() = DefaultTrainConfig();
  c.mutable_train()->set_out_dir("runs/learner");
  c.set_listen("127.0.0.1:0");
  c.set_lease_timeout_ms(120000);
  c.set_max_policy_lag(1);
  c.set_max_leases_per_request(8);
  c.set_weights_versions_kept(2);
  c.set_linger_ms(3000);
  c.set_weights_relay_wait_ms(30000);
  c.set_max_waiting_leases(64);
  return c;
}

Status LoadLearnerServerConfig(const std::string& path, config::LearnerServerConfig* c) {
  *c = DefaultLearnerServerConfig();
  return LoadTextConfig(path, c);
}

StatusOr<LearnerCoreOptions> ToLearnerCoreOptions(const config::LearnerServerConfig& c) {
  LearnerCoreOptions o;
  ASSIGN_OR_RETURN(o.train, ToTrainOptions(c.train()));
  o.lease_timeout_ms = c.lease_timeout_ms();
  o.max_policy_lag = c.max_policy_lag();
  o.max_leases_per_request = c.max_leases_per_request();
  o.weights_versions_kept = c.weights_versions_kept();
  o.weights_fanout = c.weights_fanout();
  o.weights_relay_wait_ms = c.weights_relay_wait_ms();
  o.max_waiting_leases = c.max_waiting_leases();
  if (c.linger_ms() < -1) {
    return InvalidArgument("linger_ms must be >= 0, or -1 (serve until stopped), got " + std::to_string(c.linger_ms()));
  }
  RETURN_IF_ERROR(ValidateLearnerCoreOptions(o));
  return o;
}

}  // namespace maskgrpo::learner
