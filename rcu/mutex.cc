#include "rcu/mutex.h"

#include "rcu/internal/checks.h"

namespace rcu {

void Mutex::AssertHeld() const {
  if (!HeldByCurrentThread()) {
    internal::CheckFailed("rcu::Mutex::AssertHeld(): the calling thread does not hold it", __FILE__,
                          __LINE__);
  }
}

}  // namespace rcu
