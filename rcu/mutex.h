// rcu/mutex.h: the writers' mutex.
//
// RCU readers take no lock, but writers that modify the same structure must be
// serialized. `rcu::Mutex` is that lock: a `std::mutex` annotated for clang's
// thread-safety analysis (`-Wthread-safety`, see `--config=clang`) and able to
// assert that the calling thread holds it. RCU-protected pointers accept it
// as evidence that the caller may read or replace the protected value
// (see rcu/rcu_ptr.h).
//
//   rcu::Mutex mu;
//   rcu::RcuPtr<Config> config ABSL_GUARDED_BY(mu);  // writers hold mu
//
//   void Reload(std::unique_ptr<Config> next) {
//     rcu::MutexLock lock(mu);
//     Config* old = config.Exchange(next.release(), mu);
//     rcu::Retire(old);
//   }
//
// Why not absl::Mutex? Debian's Abseil is not built with ThreadSanitizer, so
// TSan cannot see its lock and unlock and reports every guarded access as a
// race. std::mutex goes through pthreads, which TSan intercepts. `Mutex` also
// satisfies the standard Lockable requirements (lock/unlock/try_lock), so it
// works with std::unique_lock and std::condition_variable_any.
#ifndef RCU_MUTEX_H_
#define RCU_MUTEX_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <atomic>
#include <mutex>

#include "absl/base/thread_annotations.h"

namespace rcu {
namespace internal {
class CondVar;
// A per-thread object whose address identifies the calling thread (the same
// in a fork() child as in the thread that forked).
inline thread_local char thread_identity;
}  // namespace internal

class ABSL_LOCKABLE Mutex {
 public:
  // Constant-initialized: a Mutex with static storage duration may be used
  // from any static initializer or destructor.
  constexpr Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    mu_.lock();
    owner_.store(&internal::thread_identity, std::memory_order_relaxed);
  }
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    owner_.store(nullptr, std::memory_order_relaxed);
    mu_.unlock();
  }
  bool TryLock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    if (!mu_.try_lock()) return false;
    owner_.store(&internal::thread_identity, std::memory_order_relaxed);
    return true;
  }

  // True if the calling thread holds the lock. Exact for the caller: only
  // the owner stores its own identity, and it clears it before unlocking.
  bool HeldByCurrentThread() const {
    return owner_.load(std::memory_order_relaxed) == &internal::thread_identity;
  }

  // Aborts with a message unless the calling thread holds the lock; also
  // tells the static analysis that it does.
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK();

  // Standard Lockable spelling, for std::unique_lock and friends.
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { Lock(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { Unlock(); }
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) { return TryLock(); }

 private:
  friend class internal::CondVar;  // waits on mu_ (rcu/internal/cond_var.h)

  std::mutex mu_;
  // The holder's internal::thread_identity, or null while unlocked. Written
  // only by the holder while it holds mu_; read racily by
  // HeldByCurrentThread(), which only needs to know whether it is the
  // reader's own.
  std::atomic<const char*> owner_{nullptr};
};

// Holds a Mutex for the lifetime of the object.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_.Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_.Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

}  // namespace rcu

#endif  // RCU_MUTEX_H_
