// Holds the RCU callback backlog up until the calling thread waits for it,
// so that a test can see a backlog debt paid as a wait (Stats::backlog_waits)
// rather than race the callback worker, which would otherwise drain the
// backlog the moment the owing section ends, and sometimes before the
// payment looks at it.
//
//   BacklogSetup setup;              // the test's own limit and callbacks
//   rcu_test::BacklogHold hold;      // before anything is queued
//   {
//     rcu::ReadGuard guard;
//     ...queue over the limit: the thread owes the wait...
//   }                                // pays: waits until `hold` lets go
//   hold.Returned();
//   EXPECT_TRUE(hold.Waited());
//
// A reader parked inside a section keeps every grace period that starts
// after it from ending, so no callback queued after the constructor runs
// until the calling thread has waited for the backlog (it is then let go),
// or has said it returned without waiting (Returned(); the test then fails
// on Waited() rather than hanging).
#ifndef RCU_TESTS_UTIL_BACKLOG_HOLD_H_
#define RCU_TESTS_UTIL_BACKLOG_HOLD_H_

#include <atomic>
#include <cstdint>
#include <thread>

#include "rcu/stats.h"
#include "tests/util/test_util.h"

namespace rcu_test {

class BacklogHold {
 public:
  BacklogHold()
      : waits_(Waits()), releaser_([this] {
          while (Waits() == waits_ && !returned_.load()) std::this_thread::yield();
          reader_.Release();
        }) {}
  ~BacklogHold() { Returned(); }
  BacklogHold(const BacklogHold&) = delete;
  BacklogHold& operator=(const BacklogHold&) = delete;

  // The code under test has returned: lets the backlog drain if it has not
  // been let go already.
  void Returned() {
    returned_.store(true);
    if (releaser_.joinable()) releaser_.join();
  }
  // Whether some thread waited for the backlog since the constructor.
  bool Waited() const { return Waits() > waits_; }

 private:
  static std::uint64_t Waits() { return rcu::GetStats().backlog_waits; }

  // Declared in this order: the reader is inside before the releaser starts.
  ParkedReader reader_;
  const std::uint64_t waits_;
  std::atomic<bool> returned_{false};
  std::thread releaser_;
};

}  // namespace rcu_test

#endif  // RCU_TESTS_UTIL_BACKLOG_HOLD_H_
