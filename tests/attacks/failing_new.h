// A replacement operator new that can fail on demand, per thread.
#ifndef TESTS_ATTACKS_FAILING_NEW_H_
#define TESTS_ATTACKS_FAILING_NEW_H_

namespace review {

// From now on in the calling thread: the `n`th next allocation (0 = the very
// next) fails; with `persistent`, every one after it fails too. n < 0 turns
// failures off.
void FailAllocationsAfter(long n, bool persistent);
// Allocations failed so far in the calling thread.
long FailedAllocations();
// Allocations attempted so far in the calling thread.
long AttemptedAllocations();

}  // namespace review

#endif  // TESTS_ATTACKS_FAILING_NEW_H_
