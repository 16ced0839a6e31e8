// Retry pauses of the worker's clients (learner and reward servers): a jittered exponential
// backoff, and a pause that ends early when a disconnected channel connects again.
#pragma once

#include <grpcpp/channel.h>

#include <chrono>

namespace maskgrpo::worker {

// Sleeps for a jittered exponential backoff: uniform in [d/2, d] with d = initial * 2^attempt, capped.
void SleepBackoff(int attempt, std::chrono::milliseconds initial, std::chrono::milliseconds max);
// The same pause, not slept: initial * 2^attempt, capped at max, jittered down to half.
std::chrono::milliseconds BackoffDelay(int attempt, std::chrono::milliseconds initial, std::chrono::milliseconds max);
// A retry's pause before a call on `channel`: sleeps `delay`, or less when the channel is not
// connected: then it returns as soon as it connects, so a restarted server is used at once.
// (Between calls nothing but gRPC's 5 s backup poller notices that a reconnection attempt
// succeeded: a worker found its restarted learner 10-20 s late.)
void PauseBeforeRetry(grpc::Channel& channel, std::chrono::milliseconds delay);

}  // namespace maskgrpo::worker
