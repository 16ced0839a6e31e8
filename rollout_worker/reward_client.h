// Scores images on the reward servers: client-side round-robin over one channel per
// configured address (a "dns:///name:port" address gets gRPC's own round_robin policy over
// every address the name resolves to, e.g. a Kubernetes headless Service). Every call has a
// deadline; UNAVAILABLE and RESOURCE_EXHAUSTED are retried on the next server with jittered
// backoff, a bounded number of times. A failure is an error, never an invented reward.
// Thread-safe.
#pragma once

#include <grpcpp/channel.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "maskgrpo/reward.grpc.pb.h"
#include "maskgrpo/service_config.pb.h"

namespace maskgrpo::worker {

struct RewardClientOptions {
  std::vector<std::string> addresses;
  std::chrono::milliseconds deadline{30000};  // per attempt
  int retries = 2;
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{5000};
  int max_items_per_call = 64;  // larger requests are split
  // ... and so are requests of more bytes than this: a group of 16 Show-o images at 512x512
  // is 12.6 MB of raw RGB, within one call; the servers accept up to 64 MiB.
  int64_t max_bytes_per_call = int64_t{32} << 20;
  config::ClientTlsConfig tls;  // the same for every server
  std::string token;            // bearer token sent on every call ("" = none)
};

// The [begin, end) ranges of the calls that score items of the given serialized sizes: at
// most `max_items` per call and at most `max_bytes` per call (an item larger than that
// travels alone). Exposed for tests.
std::vector<std::pair<size_t, size_t>> SplitIntoCalls(const std::vector<int64_t>& item_bytes, int max_items,
                                                      int64_t max_bytes);

struct RewardTiming {
  double seconds = 0;
  int attempts = 0;
};

class RewardClient {
 public:
  static StatusOr<std::unique_ptr<RewardClient>> Create(const RewardClientOptions& options);
  // One reply per item, in order.
  StatusOr<std::vector<v1::ItemScore>> Score(const std::vector<v1::ScoreItem>& items, RewardTiming* timing = nullptr);

 private:
  explicit RewardClient(const RewardClientOptions& options) : options_(options) {}
  StatusOr<std::vector<v1::ItemScore>> ScoreChunk(const v1::ScoreRequest& request, RewardTiming* timing);
  RewardClientOptions options_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;  // parallel to stubs_
  std::vector<std::unique_ptr<v1::Reward::Stub>> stubs_;
  std::atomic<uint64_t> next_{0};
};

}  // namespace maskgrpo::worker
