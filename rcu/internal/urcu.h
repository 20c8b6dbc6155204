// Internal: the one place that includes liburcu's memb flavor, for the
// core's .cc files only (the headers users include see
// rcu/internal/urcu_abi.h instead, checked here against liburcu's own).
//
// The mode (rcu/internal/read_side_mode.h): inline mode defines _LGPL_SOURCE,
// which exposes liburcu's reader state and layouts; call mode uses liburcu's
// exported functions. ThreadSanitizer builds always use call mode: the
// library's read side is then uninstrumented, and rcu/internal/sanitizer.h
// tells TSan about grace periods instead.
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

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <cstddef>

#include "rcu/internal/read_side_mode.h"
#include "rcu/internal/urcu_abi.h"

#if RCU_INTERNAL_INLINE_READ_SIDE && !defined(_LGPL_SOURCE)
#define _LGPL_SOURCE
#define RCU_INTERNAL_DEFINED_LGPL_SOURCE
#endif

#include <urcu/urcu-memb.h>  // IWYU pragma: export

#ifdef RCU_INTERNAL_DEFINED_LGPL_SOURCE
#undef _LGPL_SOURCE
#undef RCU_INTERNAL_DEFINED_LGPL_SOURCE
#endif

// What rcu/internal/urcu_abi.h declares, checked against liburcu's headers
// (in call mode too: the stall watchdog reads the same state).
#include <urcu/static/urcu-common.h>

static_assert(rcu::internal::kUrcuGpCount == URCU_GP_COUNT);
static_assert(rcu::internal::kUrcuGpCtrPhase == URCU_GP_CTR_PHASE);
static_assert(rcu::internal::kUrcuGpCtrNestMask == URCU_GP_CTR_NEST_MASK);
static_assert(offsetof(struct urcu_gp, ctr) == 0);
static_assert(offsetof(struct urcu_gp, futex) == rcu::internal::kUrcuGpFutexOffset);
static_assert(sizeof(((struct urcu_gp*)nullptr)->futex) == sizeof(std::int32_t));

#endif  // RCU_INTERNAL_URCU_H_
