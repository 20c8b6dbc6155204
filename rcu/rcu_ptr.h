// rcu/rcu_ptr.h: typed RCU-protected pointers.
//
// `RcuPtr<T>` is the C++ counterpart of the kernel's `T __rcu *`: a pointer
// that offers no plain access. Readers subscribe through a ReadGuard, which
// bounds how long the result may be used; writers publish with release
// semantics and read or exchange only while holding the writers' lock, which
// they pass as evidence.
//
// Pointers read by the sections of an rcu::Domain (rcu/domain.h) take that
// domain's guard or token as evidence instead; an OwnedRcuPtr made with a
// domain retires through it, and debug builds check that its readers pass
// evidence of that domain.
//
//   struct Config { int port; std::string host; };
//
//   rcu::Mutex mu;                       // serializes writers
//   rcu::OwnedRcuPtr<Config> current;    // owns what it points to
//
//   int Port() {                         // any thread, never blocks
//     rcu::ReadGuard guard;
//     return current.Dereference(guard)->port;
//   }
//
//   void SetPort(int port) {             // writers
//     rcu::MutexLock lock(mu);
//     auto next = std::make_unique<Config>(*current.Protected(mu));
//     next->port = port;
//     current.Replace(std::move(next), mu);  // old one freed after a grace period
//   }
//
// `Dereference(guard)` is annotated ABSL_ATTRIBUTE_LIFETIME_BOUND, so clang
// warns when the result outlives a temporary guard, and debug builds check that
// the calling thread really is inside a read-side critical section. Writer
// methods take the lock (`rcu::Mutex`, `absl::Mutex`, anything lockable) and are
// annotated ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) for `-Wthread-safety`; debug
// builds also check at run time that the caller holds it, when the lock type can
// tell (it has HeldByCurrentThread()).
#ifndef RCU_RCU_PTR_H_
#define RCU_RCU_PTR_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <atomic>
#include <memory>
#include <type_traits>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"
#include "rcu/call_rcu.h"
#include "rcu/domain.h"
#include "rcu/internal/checks.h"
#include "rcu/internal/lock_evidence.h"
#include "rcu/read_guard.h"

namespace rcu {

// An RCU-protected pointer that does not own its target. See the file comment.
template <typename T>
class RcuPtr {
 public:
  constexpr RcuPtr() noexcept = default;
  // Initial value, visible to every reader that later reaches this RcuPtr.
  explicit RcuPtr(T* initial) noexcept : ptr_(initial) {}

  RcuPtr(const RcuPtr&) = delete;
  RcuPtr& operator=(const RcuPtr&) = delete;

  // rcu_dereference: the current value, valid while `guard` lives.
  T* Dereference(const ReadGuard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND) const {
    (void)guard;
    internal::DebugCheckReader();
    return ptr_.load(std::memory_order_acquire);
  }

  // The same, for a reader of an rcu::Domain: valid while `guard` lives, or
  // while `token` holds its section.
  T* Dereference(const Domain::ReadGuard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND) const {
    (void)guard;
    return ptr_.load(std::memory_order_acquire);
  }
  T* Dereference(const Domain::ReadToken& token ABSL_ATTRIBUTE_LIFETIME_BOUND) const {
    RCU_INTERNAL_DCHECK(token.active(), "Dereference() with a ReadToken that holds no section");
    (void)token;
    return ptr_.load(std::memory_order_acquire);
  }

  // rcu_assign_pointer: publishes `p`. Everything written to `*p` before this
  // call is visible to a reader that dereferences `p`.
  void Assign(T* p) noexcept { ptr_.store(p, std::memory_order_release); }

  // rcu_dereference_protected: the current value, for a writer holding `lock`.
  template <typename Lock>
  T* Protected(const Lock& lock) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    internal::DebugCheckHeld(lock, kWriterWithoutLock);
    return ptr_.load(std::memory_order_relaxed);
  }

  // Publishes `p` and returns the previous value, for a writer holding `lock`.
  // The caller must not free the previous value before a grace period:
  // pass it to rcu::Retire().
  template <typename Lock>
  T* Exchange(T* p, const Lock& lock) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    internal::DebugCheckHeld(lock, kWriterWithoutLock);
    return ptr_.exchange(p, std::memory_order_acq_rel);
  }

 private:
  static constexpr const char* kWriterWithoutLock =
      "writer access to an RCU pointer without holding the writers' lock passed as "
      "evidence";

  template <typename, typename>
  friend class OwnedRcuPtr;

  // Written with release (publication), read with acquire (subscription).
  std::atomic<T*> ptr_{nullptr};
};

// An RCU-protected pointer that owns its target: replacing or destroying it
// retires the old value through rcu::Retire(), so it is freed after a grace
// period. Readers see `const T`: an update copies, modifies and replaces.
template <typename T, typename Deleter = std::default_delete<T>>
class OwnedRcuPtr {
 public:
  OwnedRcuPtr() noexcept = default;
  explicit OwnedRcuPtr(std::unique_ptr<T, Deleter> initial) noexcept : ptr_(initial.release()) {}
  // Protected by `domain`'s sections, and retired through it: readers pass a
  // Domain::ReadGuard or ReadToken of `domain`. The domain must outlive it.
  explicit OwnedRcuPtr(Domain& domain, std::unique_ptr<T, Deleter> initial = nullptr) noexcept
      : ptr_(initial.release()), domain_(&domain) {}
  // Retires the current value: readers that still hold it keep it until
  // their guards end.
  ~OwnedRcuPtr() { RetireValue(ptr_.ptr_.exchange(nullptr, std::memory_order_acq_rel)); }

  OwnedRcuPtr(const OwnedRcuPtr&) = delete;
  OwnedRcuPtr& operator=(const OwnedRcuPtr&) = delete;

  // The current value, valid while `guard` lives.
  const T* Dereference(const ReadGuard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND) const {
    RCU_INTERNAL_DCHECK(domain_ == nullptr,
                        "Dereference() of an OwnedRcuPtr of an rcu::Domain under a ReadGuard "
                        "of the default domain, which does not protect it");
    return ptr_.Dereference(guard);
  }
  const T* Dereference(const Domain::ReadGuard& guard ABSL_ATTRIBUTE_LIFETIME_BOUND) const {
    RCU_INTERNAL_DCHECK(&guard.domain() == domain_,
                        "Dereference() of an OwnedRcuPtr under a ReadGuard of another domain");
    return ptr_.Dereference(guard);
  }
  const T* Dereference(const Domain::ReadToken& token ABSL_ATTRIBUTE_LIFETIME_BOUND) const {
    RCU_INTERNAL_DCHECK(token.domain() == domain_,
                        "Dereference() of an OwnedRcuPtr with a ReadToken of another domain "
                        "(or one that holds no section)");
    return ptr_.Dereference(token);
  }

  // The current value, mutable, for a writer holding `lock`. Readers may be
  // looking at it: only change what readers are designed to see change.
  template <typename Lock>
  T* Protected(const Lock& lock) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    return ptr_.Protected(lock);
  }

  // Publishes `next` and retires the previous value.
  template <typename Lock>
  void Replace(std::unique_ptr<T, Deleter> next, const Lock& lock)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    RetireValue(ptr_.Exchange(next.release(), lock));
  }

  // Publishes nullptr and retires the previous value.
  template <typename Lock>
  void Reset(const Lock& lock) ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock) {
    Replace(nullptr, lock);
  }

 private:
  void RetireValue(T* old) {
    if (old == nullptr) return;
    if (domain_ != nullptr) {
      domain_->Retire(old, Deleter());
    } else {
      Retire(old, Deleter());
    }
  }

  RcuPtr<T> ptr_;
  Domain* const domain_ = nullptr;  // null: the default domain
};

}  // namespace rcu

#endif  // RCU_RCU_PTR_H_
