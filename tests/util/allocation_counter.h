// Counts the calling thread's allocations through operator new, for tests
// that show which operations allocate nothing (or how little):
//
//   const long before = rcu_test::ThreadAllocations();
//   rcu::Retire(obj);
//   EXPECT_EQ(rcu_test::ThreadAllocations(), before);
//
// and makes a chosen allocation fail, for allocation-failure sweeps:
//
//   for (long n = 1;; ++n) {
//     rcu_test::FailNthAllocation(n);       // this thread's n-th from now
//     try { Operation(); } catch (const std::bad_alloc&) { ... }
//     const bool failed = rcu_test::InjectedFailureHappened();
//     rcu_test::FailNthAllocation(0);       // off again
//     if (!failed) break;                   // n passed every allocation
//   }
//
// Compiling allocation_counter.cc into a test binary replaces its global
// operator new and delete (plain, nothrow, array and aligned) with counting
// versions over malloc and free. (Put it in the test's srcs, not in a
// library: see tests/BUILD.)
#ifndef TESTS_UTIL_ALLOCATION_COUNTER_H_
#define TESTS_UTIL_ALLOCATION_COUNTER_H_

namespace rcu_test {

// Allocations made so far by the calling thread.
long ThreadAllocations();

// Makes the calling thread's n-th allocation from now fail (n = 1: the next
// one): operator new throws std::bad_alloc, the nothrow forms return null.
// With `and_later`, every allocation of the thread after it fails too.
// n = 0 turns injection off. Other threads are never affected.
void FailNthAllocation(long n, bool and_later = false);

// True if an allocation has failed by injection since the calling thread's
// last FailNthAllocation().
bool InjectedFailureHappened();

// Allocations through operator new not yet returned through operator
// delete, over the whole process (every thread). Compare two readings to
// see whether an operation leaked.
long LiveAllocations();

}  // namespace rcu_test

#endif  // TESTS_UTIL_ALLOCATION_COUNTER_H_
