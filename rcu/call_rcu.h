// rcu/call_rcu.h: deferred reclamation.
//
// After a writer unpublishes an object, readers may still hold it until their
// guards end. Instead of waiting (rcu/grace_period.h), hand it over:
//
//   rcu::Retire(old);                        // delete old after a grace period
//   rcu::Retire(old, [](Node* n) { pool.Free(n); });   // custom deleter
//   rcu::CallRcu([name = std::move(name)] { Log(name); });  // any callable
//
// Callbacks run on one worker thread, whatever the CPU count, in batches:
// the worker takes everything queued, waits for one grace period, and runs
// the batch in queueing order. Batches are paced, since each grace period
// interrupts every CPU that runs the process: on a quiet system a callback
// runs within a few tens of milliseconds, at once when a thread waits for it
// (Barrier(), backpressure, exit). These calls never block a reader and may
// be made inside a read-side critical section.
//
// Batching: Retire(p) and Retire(p, deleter) with a stateless deleter (such as
// std::default_delete) allocate no node per object: each thread collects its
// retired pointers in blocks of a few dozen, handed to the worker when full,
// before the thread queues any other callback, and otherwise soon. So one
// thread's callbacks still run in the order it queued them, and callbacks
// from different threads were never ordered anyway. (The policy and its
// reasons: rcu/internal/batching.h.)
//
// No allocation: an object that derives from `rcu::RcuObjBase<T>` carries its
// own queue link, and `rcu::Retire(obj)` then allocates nothing. For C-style
// code, `CallRcu(RcuHead*, fn)` takes an embedded head.
//
// Rules:
//  - Callbacks must not throw. One that does is reported (rcu/diagnostics.h),
//    counted in Stats::callbacks_failed, and dropped; the rest keep running.
//  - Callbacks may queue further callbacks and may enter read-side sections,
//    but must not call Barrier() or fork() (diagnosed, fatal).
//  - Backpressure: when more than CallbackBacklogLimit() callbacks are waiting
//    for the worker, a thread that queues another waits until the worker has
//    caught up to half the limit, so a retire storm cannot grow memory without
//    bound. Retired objects count once their block is handed over; blocks that
//    the worker or Barrier() hand over make nobody wait, so the backlog can
//    exceed the limit by up to one block per thread. A thread waits only for
//    the callbacks queued before it (down to half the limit), so others that
//    keep queueing cannot keep it waiting. A thread inside a read-side
//    section cannot wait there (the backlog drains only after a grace
//    period, which that section holds up): it waits when it leaves its
//    outermost section instead (in its ReadGuard's destructor), if the
//    backlog is still over the limit then. So even a storm of retirements
//    made inside sections stays bounded, unless one section lasts forever.
//    The callback worker itself never waits.
//  - Locks and backpressure. Linux's call_rcu() never blocks, and code ported
//    from the kernel retires while holding locks. Here the backlog wait
//    needs the worker to make progress, which needs a grace period and the
//    callbacks ahead to return. So a thread that retires while holding a
//    lock that a deleter or callback takes, or that some reader waits for
//    inside its read-side section, could wait forever. It does not: the
//    stall watchdog (rcu/stall.h) sees the worker held up for longer than
//    the stall timeout, reports the callback it is stuck in (or the reader),
//    and backpressure stops waiting while the stall lasts, so memory may
//    grow instead. The clean way is still to retire after unlocking, as the
//    containers do, or to raise the limit. With stall warnings off nothing
//    is watched, and such a wait lasts forever. Barrier() and fork() wait for
//    the worker too, and cannot stop waiting: do not call them while holding
//    a lock that a callback takes (the watchdog names the callback).
//  - Barrier() waits until every callback queued before it has run,
//    including those of threads that have exited.
//  - Not from signal handlers: CallRcu(), Retire() and Barrier() are not
//    async-signal-safe. They take the calling thread's own retire-block lock
//    (a handler that interrupts the thread while it holds it deadlocks) and
//    may wait or allocate. Read-side sections are fine in handlers.
//  - Out of memory: CallRcu(RcuHead*, fn) and RcuObjBase::Retire() allocate
//    nothing and never fail, from the first call on. Retire() outside a
//    read-side section never throws: if it cannot allocate, it waits for a
//    grace period and reclaims at once. Inside a section, and CallRcu(f)
//    anywhere, throw std::bad_alloc having done nothing: the caller still
//    owns what it passed. If no thread can be created for the callback
//    worker, callbacks wait for it, and Barrier() and backpressure run them
//    in the calling thread meanwhile.
//  - At exit: the first call in a process registers an atexit handler that
//    runs every pending callback, and the callbacks those queue in turn, so
//    callbacks queued before exit() run before the static objects
//    constructed before that first call are destroyed, and leak checkers see
//    no pending objects. Callbacks queued after that (by static destructors,
//    say) are batched in the thread that queues them: it runs them itself,
//    after one grace period per block's worth of callbacks, and never at the
//    same time as other destructors. A thread's last partial batch runs at
//    its next Barrier() (call one at the end of a destructor whose deleters
//    use other static objects), or else at the very end of exit, after all
//    static destructors. _exit() and quick_exit() run no callbacks.
//  - fork(): installed automatically, the library's fork hooks wait for the
//    callback batch and the grace periods in progress (not for readers'
//    locks: readers may retire inside their sections while a process forks),
//    and the child gets a new callback worker, started on demand. Each process
//    then runs its own copy of the callbacks pending at the fork, on its own
//    copy of the memory. Threads other than the forking one do not exist in
//    the child; any read-side sections they were in are ended there, their
//    partial retire blocks are adopted, and their Barrier() waits dropped, so
//    the child may read, retire and synchronize freely. fork() inside a
//    read-side section would wait for itself (diagnosed, fatal). (This covers
//    threads that registered through this library, which is every thread
//    that uses it; threads that called liburcu's urcu_memb_register_thread()
//    themselves must not be inside a read-side section when another thread
//    forks.)
#ifndef RCU_CALL_RCU_H_
#define RCU_CALL_RCU_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace rcu {

// A queue link for one pending callback. Embed it (or derive from it) to queue
// a callback without allocating.
class RcuHead {
 public:
  RcuHead() noexcept = default;
  RcuHead(const RcuHead&) noexcept : RcuHead() {}
  RcuHead& operator=(const RcuHead&) noexcept { return *this; }

 private:
  friend struct RcuHeadAccess;
  RcuHead* next_ = nullptr;  // the queue's link; meaningful only while queued
  void (*callback_)(RcuHead*) = nullptr;
};

// call_rcu: runs `callback(head)` after a grace period. `*head` must stay
// valid and unused until the callback runs.
void CallRcu(RcuHead* head, void (*callback)(RcuHead*));

// Runs `fn()` after a grace period. `fn` may be move-only.
template <typename F>
void CallRcu(F&& fn);

// kfree_rcu: `delete ptr` after a grace period. Allocates nothing when T
// derives from RcuObjBase<T>; otherwise a slot in the thread's retire block
// (see "Batching" above), one block allocation per few dozen objects.
template <typename T>
void Retire(T* ptr);

// `deleter(ptr)` after a grace period.
template <typename T, typename Deleter>
void Retire(T* ptr, Deleter deleter);

// Waits until every callback queued before the call has run. Must not be
// called inside a read-side section or from a callback (diagnosed, fatal).
void Barrier();

// Backpressure threshold (see the file comment). The default is 100,000.
void SetCallbackBacklogLimit(std::size_t limit);
std::size_t CallbackBacklogLimit();

namespace internal {

// Stall reports (rcu/stall.h) name the callback the worker is stuck in:
// each callback the library makes says what it is as it starts. A no-op
// except on the callback thread. `what` is a static string; `pretty` is
// PrettyName<T>() of the type that tells callbacks apart.
void NoteCallbackType(const char* what, const char* pretty);

// A string that contains T's name ("... [with T = Foo]"), from the compiler
// alone: no RTTI needed.
template <typename T>
const char* PrettyName() {
  return __PRETTY_FUNCTION__;
}

}  // namespace internal

// Base class for objects retired without allocating, in the manner of C++26's
// std::rcu_obj_base:
//
//   struct Node : rcu::RcuObjBase<Node> { int value; };
//   rcu::Retire(node);   // or node->Retire();
//
// (An rcu::Domain retires them without allocating too: domain.Retire(node).)
namespace internal {
struct RcuObjAccess;
}  // namespace internal

template <typename T>
class RcuObjBase : private RcuHead {
 public:
  // `delete static_cast<T*>(this)` after a grace period.
  void Retire() noexcept { CallRcu(static_cast<RcuHead*>(this), &Delete); }

 protected:
  RcuObjBase() = default;
  ~RcuObjBase() = default;

 private:
  friend struct internal::RcuObjAccess;
  static void Delete(RcuHead* head) {
    internal::NoteCallbackType("RcuObjBase::Retire() of", internal::PrettyName<T>());
    delete static_cast<T*>(static_cast<RcuObjBase*>(head));
  }
};

namespace internal {
// For other queues of the same objects (rcu::Domain's): the embedded head,
// and the callback that deletes the object.
struct RcuObjAccess {
  template <typename T>
  static RcuHead* Head(T* obj) {
    return static_cast<RcuHead*>(static_cast<RcuObjBase<T>*>(obj));
  }
  template <typename T>
  static void Delete(RcuHead* head) {
    RcuObjBase<T>::Delete(head);
  }
};
}  // namespace internal

// ---------------------------------------------------------------------------
// Implementation details.

namespace internal {

// If a node cannot be allocated, waits for a grace period in the caller and
// returns true (the caller then reclaims inline); returns false if that is
// not allowed here (inside a read-side section or a callback), in which case
// the caller rethrows std::bad_alloc.
bool ReclaimInlineAfterGracePeriod();

// Batched retirement (rcu/internal/retire_buffer.h): queues `reclaim(ptr)` in
// the calling thread's retire block. Returns false, queuing nothing, where
// batching does not apply (after the exit-time drain, during thread exit, or
// when a block cannot be allocated); the caller then queues a node instead.
using Reclaimer = void (*)(void*);
bool RetireBatched(void* ptr, Reclaimer reclaim);

template <typename T, typename Deleter>
void ReclaimWith(void* ptr) {
  NoteCallbackType("Retire() deleter", PrettyName<Deleter>());
  Deleter()(static_cast<T*>(ptr));
}

template <typename F>
struct CallbackNode : RcuHead {
  explicit CallbackNode(F&& f) : fn(std::move(f)) {}
  explicit CallbackNode(const F& f) : fn(f) {}
  F fn;

  static void Run(RcuHead* head) {
    NoteCallbackType("CallRcu() callable", PrettyName<F>());
    std::unique_ptr<CallbackNode> node(static_cast<CallbackNode*>(head));
    node->fn();
  }
};

template <typename T, typename = void>
struct IsRcuObj : std::false_type {};
template <typename T>
struct IsRcuObj<T, std::enable_if_t<std::is_base_of_v<RcuObjBase<T>, T>>> : std::true_type {};

}  // namespace internal

template <typename F>
void CallRcu(F&& fn) {
  using Node = internal::CallbackNode<std::decay_t<F>>;
  auto* node = new Node(std::forward<F>(fn));
  CallRcu(static_cast<RcuHead*>(node), &Node::Run);
}

template <typename T, typename Deleter>
void Retire(T* ptr, Deleter deleter) {
  if (ptr == nullptr) return;
  if constexpr (std::is_empty_v<Deleter> && std::is_default_constructible_v<Deleter>) {
    // Stateless: a default-constructed Deleter does the same job later.
    if (internal::RetireBatched(const_cast<std::remove_cv_t<T>*>(ptr),
                                &internal::ReclaimWith<T, Deleter>)) {
      return;
    }
  }
  auto reclaim = [ptr, d = std::move(deleter)]() mutable { d(ptr); };
  using Node = internal::CallbackNode<decltype(reclaim)>;
  auto* node = new (std::nothrow) Node(std::move(reclaim));
  if (node == nullptr) {
    // Out of memory: reclaim the slow way rather than lose or leak `ptr`.
    if (!internal::ReclaimInlineAfterGracePeriod()) throw std::bad_alloc();
    reclaim();
    return;
  }
  CallRcu(static_cast<RcuHead*>(node), &Node::Run);
}

template <typename T>
void Retire(T* ptr) {
  if (ptr == nullptr) return;
  if constexpr (internal::IsRcuObj<T>::value) {
    ptr->Retire();
  } else {
    Retire(ptr, std::default_delete<T>());
  }
}

}  // namespace rcu

#endif  // RCU_CALL_RCU_H_
