// Helpers for the RCU core's tests: a reader parked inside a read-side
// section, and polling for properties that hold eventually.
//
//   rcu_test::ParkedReader reader;  // inside its section once constructed
//   rcu::Retire(new T);             // must wait for `reader`
//   reader.Release();
//   EXPECT_TRUE(rcu_test::Eventually([] { return freed; }));
#ifndef TESTS_TEST_UTIL_H_
#define TESTS_TEST_UTIL_H_

#include <atomic>
#include <chrono>
#include <thread>

#include "rcu/read_guard.h"

namespace rcu_test {

// A thread that enters a read-side section and stays there until released
// (or destroyed). Synchronization is by atomics only. The destructor
// releases and joins, so a test that fails early still ends cleanly.
class ParkedReader {
 public:
  ParkedReader()
      : thread_([this] {
          rcu::ReadGuard guard;
          inside_.store(true);
          while (!release_.load()) std::this_thread::yield();
          left_.store(true);  // still inside the guard
        }) {
    while (!inside_.load()) std::this_thread::yield();
  }
  ~ParkedReader() {
    Release();
    thread_.join();
  }
  ParkedReader(const ParkedReader&) = delete;
  ParkedReader& operator=(const ParkedReader&) = delete;

  void Release() { release_.store(true); }
  // True once the reader is on its way out of the section.
  bool left() const { return left_.load(); }

 private:
  // Declared before thread_, so that they exist when it starts.
  std::atomic<bool> inside_{false};
  std::atomic<bool> release_{false};
  std::atomic<bool> left_{false};
  std::thread thread_;
};

// Polls `condition` until it holds (true) or ten seconds pass (false).
template <typename F>
bool Eventually(F condition) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace rcu_test

#endif  // TESTS_TEST_UTIL_H_
