#include "rollout_worker/backoff.h"

#include <algorithm>
#include <random>
#include <thread>

namespace maskgrpo::worker {

std::chrono::milliseconds BackoffDelay(int attempt, std::chrono::milliseconds initial, std::chrono::milliseconds max) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  double d = static_cast<double>(initial.count()) * static_cast<double>(1ull << std::min(attempt, 20));
  d = std::min(d, static_cast<double>(max.count()));
  const double jittered = std::uniform_real_distribution<double>(d / 2, d)(rng);
  return std::chrono::milliseconds(static_cast<int64_t>(jittered));
}

void SleepBackoff(int attempt, std::chrono::milliseconds initial, std::chrono::milliseconds max) {
  std::this_thread::sleep_for(BackoffDelay(attempt, initial, max));
}

void PauseBeforeRetry(grpc::Channel& channel, std::chrono::milliseconds delay) {
  const auto until = std::chrono::system_clock::now() + delay;
  // A connected channel whose call failed anyway (a paused or overloaded server) gets the
  // whole pause: waiting for a connection would return at once and retry in a busy loop.
  if (channel.GetState(/*try_to_connect=*/true) != GRPC_CHANNEL_READY && channel.WaitForConnected(until)) return;
  std::this_thread::sleep_until(until);
}

}  // namespace maskgrpo::worker
