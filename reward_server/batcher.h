// Dynamic batching of score requests. Callers' items wait in one bounded queue; batcher
// threads take up to max_batch items (across callers) once that many are queued or the
// oldest has waited max_queue_delay, score them in one call, and hand each caller its
// results. A full queue rejects at once (RESOURCE_EXHAUSTED); a caller whose deadline
// passes gets DEADLINE_EXCEEDED and its unscored items leave the queue.
// Thread-safe: Score() is called from any number of RPC threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "rpc/sync.h"
#include "core/status.h"
#include "reward_server/scorer.h"

namespace maskgrpo::reward {

using Clock = std::chrono::steady_clock;

struct BatcherOptions {
  int max_batch = 64;
  std::chrono::microseconds max_queue_delay{5000};
  int max_queue_items = 1024;
  int threads = 1;
};
Status ValidateBatcherOptions(const BatcherOptions& o);

// Where one request's time went: waiting in the queue until its first item was taken,
// then everything after that (scoring, and waiting for its later items' batches).
struct RequestTiming {
  double queue_seconds = 0;
  double compute_seconds = 0;
};

class DynamicBatcher {
 public:
  using ScoreFn = std::function<StatusOr<std::vector<ItemScore>>(const std::vector<const RewardItem*>&)>;
  // Called by a batcher thread after each batch (size, seconds spent scoring it).
  using BatchObserver = std::function<void(int batch_size, double seconds)>;

  DynamicBatcher(const BatcherOptions& options, ScoreFn score, BatchObserver observer = nullptr);
  ~DynamicBatcher();  // Shutdown(), then joins the threads

  // Scores `items` (non-empty, at most max_queue_items); blocks until done or `deadline`.
  StatusOr<std::vector<ItemScore>> Score(std::vector<RewardItem> items, Clock::time_point deadline,
                                         RequestTiming* timing = nullptr);

  // Fails queued requests with UNAVAILABLE and stops the threads; later calls fail too.
  void Shutdown();

  int queued_items() const;

 private:
  struct Request;
  struct Taken {
    std::shared_ptr<Request> request;
    size_t index;
  };
  void Loop();
  // Takes the next batch (dropping requests that expired while queued); empty on shutdown.
  std::vector<Taken> NextBatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const BatcherOptions options_;
  const ScoreFn score_;
  const BatchObserver observer_;
  mutable sync::Mutex mu_;
  sync::CondVar work_cv_;   // signalled when items are queued or on shutdown
  sync::CondVar done_cv_;   // signalled when a request finishes
  std::deque<std::shared_ptr<Request>> queue_ ABSL_GUARDED_BY(mu_);
  int queued_items_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace maskgrpo::reward
