#include "reward_server/batcher.h"

#include <algorithm>

namespace maskgrpo::reward {
namespace {
double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

struct DynamicBatcher::Request {
  std::vector<RewardItem> items;
  std::vector<ItemScore> results;
  Clock::time_point enqueued, deadline, first_taken;
  size_t next = 0;  // first item not yet taken by a batch
  size_t done = 0;  // items scored
  bool finished = false;  // results complete, or `status` holds the error
  Status status;
};

Status ValidateBatcherOptions(const BatcherOptions& o) {
  if (o.max_batch < 1) return InvalidArgument("max_batch must be >= 1");
  if (o.max_queue_delay.count() < 0) return InvalidArgument("max_queue_delay_ms must be >= 0");
  if (o.max_queue_items < o.max_batch) return InvalidArgument("max_queue_images must be >= max_batch");
  if (o.threads < 1) return InvalidArgument("threads must be >= 1");
  return Status::Ok();
}

DynamicBatcher::DynamicBatcher(const BatcherOptions& options, ScoreFn score, BatchObserver observer)
    : options_(options), score_(std::move(score)), observer_(std::move(observer)) {
  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { Loop(); });
}

DynamicBatcher::~DynamicBatcher() {
  Shutdown();
  for (auto& t : threads_) t.join();
}

void DynamicBatcher::Shutdown() {
  sync::MutexLock lock(&mu_);
  if (shutdown_) return;
  shutdown_ = true;
  for (auto& r : queue_) {
    if (!r->finished) {
      r->finished = true;
      r->status = Status(StatusCode::kUnavailable, "reward server is shutting down");
    }
  }
  queue_.clear();
  queued_items_ = 0;
  work_cv_.SignalAll();
  done_cv_.SignalAll();
}

int DynamicBatcher::queued_items() const {
  sync::MutexLock lock(&mu_);
  return queued_items_;
}

StatusOr<std::vector<ItemScore>> DynamicBatcher::Score(std::vector<RewardItem> items, Clock::time_point deadline,
                                                       RequestTiming* timing) {
  if (items.empty()) return InvalidArgument("items: empty request");
  if (static_cast<int>(items.size()) > options_.max_queue_items) {
    return Status(StatusCode::kResourceExhausted, "items: " + std::to_string(items.size()) +
                                                      " items exceed the queue capacity of " +
                                                      std::to_string(options_.max_queue_items));
  }
  auto request = std::make_shared<Request>();
  request->results.resize(items.size());
  request->items = std::move(items);
  request->enqueued = Clock::now();
  request->deadline = deadline;
  const int n = static_cast<int>(request->items.size());

  sync::MutexLock lock(&mu_);
  if (shutdown_) return Status(StatusCode::kUnavailable, "reward server is shutting down");
  if (queued_items_ + n > options_.max_queue_items) {
    return Status(StatusCode::kResourceExhausted, "reward queue full (" + std::to_string(queued_items_) +
                                                      " images queued, capacity " +
                                                      std::to_string(options_.max_queue_items) + ")");
  }
  queue_.push_back(request);
  queued_items_ += n;
  work_cv_.SignalAll();
  while (!request->finished) {
    if (Clock::now() >= deadline) break;
    done_cv_.WaitWithDeadline(&mu_, absl::FromChrono(std::chrono::system_clock::now() + (deadline - Clock::now())));
  }
  if (!request->finished) {
    // Abandon it: untaken items leave the queue; batches already holding some of its items
    // finish and their results are discarded.
    queued_items_ -= static_cast<int>(request->items.size() - request->next);
    request->next = request->items.size();
    request->finished = true;
    request->status = Status(StatusCode::kDeadlineExceeded,
                             "deadline passed with " + std::to_string(n - static_cast<int>(request->done)) +
                                 " of " + std::to_string(n) + " images unscored");
  }
  if (timing) {
    Clock::time_point started = request->next > 0 || request->done > 0 ? request->first_taken : Clock::now();
    timing->queue_seconds = Seconds(started - request->enqueued);
    timing->compute_seconds = Seconds(Clock::now() - started);
  }
  if (!request->status.ok()) return request->status;
  return std::move(request->results);
}

std::vector<DynamicBatcher::Taken> DynamicBatcher::NextBatch() {
  while (true) {
    if (shutdown_) return {};
    if (queue_.empty()) {
      work_cv_.Wait(&mu_);
      continue;
    }
    auto now = Clock::now();
    auto ready_at = queue_.front()->enqueued + options_.max_queue_delay;
    if (queued_items_ < options_.max_batch && now < ready_at) {
      work_cv_.WaitWithDeadline(&mu_, absl::FromChrono(std::chrono::system_clock::now() + (ready_at - now)));
      continue;
    }
    std::vector<Taken> batch;
    while (static_cast<int>(batch.size()) < options_.max_batch && !queue_.empty()) {
      auto& r = queue_.front();
      if (r->next == r->items.size()) {  // fully taken, or abandoned by its caller
        queue_.pop_front();
        continue;
      }
      if (r->next == 0) r->first_taken = now;
      while (static_cast<int>(batch.size()) < options_.max_batch && r->next < r->items.size()) {
        batch.push_back({r, r->next++});
        --queued_items_;
      }
    }
    if (!batch.empty()) return batch;
  }
}

void DynamicBatcher::Loop() {
  sync::MutexLock lock(&mu_);
  while (true) {
    std::vector<Taken> batch = NextBatch();
    if (batch.empty()) return;  // shutdown
    std::vector<const RewardItem*> items;
    items.reserve(batch.size());
    for (const auto& t : batch) items.push_back(&t.request->items[t.index]);
    mu_.Unlock();
    auto start = Clock::now();
    auto scores = score_(items);
    double seconds = Seconds(Clock::now() - start);
    if (observer_) observer_(static_cast<int>(batch.size()), seconds);
    mu_.Lock();
    for (size_t i = 0; i < batch.size(); ++i) {
      Request& r = *batch[i].request;
      if (r.finished) continue;  // abandoned or already failed
      if (!scores.ok()) {
        r.finished = true;
        r.status = scores.status();
        queued_items_ -= static_cast<int>(r.items.size() - r.next);
        r.next = r.items.size();
        continue;
      }
      r.results[batch[i].index] = (*scores)[i];
      if (++r.done == r.items.size()) r.finished = true;
    }
    done_cv_.SignalAll();
  }
}

}  // namespace maskgrpo::reward
