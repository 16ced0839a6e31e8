// The gRPC adapter of the reward server: decode and validate -> the batcher -> encode,
// with metrics. No scoring logic lives here. Thread-safe (sync gRPC server threads).
#pragma once

#include <memory>

#include "maskgrpo/reward.grpc.pb.h"
#include "reward_server/batcher.h"
#include "reward_server/reward_metrics.h"
#include "reward_server/scorer.h"
#include "rpc/security.h"

namespace maskgrpo::reward {

struct RewardServiceOptions {
  int max_items_per_request = 256;
  // Used when the caller sets no deadline, so that nothing waits forever.
  std::chrono::milliseconds default_deadline{60000};
  std::string auth_token;  // "" = no token required
};

class RewardService final : public v1::Reward::Service {
 public:
  // `combined` and `batcher` must outlive the service; `metrics` may be null.
  RewardService(const RewardServiceOptions& options, const CombinedScorer* combined, DynamicBatcher* batcher,
                RewardMetrics* metrics, int max_batch);

  grpc::Status Score(grpc::ServerContext* context, const v1::ScoreRequest* request, v1::ScoreReply* reply) override;
  grpc::Status Describe(grpc::ServerContext* context, const v1::DescribeRequest* request,
                        v1::DescribeReply* reply) override;

 private:
  StatusOr<std::vector<ItemScore>> ScoreItems(grpc::ServerContext* context, const v1::ScoreRequest& request,
                                              RequestTiming* timing);

  RewardServiceOptions options_;
  rpc::TokenChecker auth_;
  const CombinedScorer* combined_;
  DynamicBatcher* batcher_;
  RewardMetrics* metrics_;
  int max_batch_;
};

// Decodes a request's items (image, text, spec), naming the first bad field.
StatusOr<std::vector<RewardItem>> DecodeScoreRequest(const v1::ScoreRequest& request, int max_items);

}  // namespace maskgrpo::reward
