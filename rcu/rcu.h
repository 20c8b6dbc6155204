// rcu/rcu.h: the whole RCU core in one include.
//
//   #include "rcu/rcu.h"
//
//   rcu::Mutex mu;
//   rcu::OwnedRcuPtr<Settings> settings;
//
//   void Serve() {                       // readers: never block
//     rcu::ReadGuard guard;
//     Use(*settings.Dereference(guard));
//   }
//   void Update(Settings next) {         // writers: copy, publish, retire
//     rcu::MutexLock lock(mu);
//     settings.Replace(std::make_unique<Settings>(std::move(next)), mu);
//   }
//
// The pieces: read_guard.h (read-side sections), rcu_ptr.h (typed pointers),
// mutex.h (the writers' lock), grace_period.h (Synchronize and polling
// cookies), call_rcu.h (Retire, CallRcu, Barrier), domain.h (independent,
// sleepable domains), stall.h (stall warnings), diagnostics.h (misuse
// reports), stats.h (counters), std_rcu.h (C++26's <rcu> interface:
// rcu_domain, rcu_obj_base, rcu_retire, over the same core), version.h (the
// release, RCU_CONTAINERS_VERSION).
#ifndef RCU_RCU_H_
#define RCU_RCU_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include "rcu/call_rcu.h"      // IWYU pragma: export
#include "rcu/diagnostics.h"   // IWYU pragma: export
#include "rcu/domain.h"        // IWYU pragma: export
#include "rcu/grace_period.h"  // IWYU pragma: export
#include "rcu/mutex.h"         // IWYU pragma: export
#include "rcu/rcu_ptr.h"       // IWYU pragma: export
#include "rcu/read_guard.h"    // IWYU pragma: export
#include "rcu/stall.h"         // IWYU pragma: export
#include "rcu/stats.h"         // IWYU pragma: export
#include "rcu/std_rcu.h"       // IWYU pragma: export
#include "rcu/version.h"       // IWYU pragma: export

#endif  // RCU_RCU_H_
