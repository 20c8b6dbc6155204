// rcu/diagnostics.h: what happens when the RCU API is misused.
//
// Some mistakes would otherwise fail silently or hang every writer:
//
//   kSynchronizeInReadSection  Synchronize() or Barrier() called while the
//                              calling thread holds a ReadGuard. It would
//                              wait for itself forever. Fatal.
//   kBlockingInCallback        Barrier() called from an RCU callback. It would
//                              wait for itself forever. Fatal.
//   kThreadExitInReadSection   A thread exited while inside a read-side
//                              critical section (a leaked ReadGuard). The
//                              library ends the section and unregisters the
//                              thread so that writers are not blocked forever.
//   kCallbackThrew             An RCU callback threw. The exception is caught
//                              and dropped; other callbacks keep running.
//
// Each one is reported to a handler. The default handler writes the message to
// stderr. After a fatal report the process aborts even if the handler returns.
//
//   rcu::SetDiagnosticHandler([](const rcu::Diagnostic& d) {
//     LOG(ERROR) << d.message;
//   });
#ifndef RCU_DIAGNOSTICS_H_
#define RCU_DIAGNOSTICS_H_

#include <functional>
#include <string>

namespace rcu {

struct Diagnostic {
  enum class Kind {
    kSynchronizeInReadSection,
    kBlockingInCallback,
    kThreadExitInReadSection,
    kCallbackThrew,
  };
  Kind kind;
  bool fatal;           // The process aborts after the handler returns.
  std::string message;  // One line, starting with "rcu: ".
};

using DiagnosticHandler = std::function<void(const Diagnostic&)>;

// Installs `handler` (or the default handler, for nullptr) and returns the
// previous one. Thread-safe; the handler may run on any thread, including the
// callback worker, and must not use RCU itself.
DiagnosticHandler SetDiagnosticHandler(DiagnosticHandler handler);

}  // namespace rcu

#endif  // RCU_DIAGNOSTICS_H_
