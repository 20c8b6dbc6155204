// Helpers for the tests: a reader parked inside a read-side section,
// polling for properties that hold eventually, and stacks of a hung child.
//
//   rcu_test::ParkedReader reader;  // inside its section once constructed
//   rcu::Retire(new T);             // must wait for `reader`
//   reader.Release();
//   EXPECT_TRUE(rcu_test::Eventually([] { return freed; }));
#ifndef TESTS_UTIL_TEST_UTIL_H_
#define TESTS_UTIL_TEST_UTIL_H_

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "rcu/read_guard.h"
#include "tests/util/notification.h"

namespace rcu_test {

// A thread that enters a read-side section and stays there until released
// (or destroyed). Optionally it runs `enter(guard)` inside the section before
// it parks, and `leave(guard)` inside the same section once released: a
// reader that takes a pointer or an iterator, lets the test's writer act, and
// then goes on reading. The constructor returns once `enter` has returned;
// Join() once `leave` has. The destructor releases and joins, so a test that
// fails early still ends cleanly.
//
//   const Item* item = nullptr;
//   bool intact = false;
//   rcu_test::ParkedReader reader(
//       [&](const rcu::ReadGuard& g) { item = &*list.Iterate(g).begin(); },
//       [&](const rcu::ReadGuard&) { intact = item->valid(); });
//   list.clear();           // the reader still holds `item`
//   reader.Join();          // it checked `item` inside its section
class ParkedReader {
 public:
  using Step = std::function<void(const rcu::ReadGuard&)>;

  ParkedReader() : ParkedReader([](const rcu::ReadGuard&) {}, [](const rcu::ReadGuard&) {}) {}
  ParkedReader(Step enter, Step leave)
      : enter_(std::move(enter)), leave_(std::move(leave)), thread_([this] {
          rcu::ReadGuard guard;
          enter_(guard);
          inside_.Notify();
          while (!release_.load()) std::this_thread::yield();
          left_.store(true);  // still inside the guard
          leave_(guard);
        }) {
    inside_.WaitForNotification();
  }
  ~ParkedReader() { Join(); }
  ParkedReader(const ParkedReader&) = delete;
  ParkedReader& operator=(const ParkedReader&) = delete;

  void Release() { release_.store(true); }
  // Releases the reader and waits until it has run `leave` and left.
  void Join() {
    Release();
    if (thread_.joinable()) thread_.join();
  }
  // True once the reader is on its way out of the section.
  bool left() const { return left_.load(); }

 private:
  // Declared before thread_, so that they exist when it starts.
  Step enter_;
  Step leave_;
  Notification inside_;
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

// Prints every thread's stack of process `pid` to stderr, with gdb if it is
// installed.
inline void DumpStacks(pid_t pid) {
  const std::string command = "command -v gdb >/dev/null && gdb -p " + std::to_string(pid) +
                              " -batch -nx -ex 'thread apply all bt' 1>&2";
  if (std::system(command.c_str()) != 0) std::fprintf(stderr, "(no gdb stacks)\n");
}

// Waits up to `limit` for child `pid` to end, and stores its wait status.
// If it does not end in time, prints its stacks, kills it and returns false.
inline bool WaitForChild(pid_t pid, std::chrono::seconds limit, int& status) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (waitpid(pid, &status, WNOHANG) != pid) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "HANG: child %d still running after %lld s; stacks follow\n",
                   static_cast<int>(pid), static_cast<long long>(limit.count()));
      DumpStacks(pid);
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // polling the child
  }
  return true;
}

// Fails a test that hangs instead of letting it hang: if the guard is still
// alive after `limit`, it prints `what`, dumps every thread's stack with gdb
// (when gdb is installed) and aborts the process.
//
//   rcu_test::HangGuard guard(std::chrono::seconds(60), "forking");
class HangGuard {
 public:
  HangGuard(std::chrono::seconds limit, std::string what)
      : what_(std::move(what)), thread_([this, limit] {
          std::unique_lock<std::mutex> lock(mu_);
          if (cv_.wait_for(lock, limit, [this] { return done_; })) return;
          std::fprintf(stderr, "HANG: still %s after %lld s; stacks follow\n", what_.c_str(),
                       static_cast<long long>(limit.count()));
          std::fflush(stderr);
          DumpStacks(getpid());
          std::abort();
        }) {}
  ~HangGuard() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  HangGuard(const HangGuard&) = delete;
  HangGuard& operator=(const HangGuard&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;  // guarded by mu_
  const std::string what_;
  std::thread thread_;  // last: starts after the fields above exist
};

}  // namespace rcu_test

#endif  // TESTS_UTIL_TEST_UTIL_H_
