// Internal: whether the read side runs inline (liburcu's memb protocol,
// written out in rcu/internal/read_side.h) or calls liburcu's functions.
//
// Inline mode (the default, RCU_LGPL_INLINE=1) uses liburcu's reader state
// and layouts directly (about 1 ns per lock+unlock instead of about 11 ns
// through a call). liburcu asks that code built this way be
// LGPL-2.1-compatible; see README.md, "License". Build with
// --define=rcu_lgpl_inline=false to call into the shared library instead.
// ThreadSanitizer builds always use call mode, and so does a liburcu whose
// layouts have not been checked (rcu/internal/urcu.h says which are).
//
// This header includes nothing of liburcu's, so that the public headers do
// not bring liburcu's macros into users' code (rcu/internal/urcu_abi.h has
// the few declarations the read side needs).
#ifndef RCU_INTERNAL_READ_SIDE_MODE_H_
#define RCU_INTERNAL_READ_SIDE_MODE_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include "liburcu_config/version.h"
#include "rcu/internal/sanitizer.h"

#ifndef RCU_LGPL_INLINE
#define RCU_LGPL_INLINE 1
#endif

// A version header that does not say (an older or hand-written one) counts
// as not checked.
#ifndef RCU_LIBURCU_LAYOUT_CHECKED
#define RCU_LIBURCU_LAYOUT_CHECKED 0
#endif

#if RCU_LGPL_INLINE && !RCU_INTERNAL_TSAN && RCU_LIBURCU_LAYOUT_CHECKED
#define RCU_INTERNAL_INLINE_READ_SIDE 1
#else
#define RCU_INTERNAL_INLINE_READ_SIDE 0
#endif

#endif  // RCU_INTERNAL_READ_SIDE_MODE_H_
