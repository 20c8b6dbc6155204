// Internal: how the parts of the core take part in fork().
//
// The child of fork() is a copy of the process with only the forking thread
// in it. Each part of the core whose state other threads may be changing at
// that moment registers handlers for its stage: `prepare` (in the parent,
// before the fork) brings its state to a point where a copy is consistent,
// usually by taking its locks; `parent` releases that; `child` releases it in
// the child and rebuilds what belonged to the threads that are gone there.
//
//   void BeforeFork() { GetState().mu.Lock(); }
//   ...
//   [[maybe_unused]] const bool fork_hooks_registered = RegisterForkHandlers(
//       ForkStage::kWatchdog, {&BeforeFork, &AfterForkParent, &AfterForkChild});
//
// The stages are the lock order. `prepare` handlers run in stage order;
// `parent` and `child` handlers in the reverse order, so that in the child
// the locks that anything may need (the diagnostics channel's first) are
// free before any part rebuilds.
#ifndef RCU_INTERNAL_FORK_HOOKS_H_
#define RCU_INTERNAL_FORK_HOOKS_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <cstdint>

#include "rcu/internal/callback_list.h"

namespace rcu {
namespace internal {

enum class ForkStage : int {
  // Runs last in the child: sets the callback counters to what the child
  // really has pending (ForkChildCallbacks::pending).
  kCallbackCounts,
  // The first two wait, for the callback batch in progress and for the
  // grace periods in progress, both of which wait for readers. A reader may
  // take the core's locks inside its section (Retire() takes its retire
  // buffer's lock, GetStats() the buffers' registry's, a first Retire()
  // both), so no stage takes a lock that a reader may want until nothing
  // that the fork waits for can be waiting for a reader.
  kCallbackWorker,
  kGracePeriods,
  // The containers' writers' locks (rcu::HashMap's stripes). Their holders
  // wait for nothing the stages above hold up (writers never wait for a
  // grace period while they hold one), and none takes a lock of the stages
  // below; but a writer may hold one inside a read-side section, so they
  // come after the waits.
  kContainers,
  // rcu::Domain (rcu/domain.cc): the registry of domains, each domain's
  // callback lock, the per-thread slot indexes. None is held while waiting
  // for anything. (A domain's grace periods are not waited for: the child
  // abandons one under way.)
  kDomains,
  // From here on, nothing waits for a reader or a callback, only for other
  // threads' short critical sections. Locks, and the guards of lazily made
  // statics: a thread may be making one (its first use of the library) as
  // the process forks, and a child that inherited the guard taken would wait
  // for it forever.
  kExitHook,
  kRetireBuffers,
  kExitDrainRuns,  // taken under the retire buffers' locks
  kWatchdog,
  kThreadRegistry,
  kDiagnostics,
  kCount,
};

// What a fork() child inherits of the callbacks pending in the parent, as
// its stages find them (in reverse stage order).
struct ForkChildCallbacks {
  // Left by threads that do not exist in the child, in the order they are
  // due; the callback worker's stage queues them behind its own.
  CallbackList orphaned;
  // The callbacks that are pending in the child, in total, once every stage
  // has added those it keeps (the worker's queue, its own thread's).
  std::uint64_t pending = 0;
};

struct ForkHandlers {
  void (*prepare)() = nullptr;
  void (*parent)() = nullptr;
  void (*child)(ForkChildCallbacks& inherited) = nullptr;
};

// Registers the handlers of `stage` (once per stage). Call from a static
// initializer of the file that owns the stage's state: the fork hooks are
// installed when the library is loaded, so that a fork() racing with the
// library's first use still runs them. Returns true.
bool RegisterForkHandlers(ForkStage stage, ForkHandlers handlers);

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_FORK_HOOKS_H_
