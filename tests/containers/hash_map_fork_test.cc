// rcu::HashMap across fork() (issue 10's outside review, bug 12): a stripe
// lock that another thread held at the fork used to stay locked in the
// child, whose first write to that stripe then hung.
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "containers/hash_map.h"
#include "gtest/gtest.h"
#include "tests/util/test_util.h"

namespace {

// The child: reads everything, writes to every stripe, resizes both ways,
// clears; exits 0 if it saw the parent's entries.
[[noreturn]] void WriteInChild(rcu::HashMap<int, int>& map) {
  long seen = 0;
  for (const auto& kv : map) seen += kv.first >= 0;
  for (int i = 0; i < 1000; ++i) map.insert_or_assign(i, -i);
  map.rehash(8192);
  map.rehash(0);
  for (int i = 0; i < 1000; ++i) map.erase(i);
  map.clear();
  _exit(seen > 0 ? 0 : 2);
}

std::atomic<bool> forking{false};
std::atomic<bool> fork_returned{false};

// A writer is inside compute(), holding its key's stripe, when the process
// forks. The test's prepare handler (registered after the library's, so it
// runs first) says that fork() has begun; the writer then stays until fork()
// returns in the parent, or at most a second: long enough that an
// unprotected fork clones it holding the stripe, short enough that a fork
// that waits for the stripe (as it should) goes on.
TEST(HashMapForkTest, ChildWritesAfterForkingBesideAWriterHoldingAStripe) {
  static const bool handler_installed =
      pthread_atfork([] { forking.store(true); }, nullptr, nullptr) == 0;
  ASSERT_TRUE(handler_installed);
  rcu::HashMap<int, int> map;
  for (int i = 0; i < 1000; ++i) map.insert({i, i});
  std::atomic<bool> inside{false};
  std::thread writer([&] {
    map.compute(7, [&](const int*) {
      inside.store(true);
      while (!forking.load()) std::this_thread::yield();
      const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (!fork_returned.load() && std::chrono::steady_clock::now() < limit) {
        std::this_thread::yield();
      }
      return std::optional<int>(70);
    });
  });
  while (!inside.load()) std::this_thread::yield();
  const pid_t pid = fork();
  if (pid == 0) WriteInChild(map);
  fork_returned.store(true);
  writer.join();
  forking.store(false);
  int status = 0;
  const bool ended = rcu_test::WaitForChild(pid, std::chrono::seconds(20), status);
  EXPECT_TRUE(ended) << "the child hung writing to the map";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  EXPECT_EQ(map.get(7), 70);
}

// The reviewer's reproduction: forks while two threads write and resize.
TEST(HashMapForkTest, ChildWritesAfterForkingBesideWritersAndResizes) {
  rcu::HashMap<int, int> map;
  for (int i = 0; i < 1000; ++i) map.insert({i, i});
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        map.insert_or_assign(10000 + t * 100000 + i % 5000, i);
        if (i % 5000 == 4999) map.rehash(i % 2 ? 0 : 65536);
      }
    });
  }
  int forks = 0, hung = 0, failed = 0;
  for (; forks < 20 && hung == 0; ++forks) {
    const pid_t pid = fork();
    if (pid == 0) WriteInChild(map);
    int status = 0;
    if (!rcu_test::WaitForChild(pid, std::chrono::seconds(20), status)) {
      ++hung;
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      ++failed;
    }
  }
  stop.store(true);
  for (auto& w : writers) w.join();
  std::printf("%d forks beside two writers: %d children hung, %d failed otherwise\n", forks, hung,
              failed);
  EXPECT_EQ(hung, 0);
  EXPECT_EQ(failed, 0);
}

}  // namespace
