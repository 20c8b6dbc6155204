// Internal: a condition variable for rcu::Mutex, so that the core's state can
// be guarded by rcu::Mutex (and checked by -Wthread-safety) and still be
// waited on.
//
// std::condition_variable_any would do, but it allocates when it is made and
// takes a second lock on every wait; this one waits on the std::mutex inside
// rcu::Mutex directly. Waits are loops over the guarded condition, so that
// the analysis sees every guarded read under the lock:
//
//   rcu::MutexLock lock(state.mu);
//   while (!state.done) state.changed.Wait(state.mu);
#ifndef RCU_INTERNAL_COND_VAR_H_
#define RCU_INTERNAL_COND_VAR_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "rcu/mutex.h"

namespace rcu {
namespace internal {

class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // Releases `mu`, waits for a signal (or a spurious wake-up), and takes
  // `mu` again.
  void Wait(Mutex& mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Released released(mu);
    cv_.wait(released.lock);
  }

  // The same, giving up at `deadline`. Returns false if it gave up.
  template <typename Clock, typename Duration>
  bool WaitUntil(Mutex& mu, const std::chrono::time_point<Clock, Duration>& deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    Released released(mu);
    return cv_.wait_until(released.lock, deadline) == std::cv_status::no_timeout;
  }

  template <typename Rep, typename Period>
  bool WaitFor(Mutex& mu, const std::chrono::duration<Rep, Period>& timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return WaitUntil(mu, std::chrono::steady_clock::now() + timeout);
  }

  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  // Lends the std::mutex inside `mu` to the wait, with mu's owner cleared
  // while the wait has it released.
  struct Released {
    explicit Released(Mutex& m) : mu(m), lock(m.mu_, std::adopt_lock) {
      mu.owner_.store(nullptr, std::memory_order_relaxed);
    }
    ~Released() {
      lock.release();  // still held: the wait took it back
      mu.owner_.store(&thread_identity, std::memory_order_relaxed);
    }
    Mutex& mu;
    std::unique_lock<std::mutex> lock;
  };

  std::condition_variable cv_;
};

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_COND_VAR_H_
