#pragma once
// Mutex and MutexLock: std::mutex with clang thread-safety annotations, so
// `GUARDED_BY(mu_)` on a member is checked at compile time (clang builds use
// -Wthread-safety). CondVar waits on a Mutex.
//
// Thread safety: that is the point.

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "base/thread_annotations.h"

namespace zl {

class CAPABILITY("mutex") Mutex {
 public:
  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `mu` for the scope.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~MutexLock() RELEASE() { mu_.Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

class CondVar {
 public:
  // Waits until `done()` or `timeout`; returns done(). REQUIRES: mu held.
  template <typename Pred>
  bool WaitFor(Mutex& mu, std::chrono::nanoseconds timeout, Pred done) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    bool ok = cv_.wait_for(lock, timeout, done);
    lock.release();  // still held: the caller's MutexLock releases it
    return ok;
  }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace zl
