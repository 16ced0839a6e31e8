#include "reward_server/reward_config.h"

#include <cmath>

#include "app/config.h"

namespace maskgrpo::reward {

using app::LoadTextConfig;

config::RewardServerConfig DefaultRewardServerConfig() {
  config::RewardServerConfig c;
  c.set_listen("127.0.0.1:0");
  c.set_max_batch(64);
  c.set_max_queue_delay_ms(5);
  c.set_max_queue_images(1024);
  c.set_max_items_per_request(256);
  c.set_threads(1);
  c.set_max_connection_age_ms(300000);
  return c;
}

Status LoadRewardServerConfig(const std::string& path, config::RewardServerConfig* c) {
  *c = DefaultRewardServerConfig();
  RETURN_IF_ERROR(LoadTextConfig(path, c));
  if (c->scorers_size() == 0) {
    auto* s = c->add_scorers();
    s->set_name("shapeworld_dense");
    s->set_weight(1.0);
  }
  return Status::Ok();
}

StatusOr<BatcherOptions> ToBatcherOptions(const config::RewardServerConfig& c) {
  if (c.scorers_size() == 0) return InvalidArgument("scorers: at least one scorer is needed");
  for (int i = 0; i < c.scorers_size(); ++i) {
    if (!std::isfinite(c.scorers(i).weight())) {
      return InvalidArgument("scorers[" + std::to_string(i) + "].weight must be finite");
    }
  }
  if (c.max_items_per_request() < 1) return InvalidArgument("max_items_per_request must be >= 1");
  if (c.max_connection_age_ms() < 0) return InvalidArgument("max_connection_age_ms must be >= 0");
  if (c.max_items_per_request() > c.max_queue_images()) {
    return InvalidArgument("max_items_per_request must be <= max_queue_images");
  }
  BatcherOptions o;
  o.max_batch = c.max_batch();
  o.max_queue_delay = std::chrono::microseconds(int64_t{c.max_queue_delay_ms()} * 1000);
  o.max_queue_items = c.max_queue_images();
  o.threads = c.threads();
  RETURN_IF_ERROR(ValidateBatcherOptions(o));
  return o;
}

}  // namespace maskgrpo::reward
