// The services' mutex, scoped lock and condition variable: Abseil's, except in
// ThreadSanitizer builds (scripts/test_sanitized.sh --thread defines MASKGRPO_STD_SYNC).
// Debian's Abseil is not built with TSan, so TSan cannot see absl::Mutex lock and unlock,
// and it reports every access guarded by one as a data race. The std:: versions below take
// the same calls (with the same thread-safety annotations). TSan sees their pthread calls,
// so it checks our locking for real. Only the primitive changes; every guarded region is the
// same code in both builds.
#pragma once

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#ifdef MASKGRPO_STD_SYNC
#include <chrono>
#include <condition_variable>
#include <mutex>
#endif

namespace maskgrpo::sync {

#ifndef MASKGRPO_STD_SYNC

using Mutex = absl::Mutex;
using MutexLock = absl::MutexLock;
using CondVar = absl::CondVar;

#else

class ABSL_LOCKABLE Mutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { m_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { m_.unlock(); }
  // BasicLockable, for std::condition_variable_any.
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { m_.lock(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { m_.unlock(); }

 private:
  std::mutex m_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// absl::CondVar's calls; the Wait* return true on timeout, as Abseil's do.
class CondVar {
 public:
  void Wait(Mutex* mu) { cv_.wait(*mu); }
  bool WaitWithTimeout(Mutex* mu, absl::Duration timeout) {
    return cv_.wait_for(*mu, absl::ToChronoNanoseconds(timeout)) == std::cv_status::timeout;
  }
  bool WaitWithDeadline(Mutex* mu, absl::Time deadline) {
    return cv_.wait_until(*mu, absl::ToChronoTime(deadline)) == std::cv_status::timeout;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable_any cv_;
};

#endif

}  // namespace maskgrpo::sync
