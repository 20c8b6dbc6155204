// rcu/diagnostics.h: what happens when the RCU API is misused.
//
// Some mistakes would otherwise fail silently, corrupt memory or hang every
// writer. The core and every container built on it report them here, through
// one handler, and count them in rcu::Stats::diagnostics_reported:
//
//   kSynchronizeInReadSection  Synchronize() or Barrier() called while the
//                              calling thread holds a ReadGuard. It would
//                              wait for itself forever. Fatal.
//   kForkInReadSection         fork() called while the calling thread holds a
//                              ReadGuard. fork() waits for grace periods in
//                              progress, which wait for that reader. Fatal.
//   kBlockingInCallback        Barrier() or fork() called from an RCU
//                              callback. It would wait for that callback
//                              forever. Fatal.
//   kThreadExitInReadSection   A thread exited while inside a read-side
//                              critical section (a leaked ReadGuard). The
//                              library ends the section and unregisters the
//                              thread so that writers are not blocked forever.
//   kExitInReadSection         exit() called while the calling thread holds a
//                              ReadGuard. The callbacks pending at exit cannot
//                              wait for a grace period there; they run at the
//                              very end of exit instead, after static
//                              destructors. Not fatal.
//   kCallbackThrew             An RCU callback threw. The exception is caught
//                              and dropped; other callbacks keep running.
//   kListenerThrew             A container's user callback that must not
//                              throw did (an rcu::Snapshot subscriber, a
//                              ConfigWatcher listener). Caught and dropped.
//   kContainerMisuse           A container's API was misused in a way that
//                              would corrupt it or wait forever (a null value
//                              stored in an rcu::Snapshot, a ConfigWatcher
//                              stopped from its own thread, ...). Fatal.
//   kCheckFailed               A checked precondition does not hold: in every
//                              build, rcu::Mutex::AssertHeld(); in debug
//                              builds, the lists' checks (erase(end()), a
//                              node of another list, a lock not held, ...).
//                              Fatal.
//   kDomainInUse               An rcu::Domain destroyed while a read-side
//                              section of it is open (a Domain::ReadGuard or
//                              ReadToken outlives it). Fatal.
//
// Each one is reported to a handler. The default handler writes the message to
// stderr. After a fatal report the process aborts even if the handler returns.
//
//   rcu::SetDiagnosticHandler([](const rcu::Diagnostic& d) {
//     LOG(ERROR) << d.message;
//   });
#ifndef RCU_DIAGNOSTICS_H_
#define RCU_DIAGNOSTICS_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <functional>
#include <string>

namespace rcu {

struct Diagnostic {
  enum class Kind {
    kSynchronizeInReadSection,
    kBlockingInCallback,
    kThreadExitInReadSection,
    kCallbackThrew,
    kForkInReadSection,
    kListenerThrew,
    kContainerMisuse,
    kCheckFailed,
    kExitInReadSection,
    kDomainInUse,
  };
  Kind kind;
  bool fatal;           // The process aborts after the handler returns.
  std::string message;  // One line, starting with "rcu" (the core) or the
                        // container's name ("rcu::Snapshot: ").
};

using DiagnosticHandler = std::function<void(const Diagnostic&)>;

// Installs `handler` (or the default handler, for nullptr) and returns the
// previous one. Thread-safe; the handler may run on any thread, including the
// callback worker, and must not use RCU itself. Reports already under way on
// other threads when this returns may still call the previous handler: let a
// handler own what it uses (capture by value or by shared_ptr) rather than
// destroy that right after replacing it.
DiagnosticHandler SetDiagnosticHandler(DiagnosticHandler handler);

}  // namespace rcu

#endif  // RCU_DIAGNOSTICS_H_
