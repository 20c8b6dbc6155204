// Counts the calling thread's allocations through operator new, for tests
// that show which operations allocate nothing (or how little):
//
//   const long before = rcu_test::ThreadAllocations();
//   rcu::Retire(obj);
//   EXPECT_EQ(rcu_test::ThreadAllocations(), before);
//
// Linking this library replaces the global operator new and delete of the
// whole test binary with counting versions over malloc and free.
#ifndef TESTS_ALLOCATION_COUNTER_H_
#define TESTS_ALLOCATION_COUNTER_H_

namespace rcu_test {

// Allocations made so far by the calling thread.
long ThreadAllocations();

}  // namespace rcu_test

#endif  // TESTS_ALLOCATION_COUNTER_H_
