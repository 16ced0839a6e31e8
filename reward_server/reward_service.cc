#include "reward_server/reward_service.h"

#include "rpc/convert.h"
#include "rpc/status_grpc.h"

namespace maskgrpo::reward {

StatusOr<std::vector<RewardItem>> DecodeScoreRequest(const v1::ScoreRequest& request, int max_items) {
  if (request.items_size() == 0) return InvalidArgument("items: empty request");
  if (request.items_size() > max_items) {
    return Status(StatusCode::kResourceExhausted, "items: " + std::to_string(request.items_size()) +
                                                      " items exceed max_items_per_request " +
                                                      std::to_string(max_items));
  }
  std::vector<RewardItem> items(request.items_size());
  for (int i = 0; i < request.items_size(); ++i) {
    const auto& in = request.items(i);
    const std::string field = "items[" + std::to_string(i) + "]";
    auto image = rpc::FromProto(in.image(), field + ".image");
    if (!image.ok()) return image.status();
    if (in.prompt().text().empty()) return InvalidArgument(field + ".prompt.text is empty");
    auto prompt = rpc::FromProto(in.prompt(), field + ".prompt");
    if (!prompt.ok()) return prompt.status();
    items[i].image = std::move(*image);
    items[i].prompt = std::move(*prompt);
  }
  return items;
}

RewardService::RewardService(const RewardServiceOptions& options, const CombinedScorer* combined,
                             DynamicBatcher* batcher, RewardMetrics* metrics, int max_batch)
    : options_(options), auth_(options.auth_token), combined_(combined), batcher_(batcher), metrics_(metrics), max_batch_(max_batch) {}

StatusOr<std::vector<ItemScore>> RewardService::ScoreItems(grpc::ServerContext* context,
                                                           const v1::ScoreRequest& request, RequestTiming* timing) {
  auto items = DecodeScoreRequest(request, options_.max_items_per_request);
  if (!items.ok()) return items.status();
  for (size_t i = 0; i < items->size(); ++i) {
    RETURN_IF_ERROR(combined_->CheckItem((*items)[i], "items[" + std::to_string(i) + "]"));
  }
  // The RPC's deadline, on the batcher's clock; none given means the default.
  auto deadline = Clock::now() + options_.default_deadline;
  auto remaining = context->deadline() - std::chrono::system_clock::now();
  if (remaining < options_.default_deadline) deadline = Clock::now() + remaining;
  return batcher_->Score(std::move(*items), deadline, timing);
}

grpc::Status RewardService::Score(grpc::ServerContext* context, const v1::ScoreRequest* request,
                                  v1::ScoreReply* reply) {
  if (grpc::Status denied = auth_.Check(*context); !denied.ok()) {
    if (metrics_) metrics_->Request("UNAUTHENTICATED", 0, 0, 0);
    return denied;
  }
  RequestTiming timing;
  auto scores = ScoreItems(context, *request, &timing);
  grpc::Status status = scores.ok() ? grpc::Status::OK : rpc::ToGrpc(scores.status());
  if (scores.ok()) {
    for (const auto& s : *scores) {
      auto* out = reply->add_scores();
      out->set_reward(s.reward);
      for (const auto& [name, value] : s.components) {
        (*out->mutable_components())[name] = value;
        if (metrics_) metrics_->Component(name, value);
      }
    }
  }
  if (metrics_) {
    metrics_->Request(rpc::CodeName(status.error_code()), request->items_size(), timing.queue_seconds,
                      timing.compute_seconds);
    metrics_->QueueImages(batcher_->queued_items());
  }
  return status;
}

grpc::Status RewardService::Describe(grpc::ServerContext* context, const v1::DescribeRequest*,
                                     v1::DescribeReply* reply) {
  if (grpc::Status denied = auth_.Check(*context); !denied.ok()) return denied;
  for (const auto& ws : combined_->scorers()) {
    auto* s = reply->add_scorers();
    s->set_name(ws.scorer->name());
    s->set_weight(ws.weight);
    s->set_description(ws.scorer->description());
  }
  reply->set_max_batch(max_batch_);
  reply->set_max_items_per_request(options_.max_items_per_request);
  return grpc::Status::OK;
}

}  // namespace maskgrpo::reward
