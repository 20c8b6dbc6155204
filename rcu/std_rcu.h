// rcu/std_rcu.h: the C++26 <rcu> interface (P2545R4, [saferecl.rcu]) in
// namespace rcu, over the library's default domain.
//
// Code written for the standard's interface compiles here with a namespace
// alias (std::, once the standard library ships <rcu>):
//
//   #include <atomic>
//   #include <mutex>
//   #include "rcu/std_rcu.h"
//   namespace stdx = rcu;
//
//   struct Config : stdx::rcu_obj_base<Config> {
//     explicit Config(int p) : port(p) {}
//     int port;
//   };
//   std::atomic<Config*> config{new Config(80)};
//
//   int Port() {                                          // readers
//     std::scoped_lock lock(stdx::rcu_default_domain());  // a read-side section
//     return config.load(std::memory_order_acquire)->port;
//   }
//   void SetPort(int port) {                              // one writer at a time
//     Config* old = config.exchange(new Config(port), std::memory_order_acq_rel);
//     old->retire();          // deleted once every reader that may hold it left
//   }
//   // Elsewhere: stdx::rcu_retire(p, deleter), stdx::rcu_synchronize(),
//   // and stdx::rcu_barrier() before what the deleters use goes away.
//
// How it maps onto the library: rcu_default_domain() is the library's default
// domain, the one rcu::ReadGuard, rcu::Synchronize() and rcu::Retire() use.
// lock() and unlock() open and close the same read-side section as a
// ReadGuard, rcu_synchronize() is rcu::Synchronize(), rcu_barrier() is
// rcu::Barrier(), rcu_retire() is rcu::Retire(), and rcu_obj_base::retire()
// queues through rcu::CallRcu() with a link embedded in the object. So mixing
// the two styles is fine: they share sections, grace periods and callbacks.
// It is the only rcu_domain, as in the standard, which gives users no
// constructor. An rcu::Domain (rcu/domain.h: independent, sleepable,
// SRCU-style) is not an rcu_domain, since its sections return a token that
// Cpp17Lockable's argument-less unlock() cannot carry across threads: code
// that wants independent domains uses rcu::Domain's own API.
//
// Where the library says more than the standard:
//  - A region belongs to its thread: unlock() on the thread that called the
//    matching lock() (do not move a std::unique_lock to another thread).
//  - The read-side rules of rcu/read_guard.h apply. rcu_synchronize() or
//    rcu_barrier() inside a region, and rcu_barrier() from a deleter, are
//    diagnosed and fatal (rcu/diagnostics.h) instead of deadlocking.
//  - lock() is noexcept: a thread's first region registers the thread, and
//    if the system cannot store its exit hook (where a ReadGuard would throw
//    std::bad_alloc), the process terminates.
//  - unlock(), retire() and rcu_retire() may wait for the callback backlog
//    (rcu/call_rcu.h, "Backpressure"), as the standard allows ("may invoke
//    scheduled evaluations").
//  - Deleters run on the library's callback worker, in batches. One that
//    throws is reported and dropped (the standard: undefined behavior).
//  - retire() allocates nothing and never fails. rcu_retire() allocates: a
//    slot in the thread's retire block for an empty deleter type (which is
//    then called default-constructed), a node otherwise. If it cannot, it
//    waits for a grace period and calls the deleter at once outside a
//    region, and throws std::bad_alloc inside one, having scheduled nothing.
//  - retire() moves the deleter out of the object before calling it, so a
//    deleter that destroys the object may still use its own state.
//  - rcu_obj_base<T, D> is not trivially copyable, even when D is (the
//    standard says it is): it holds the callback queue's link, which the
//    library writes while readers may still copy the retired object, so
//    copies never read the link. They copy the deleter, as in the standard.
#ifndef RCU_STD_RCU_H_
#define RCU_STD_RCU_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <memory>
#include <type_traits>
#include <utility>

#include "absl/base/attributes.h"
#include "rcu/call_rcu.h"
#include "rcu/grace_period.h"
#include "rcu/internal/read_side.h"

#if defined(__has_cpp_attribute)
#if __has_cpp_attribute(no_unique_address)
#define RCU_INTERNAL_NO_UNIQUE_ADDRESS [[no_unique_address]]
#endif
#endif
#ifndef RCU_INTERNAL_NO_UNIQUE_ADDRESS
#define RCU_INTERNAL_NO_UNIQUE_ADDRESS
#endif

namespace rcu {

class rcu_domain;
rcu_domain& rcu_default_domain() noexcept;

// std::rcu_domain: the default domain's read-side sections, as a
// Cpp17Lockable. Regions nest; lock() never waits for writers, so
// try_lock() always succeeds. Stateless and thread-safe: each call acts on the calling thread's
// own section. Not annotated for clang's thread-safety analysis, like
// ReadGuard: a read-side section excludes nobody and guards no data.
class rcu_domain {
 public:
  rcu_domain(const rcu_domain&) = delete;
  rcu_domain& operator=(const rcu_domain&) = delete;

  // Opens a (possibly nested) region of RCU protection.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void lock() noexcept { internal::ReadLock(); }

  // Same as lock(); returns true.
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool try_lock() noexcept {
    lock();
    return true;
  }

  // Closes the region this thread opened most recently.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void unlock() noexcept { internal::ReadUnlock(); }

 private:
  friend rcu_domain& rcu_default_domain() noexcept;
  constexpr rcu_domain() noexcept = default;
};

// The default (and only) domain: the same static object on every call.
inline rcu_domain& rcu_default_domain() noexcept {
  // Constant-initialized and trivially destructible: no guard, no destructor.
  static rcu_domain domain;
  return domain;
}

// Waits until every region that began before the call has ended
// (rcu::Synchronize()). Not inside a region.
inline void rcu_synchronize(rcu_domain& dom = rcu_default_domain()) noexcept {
  static_cast<void>(dom);
  Synchronize();
}

// Waits until every deleter scheduled before the call has run
// (rcu::Barrier()). Not inside a region, nor from a deleter.
inline void rcu_barrier(rcu_domain& dom = rcu_default_domain()) noexcept {
  static_cast<void>(dom);
  Barrier();
}

// std::rcu_obj_base: derive T from rcu_obj_base<T, D> (publicly, once) to
// retire objects of T without allocating. D must be default-constructible
// and move-assignable, and callable with a T*.
template <class T, class D = std::default_delete<T>>
class rcu_obj_base : private RcuHead {
 public:
  // Stores `d` in the object and schedules `d(this object)` after a grace
  // period. At most once per object.
  void retire(D d = D(), rcu_domain& dom = rcu_default_domain()) noexcept {
    static_assert(std::is_base_of_v<rcu_obj_base, T> && std::is_convertible_v<T*, rcu_obj_base*>,
                  "retire(): T must derive publicly from rcu_obj_base<T, D>");
    static_assert(std::is_invocable_v<D&, T*>, "rcu_obj_base: D must be callable with a T*");
    static_cast<void>(dom);
    deleter_ = std::move(d);
    rcu::CallRcu(static_cast<RcuHead*>(this), &Reclaim);
  }

 protected:
  rcu_obj_base() = default;
  rcu_obj_base(const rcu_obj_base&) = default;
  rcu_obj_base(rcu_obj_base&&) = default;
  rcu_obj_base& operator=(const rcu_obj_base&) = default;
  rcu_obj_base& operator=(rcu_obj_base&&) = default;
  ~rcu_obj_base() = default;

 private:
  static void Reclaim(RcuHead* head) {
    internal::NoteCallbackType("rcu_obj_base::retire() of", internal::PrettyName<T>());
    auto* base = static_cast<rcu_obj_base*>(head);
    // Out of the object first: the call destroys it, deleter_ included.
    D deleter;
    deleter = std::move(base->deleter_);
    deleter(static_cast<T*>(base));
  }

  // The standard's exposition-only `deleter`. (The queue link is the private
  // base, whose copies start unlinked.)
  RCU_INTERNAL_NO_UNIQUE_ADDRESS D deleter_;
};

// Schedules `d(p)` after a grace period (rcu::Retire(p, d)). May throw
// std::bad_alloc (see the file comment), having scheduled nothing.
template <class T, class D = std::default_delete<T>>
void rcu_retire(T* p, D d = D(), rcu_domain& dom = rcu_default_domain()) {
  static_assert(std::is_move_constructible_v<D>, "rcu_retire: D must be move-constructible");
  static_assert(std::is_invocable_v<D&, T*>, "rcu_retire: D must be callable with a T*");
  static_cast<void>(dom);
  if (p == nullptr) {
    // The standard schedules d(nullptr) too; rcu::Retire() skips null.
    if constexpr (!std::is_same_v<D, std::default_delete<T>>) {
      rcu::CallRcu([d1 = std::move(d)]() mutable { d1(static_cast<T*>(nullptr)); });
    }
    return;
  }
  rcu::Retire(p, std::move(d));  // qualified: no ADL into T's namespace
}

}  // namespace rcu

#endif  // RCU_STD_RCU_H_
