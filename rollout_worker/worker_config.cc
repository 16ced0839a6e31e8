#include "rollout_worker/worker_config.h"

#include <functional>

#include "app/config.h"
#include "rollout_worker/weights_relay.h"
#include "rpc/security.h"

namespace maskgrpo::worker {

using app::LoadTextConfig;
using app::ToDeviceOptions;

config::RolloutWorkerConfig DefaultRolloutWorkerConfig() {
  config::RolloutWorkerConfig c;
  c.mutable_runtime()->set_device("cpu");
  c.mutable_runtime()->set_dtype("float32");
  c.set_leases_per_request(8);
  c.set_rpc_deadline_ms(30000);
  c.set_weights_deadline_ms(120000);
  c.set_reward_retries(2);
  c.set_backoff_initial_ms(200);
  c.set_backoff_max_ms(5000);
  c.set_score_batch(64);
  c.set_score_max_bytes(int64_t{32} << 20);
  c.set_lease_wait_ms(2000);
  return c;
}

Status LoadRolloutWorkerConfig(const std::string& path, config::RolloutWorkerConfig* c) {
  *c = DefaultRolloutWorkerConfig();
  return LoadTextConfig(path, c);
}

StatusOr<WorkerOptions> ToWorkerOptions(const config::RolloutWorkerConfig& c) {
  if (c.learner().empty()) return InvalidArgument("learner: the learner's address is not set (--learner HOST:PORT)");
  if (c.leases_per_request() < 1) return InvalidArgument("leases_per_request must be >= 1");
  if (c.rpc_deadline_ms() < 1 || c.weights_deadline_ms() < 1) return InvalidArgument("deadlines must be >= 1 ms");
  if (c.backoff_initial_ms() < 1 || c.backoff_max_ms() < c.backoff_initial_ms()) {
    return InvalidArgument("backoff_initial_ms must be >= 1 and <= backoff_max_ms");
  }
  if (c.lease_wait_ms() < 0 || c.lease_wait_ms() > 5000) return InvalidArgument("lease_wait_ms must be in [0, 5000]");
  WorkerOptions o;
  o.worker_id = c.worker_id();
  o.lease_wait = std::chrono::milliseconds(c.lease_wait_ms());
  ASSIGN_OR_RETURN(o.device, ToDeviceOptions(c.runtime()));
  o.leases_per_request = c.leases_per_request();
  o.backoff_initial = std::chrono::milliseconds(c.backoff_initial_ms());
  o.backoff_max = std::chrono::milliseconds(c.backoff_max_ms());
  o.seed = std::hash<std::string>()(c.worker_id());
  ASSIGN_OR_RETURN(o.world, app::ToWorldOptions(c.world(), o.device));
  if (!c.relay_listen().empty() && c.learner_tls().enabled() && c.relay_tls().cert_file().empty()) {
    return InvalidArgument(
        "relay_listen with learner_tls: set relay_tls (the relay would send the weights in plaintext)");
  }
  if (c.relay_listen().empty() && !c.relay_tls().cert_file().empty()) {
    return InvalidArgument("relay_tls is set but relay_listen is not");
  }
  if (!c.relay_tls().cert_file().empty() && !c.relay_client_tls().enabled()) {
    return InvalidArgument("relay_tls is set: enable relay_client_tls too (workers fetch from each other's relays with it)");
  }
  // A worker whose learner link is encrypted takes weights from relays only over TLS.
  o.fetch_from_relays = !c.learner_tls().enabled() || c.relay_client_tls().enabled();
  if (c.relay_listen().empty() && !c.relay_advertise().empty()) {
    return InvalidArgument("relay_advertise is set but relay_listen is not");
  }
  // "auto" is resolved when the relay starts, on the machine that runs it (check-config may
  // run elsewhere).
  if (!c.relay_listen().empty() && c.relay_advertise() != kAdvertiseAuto) {
    RETURN_IF_ERROR(RelayAdvertiseAddress(c.relay_listen(), 0, c.relay_advertise()).status());
  }
  o.relay_wait_max = std::chrono::milliseconds(c.weights_deadline_ms());
  o.stay_after_finish = c.stay_after_finish();
  return o;
}

StatusOr<RewardClientOptions> ToRewardClientOptions(const config::RolloutWorkerConfig& c) {
  if (c.reward_servers_size() == 0) return InvalidArgument("reward_servers: no reward server address (--reward-servers A,B)");
  RewardClientOptions o;
  o.addresses.assign(c.reward_servers().begin(), c.reward_servers().end());
  o.deadline = std::chrono::milliseconds(c.rpc_deadline_ms());
  o.retries = c.reward_retries();
  o.backoff_initial = std::chrono::milliseconds(c.backoff_initial_ms());
  o.backoff_max = std::chrono::milliseconds(c.backoff_max_ms());
  o.max_items_per_call = c.score_batch();
  o.max_bytes_per_call = c.score_max_bytes();
  if (o.max_bytes_per_call < 1024 || o.max_bytes_per_call > (int64_t{64} << 20)) {
    return InvalidArgument("score_max_bytes must be in [1024, 67108864] (the reward servers accept up to 64 MiB)");
  }
  o.tls = c.reward_tls();
  ASSIGN_OR_RETURN(o.token, rpc::LoadToken(c.reward_auth(), "reward_auth"));
  if (o.retries < 0) return InvalidArgument("reward_retries must be >= 0");
  if (o.max_items_per_call < 1) return InvalidArgument("score_batch must be >= 1");
  return o;
}

}  // namespace maskgrpo::worker
