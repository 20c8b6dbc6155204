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
//
// liburcu versions. The inline read side relies on liburcu internals that
// its headers do not promise to keep: the memb reader word's bits, the
// grace-period state and how synchronize_rcu() sleeps and is woken. It has
// been checked against liburcu 0.13.2 (Debian bookworm) only; the list is
// rcu/internal/liburcu_checked_versions.txt. Both builds generate
// <liburcu_config/version.h> from the installed liburcu, with
// RCU_LIBURCU_LAYOUT_CHECKED 1 only for a listed version. Any other version
// (0.14, 0.15, ..., or one the build could not determine) runs in call mode
// even when RCU_LGPL_INLINE is 1, and the build says so when it configures
// (CMake: a warning; Bazel: a warning from the @liburcu repository rule).
// In both modes the stall watchdog (rcu/stall.cc) reads the reader words and
// the grace-period counter through the installed headers' definitions; it
// only reports.
#ifndef RCU_INTERNAL_URCU_H_
#define RCU_INTERNAL_URCU_H_

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
