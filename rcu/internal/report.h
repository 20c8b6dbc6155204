// Internal: the diagnostics channel (rcu/diagnostics.h), for the core and the
// containers built on it.
#ifndef RCU_INTERNAL_REPORT_H_
#define RCU_INTERNAL_REPORT_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <string>

#include "rcu/diagnostics.h"

namespace rcu {
namespace internal {

// Counts the report (Stats::diagnostics_reported) and sends it to the
// installed handler, or writes it to stderr; aborts afterwards if fatal.
// `message` is one line starting with the reporting component ("rcu: ",
// "rcu::Snapshot: ", ...).
void Report(Diagnostic::Kind kind, bool fatal, std::string message);

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_REPORT_H_
