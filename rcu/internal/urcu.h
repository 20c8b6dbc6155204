// Internal: the one place that includes liburcu's memb flavor.
//
// Inline mode (the default, RCU_LGPL_INLINE=1) defines _LGPL_SOURCE, which
// exposes liburcu's reader state and layouts, so that rcu/read_guard.h can
// run the read side inline on them (about 1 ns per lock+unlock instead of
// about 11 ns through a call). liburcu asks that code built this way be
// LGPL-2.1-compatible; see README.md, "License". Build with
// --define=rcu_lgpl_inline=false to call into the shared library instead.
//
// ThreadSanitizer builds always use call mode: the library's read side is
// then uninstrumented, and rcu/internal/sanitizer.h tells TSan about grace
// periods instead.
#ifndef RCU_INTERNAL_URCU_H_
#define RCU_INTERNAL_URCU_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include "rcu/internal/sanitizer.h"

#ifndef RCU_LGPL_INLINE
#define RCU_LGPL_INLINE 1
#endif

#if RCU_LGPL_INLINE && !RCU_INTERNAL_TSAN
#define RCU_INTERNAL_INLINE_READ_SIDE 1
#ifndef _LGPL_SOURCE
#define _LGPL_SOURCE
#define RCU_INTERNAL_DEFINED_LGPL_SOURCE
#endif
#else
#define RCU_INTERNAL_INLINE_READ_SIDE 0
#endif

#include <urcu/urcu-memb.h>  // IWYU pragma: export

#ifdef RCU_INTERNAL_DEFINED_LGPL_SOURCE
#undef _LGPL_SOURCE
#undef RCU_INTERNAL_DEFINED_LGPL_SOURCE
#endif

#endif  // RCU_INTERNAL_URCU_H_
