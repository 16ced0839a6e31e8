#include "rollout_worker/reward_client.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <cmath>

#include "rollout_worker/backoff.h"
#include "rpc/security.h"
#include "rpc/status_grpc.h"

namespace maskgrpo::worker {

StatusOr<std::unique_ptr<RewardClient>> RewardClient::Create(const RewardClientOptions& options) {
  if (options.addresses.empty()) return InvalidArgument("reward_servers: at least one address is needed");
  if (options.retries < 0) return InvalidArgument("reward_retries must be >= 0");
  if (options.max_items_per_call < 1) return InvalidArgument("score_batch must be >= 1");
  std::unique_ptr<RewardClient> client(new RewardClient(options));
  for (const auto& address : options.addresses) {
    if (address.empty()) return InvalidArgument("reward_servers: empty address");
    grpc::ChannelArguments args;
    args.SetLoadBalancingPolicyName("round_robin");
    args.SetMaxReceiveMessageSize(64 << 20);
    // As for the learner channel (main.cc): a restarted reward server is found within 2 s.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    ASSIGN_OR_RETURN(auto channel, rpc::MakeChannel(address, options.tls, args, "reward_tls"));
    client->channels_.push_back(channel);
    client->stubs_.push_back(v1::Reward::NewStub(channel));
  }
  return client;
}

StatusOr<std::vector<v1::ItemScore>> RewardClient::ScoreChunk(const v1::ScoreRequest& request, RewardTiming* timing) {
  Status last;
  for (int attempt = 0; attempt <= options_.retries; ++attempt) {
    const size_t server = next_.fetch_add(1) % stubs_.size();
    if (attempt > 0) {
      PauseBeforeRetry(*channels_[server], BackoffDelay(attempt - 1, options_.backoff_initial, options_.backoff_max));
    }
    auto& stub = stubs_[server];
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + options_.deadline);
    rpc::AttachToken(&context, options_.token);
    v1::ScoreReply reply;
    if (timing) ++timing->attempts;
    grpc::Status status = stub->Score(&context, request, &reply);
    if (status.ok()) {
      if (reply.scores_size() != request.items_size()) {
        return Internal("reward server answered " + std::to_string(reply.scores_size()) + " scores for " +
                        std::to_string(request.items_size()) + " images");
      }
      for (const auto& s : reply.scores()) {
        if (!std::isfinite(s.reward())) return Internal("reward server answered a non-finite reward");
      }
      return std::vector<v1::ItemScore>(reply.scores().begin(), reply.scores().end());
    }
    last = rpc::FromGrpc(status);
    const auto code = status.error_code();
    const bool retryable = code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                           code == grpc::StatusCode::DEADLINE_EXCEEDED;
    if (!retryable) break;
  }
  return Status(last.code(), "reward: " + last.message());
}

std::vector<std::pair<size_t, size_t>> SplitIntoCalls(const std::vector<int64_t>& item_bytes, int max_items,
                                                      int64_t max_bytes) {
  std::vector<std::pair<size_t, size_t>> calls;
  size_t begin = 0;
  int64_t bytes = 0;
  for (size_t i = 0; i < item_bytes.size(); ++i) {
    const bool full = i > begin && (static_cast<int64_t>(i - begin) >= max_items || bytes + item_bytes[i] > max_bytes);
    if (full) {
      calls.emplace_back(begin, i);
      begin = i;
      bytes = 0;
    }
    bytes += item_bytes[i];
  }
  if (begin < item_bytes.size()) calls.emplace_back(begin, item_bytes.size());
  return calls;
}

StatusOr<std::vector<v1::ItemScore>> RewardClient::Score(const std::vector<v1::ScoreItem>& items, RewardTiming* timing) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<v1::ItemScore> out;
  out.reserve(items.size());
  std::vector<int64_t> sizes;
  sizes.reserve(items.size());
  for (const auto& item : items) sizes.push_back(static_cast<int64_t>(item.ByteSizeLong()));
  for (const auto& [begin, end] : SplitIntoCalls(sizes, options_.max_items_per_call, options_.max_bytes_per_call)) {
    v1::ScoreRequest request;
    for (size_t i = begin; i < end; ++i) *request.add_items() = items[i];
    auto scores = ScoreChunk(request, timing);
    if (!scores.ok()) return scores.status();
    for (auto& s : *scores) out.push_back(std::move(s));
  }
  if (timing) timing->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace maskgrpo::worker
