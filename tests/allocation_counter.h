// Counts the calling thread's allocations through operator new, for tests
// that show which operations allocate nothing (or how little):
//
//   const long before = rcu_test::ThreadAllocations();
//   rcu::Retire(obj);
//   EXPECT_EQ(rcu_test::ThreadAllocations(), before);
//
// Compiling allocation_counter.cc into a test binary replaces its global
// operator new and delete with counting versions over malloc and free. (Put
// it in the test's srcs, not in a library: see tests/BUILD.)
#ifndef TESTS_ALLOCATION_COUNTER_H_
#define TESTS_ALLOCATION_COUNTER_H_

namespace rcu_test {

// Allocations made so far by the calling thread.
long ThreadAllocations();

}  // namespace rcu_test

#endif  // TESTS_ALLOCATION_COUNTER_H_
