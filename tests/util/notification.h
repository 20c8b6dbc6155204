// A one-shot event between test threads: one thread notifies, others wait.
// Built on std::mutex and std::condition_variable, so ThreadSanitizer sees
// the happens-before edge it makes (a spin on an atomic flag also would; a
// sleep would not, and is never a synchronization in these tests).
//
//   rcu_test::Notification ready;
//   std::thread t([&] { Prepare(); ready.Notify(); });
//   ready.WaitForNotification();  // Prepare() has returned
#ifndef TESTS_UTIL_NOTIFICATION_H_
#define TESTS_UTIL_NOTIFICATION_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace rcu_test {

class Notification {
 public:
  Notification() = default;
  Notification(const Notification&) = delete;
  Notification& operator=(const Notification&) = delete;

  void Notify() {
    std::lock_guard<std::mutex> lock(mu_);
    notified_ = true;
    cv_.notify_all();
  }

  bool HasBeenNotified() const {
    std::lock_guard<std::mutex> lock(mu_);
    return notified_;
  }

  void WaitForNotification() const {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return notified_; });
  }

  // False if `timeout` passed first: for tests that report a hang as a
  // failure instead of hanging.
  bool WaitForNotificationWithTimeout(std::chrono::nanoseconds timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return notified_; });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool notified_ = false;  // guarded by mu_
};

}  // namespace rcu_test

#endif  // TESTS_UTIL_NOTIFICATION_H_
