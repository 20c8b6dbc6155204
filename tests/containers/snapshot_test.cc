// Unit tests of rcu::Snapshot<T>: versions, reading, writing, compare-and-swap,
// reclamation, subscribers and WaitForVersion.
#include "containers/snapshot.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rcu/rcu.h"

namespace {

using ::testing::ElementsAre;

// Generous: only reached when something is broken.
constexpr absl::Duration kTimeout = absl::Seconds(60);

struct Config {
  std::string host = "localhost";
  int port = 80;
};

// Collects (version, value) pairs delivered to a subscriber and lets the test
// wait for a given version.
template <typename V>
class Recorder {
 public:
  void Record(const V& value, std::uint64_t version) {
    std::lock_guard<std::mutex> lock(mu_);
    versions_.push_back(version);
    values_.push_back(value);
    cv_.notify_all();
  }
  // Waits until a version >= `version` was delivered.
  bool WaitFor(std::uint64_t version) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoSeconds(kTimeout),
                        [&] { return !versions_.empty() && versions_.back() >= version; });
  }
  std::vector<std::uint64_t> versions() const {
    std::lock_guard<std::mutex> lock(mu_);
    return versions_;
  }
  std::vector<V> values() const {
    std::lock_guard<std::mutex> lock(mu_);
    return values_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::uint64_t> versions_;
  std::vector<V> values_;
};

// A manual gate: Wait() blocks until Open().
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoSeconds(kTimeout), [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

TEST(SnapshotTest, DefaultConstructedIsEmptyAtVersionZero) {
  rcu::Snapshot<Config> snapshot;
  auto handle = snapshot.Load();
  EXPECT_FALSE(handle);
  EXPECT_EQ(handle.get(), nullptr);
  EXPECT_EQ(handle.version(), 0u);
  EXPECT_EQ(snapshot.Version(), 0u);
}

TEST(SnapshotTest, InitialValueIsVersionOne) {
  rcu::Snapshot<Config> snapshot(Config{"example.com", 443});
  auto handle = snapshot.Load();
  ASSERT_TRUE(handle);
  EXPECT_EQ(handle->host, "example.com");
  EXPECT_EQ((*handle).port, 443);
  EXPECT_EQ(handle.version(), 1u);
  EXPECT_TRUE(snapshot.WaitForVersion(1, absl::ZeroDuration()));
}

TEST(SnapshotTest, EveryPublishAddsOneToTheVersion) {
  rcu::Snapshot<Config> snapshot;
  Config c{"a", 1};
  EXPECT_EQ(snapshot.Store(c), 1u);               // const T&
  EXPECT_EQ(snapshot.Store(Config{"b", 2}), 2u);  // T&&
  EXPECT_EQ(snapshot.Store(std::make_unique<Config>(Config{"c", 3})), 3u);
  EXPECT_EQ(snapshot.Emplace(Config{"d", 4}), 4u);
  EXPECT_EQ(snapshot.Update([](Config& x) { x.port = 5; }), 5u);
  auto handle = snapshot.Load();
  EXPECT_EQ(handle.version(), 5u);
  EXPECT_EQ(handle->host, "d");
  EXPECT_EQ(handle->port, 5);
  EXPECT_EQ(snapshot.Version(), 5u);
}

TEST(SnapshotTest, AHandleKeepsItsVersionWhileNewerOnesArePublished) {
  rcu::Snapshot<Config> snapshot(Config{"old", 1});
  auto old_handle = snapshot.Load();
  snapshot.Store(Config{"new", 2});
  EXPECT_EQ(old_handle->host, "old");
  EXPECT_EQ(old_handle.version(), 1u);
  auto new_handle = snapshot.Load();  // nested read guards are fine
  EXPECT_EQ(new_handle->host, "new");
  EXPECT_EQ(new_handle.version(), 2u);
}

TEST(SnapshotTest, DereferenceUnderTheCallersGuard) {
  rcu::Snapshot<int> snapshot;
  {
    rcu::ReadGuard guard;
    EXPECT_EQ(snapshot.Dereference(guard), nullptr);
  }
  snapshot.Store(7);
  rcu::ReadGuard guard;
  const int* value = snapshot.Dereference(guard);
  ASSERT_NE(value, nullptr);
  EXPECT_EQ(*value, 7);
}

TEST(SnapshotTest, UpdateStartsFromDefaultWhenEmpty) {
  rcu::Snapshot<Config> snapshot;
  EXPECT_EQ(snapshot.Update([](Config& c) { c.port = 8080; }), 1u);
  auto handle = snapshot.Load();
  EXPECT_EQ(handle->host, "localhost");
  EXPECT_EQ(handle->port, 8080);
}

TEST(SnapshotTest, UpdateReturningFalsePublishesNothing) {
  rcu::Snapshot<Config> snapshot(Config{});
  EXPECT_EQ(snapshot.Update([](Config& c) {
    c.port = 1;
    return false;
  }),
            0u);
  EXPECT_EQ(snapshot.Version(), 1u);
  EXPECT_EQ(snapshot.Load()->port, 80);
  EXPECT_EQ(snapshot.Update([](Config& c) {
    c.port = 2;
    return true;
  }),
            2u);
  EXPECT_EQ(snapshot.Load()->port, 2);
}

TEST(SnapshotTest, UpdateThatThrowsPublishesNothingAndUnlocks) {
  rcu::Snapshot<Config> snapshot(Config{});
  EXPECT_THROW(snapshot.Update([](Config& c) {
    c.port = 1;
    throw std::runtime_error("no");
  }),
               std::runtime_error);
  EXPECT_EQ(snapshot.Version(), 1u);
  EXPECT_EQ(snapshot.Load()->port, 80);
  EXPECT_EQ(snapshot.Update([](Config& c) { c.port = 3; }), 2u);  // not left locked
}

TEST(SnapshotTest, ConcurrentUpdatesLoseNothing) {
  rcu::Snapshot<int> snapshot(0);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) snapshot.Update([](int& v) { ++v; });
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(*snapshot.Load(), kThreads * kPerThread);
  EXPECT_EQ(snapshot.Version(), 1u + kThreads * kPerThread);
}

TEST(SnapshotTest, CompareAndSwapIsConditionedOnTheVersionRead) {
  rcu::Snapshot<Config> snapshot;
  EXPECT_FALSE(snapshot.CompareAndSwap(1, Config{"x", 1}));  // nothing at 1
  EXPECT_TRUE(snapshot.CompareAndSwap(0, Config{"first", 1}));
  EXPECT_FALSE(snapshot.CompareAndSwap(0, Config{"again", 1}));
  std::uint64_t read_version;
  {
    auto handle = snapshot.Load();
    read_version = handle.version();
    EXPECT_EQ(handle->host, "first");
  }
  snapshot.Store(Config{"interloper", 2});
  EXPECT_FALSE(snapshot.CompareAndSwap(read_version, Config{"stale", 3}));
  EXPECT_EQ(snapshot.Load()->host, "interloper");
  EXPECT_TRUE(snapshot.CompareAndSwap(2, std::make_unique<Config>(Config{"fresh", 4})));
  auto handle = snapshot.Load();
  EXPECT_EQ(handle.version(), 3u);
  EXPECT_EQ(handle->host, "fresh");
}

TEST(SnapshotTest, CompareAndSwapRetryLoopLosesNothing) {
  rcu::Snapshot<int> snapshot(0);
  constexpr int kThreads = 2;
  constexpr int kPerThread = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        for (;;) {
          std::uint64_t version;
          int next;
          {
            auto handle = snapshot.Load();
            version = handle.version();
            next = *handle + 1;
          }
          if (snapshot.CompareAndSwap(version, next)) break;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(*snapshot.Load(), kThreads * kPerThread);
}

// Counts live instances, to see retired versions reclaimed.
struct Counted {
  static std::atomic<int> live;
  explicit Counted(int v) : value(v) { live.fetch_add(1); }
  Counted(const Counted& other) : value(other.value) { live.fetch_add(1); }
  ~Counted() { live.fetch_sub(1); }
  int value;
};
std::atomic<int> Counted::live{0};

TEST(SnapshotTest, ReplacedVersionsAreReclaimedAfterAGracePeriod) {
  rcu::Barrier();
  const int before = Counted::live.load();
  {
    rcu::Snapshot<Counted> snapshot(std::in_place, 0);
    for (int i = 1; i <= 100; ++i) snapshot.Emplace(i);
    rcu::Barrier();  // every retired version's callback has run
    EXPECT_EQ(Counted::live.load(), before + 1);
    EXPECT_EQ(snapshot.Load()->value, 100);
  }
  rcu::Barrier();
  EXPECT_EQ(Counted::live.load(), before);
}

TEST(SnapshotTest, ReclamationWaitsForHandles) {
  const int before = Counted::live.load();
  rcu::Snapshot<Counted> snapshot(std::in_place, 1);
  std::atomic<bool> loaded{false};
  Gate release;
  std::thread reader([&] {
    auto handle = snapshot.Load();
    loaded.store(true);
    EXPECT_TRUE(release.Wait());
    EXPECT_EQ(handle->value, 1);  // still intact: ASan would report a free
  });
  while (!loaded.load()) std::this_thread::yield();
  snapshot.Emplace(2);
  // The old version cannot be reclaimed while the reader holds it; let the
  // reader go, then wait for reclamation to catch up.
  release.Open();
  reader.join();
  rcu::Barrier();
  EXPECT_EQ(Counted::live.load(), before + 1);  // version 1 freed, version 2 live
  EXPECT_EQ(snapshot.Load()->value, 2);
}

TEST(SnapshotTest, SubscribersSeeIncreasingVersionsEndingWithTheLatest) {
  rcu::Snapshot<int> snapshot(0);
  Recorder<int> recorder;
  snapshot.Subscribe(
      [&](const int& value, std::uint64_t version) { recorder.Record(value, version); });
  constexpr int kPublishes = 200;
  for (int i = 1; i <= kPublishes; ++i) snapshot.Store(i);
  ASSERT_TRUE(recorder.WaitFor(kPublishes + 1));
  const auto versions = recorder.versions();
  const auto values = recorder.values();
  ASSERT_FALSE(versions.empty());
  for (std::size_t i = 0; i < versions.size(); ++i) {
    EXPECT_EQ(static_cast<std::uint64_t>(values[i]) + 1, versions[i]);  // value matches version
    if (i > 0) {
      EXPECT_LT(versions[i - 1], versions[i]);
    }
  }
  EXPECT_EQ(versions.back(), kPublishes + 1u);
}

TEST(SnapshotTest, SubscriberSeesOnlyVersionsAfterSubscribing) {
  rcu::Snapshot<int> snapshot(0);
  snapshot.Store(1);
  Recorder<int> recorder;
  snapshot.Subscribe(
      [&](const int& value, std::uint64_t version) { recorder.Record(value, version); });
  snapshot.Store(2);
  ASSERT_TRUE(recorder.WaitFor(3));
  EXPECT_THAT(recorder.versions(), ElementsAre(3u));
  EXPECT_THAT(recorder.values(), ElementsAre(2));
}

TEST(SnapshotTest, CallbacksRunOutsideReadSectionsAndMayWaitForGracePeriods) {
  rcu::Snapshot<int> snapshot(0);
  Recorder<bool> recorder;
  snapshot.Subscribe([&](const int&, std::uint64_t version) {
    const bool in_read_section = rcu::InReadSection();
    if (!in_read_section) rcu::Synchronize();  // would deadlock inside one
    recorder.Record(in_read_section, version);
  });
  snapshot.Store(1);
  ASSERT_TRUE(recorder.WaitFor(2));
  for (bool in_read_section : recorder.values()) EXPECT_FALSE(in_read_section);
}

TEST(SnapshotTest, CallbacksOfOneSubscriberNeverOverlap) {
  rcu::Snapshot<int> snapshot(0);
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  Recorder<int> recorder;
  snapshot.Subscribe([&](const int& value, std::uint64_t version) {
    if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
    std::this_thread::yield();
    inside.fetch_sub(1);
    recorder.Record(value, version);
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&] {
      for (int i = 0; i < 200; ++i) snapshot.Update([](int& v) { ++v; });
    });
  }
  for (auto& writer : writers) writer.join();
  ASSERT_TRUE(recorder.WaitFor(601));
  EXPECT_EQ(overlaps.load(), 0);
  const auto versions = recorder.versions();
  for (std::size_t i = 1; i < versions.size(); ++i) EXPECT_LT(versions[i - 1], versions[i]);
}

TEST(SnapshotTest, PinnedValueOutlivesReplacementWhileItsCallbackRuns) {
  rcu::Snapshot<Counted> snapshot(std::in_place, 0);
  Gate entered;
  Gate release;
  Recorder<int> recorder;
  snapshot.Subscribe([&](const Counted& value, std::uint64_t version) {
    if (version == 2) {
      entered.Open();
      EXPECT_TRUE(release.Wait());
    }
    recorder.Record(value.value, version);  // ASan reports if it was freed
  });
  snapshot.Emplace(1);  // version 2
  ASSERT_TRUE(entered.Wait());
  for (int i = 2; i <= 20; ++i) snapshot.Emplace(i);
  rcu::Barrier();  // reclaim everything that can be reclaimed now
  release.Open();
  ASSERT_TRUE(recorder.WaitFor(21));
  EXPECT_EQ(recorder.values().front(), 1);
  EXPECT_EQ(recorder.values().back(), 20);
}

TEST(SnapshotTest, UnsubscribeReturnsOnlyAfterTheRunningCallbackFinished) {
  rcu::Snapshot<int> snapshot(0);
  Gate entered;
  Gate release;
  std::atomic<bool> unsubscribe_returned{false};
  std::atomic<int> calls{0};
  const auto id = snapshot.Subscribe([&](const int&, std::uint64_t) {
    calls.fetch_add(1);
    entered.Open();
    EXPECT_TRUE(release.Wait());
    // Whatever the timing, Unsubscribe() cannot have returned yet.
    EXPECT_FALSE(unsubscribe_returned.load());
  });
  snapshot.Store(1);
  ASSERT_TRUE(entered.Wait());
  std::thread unsubscriber([&] {
    EXPECT_TRUE(snapshot.Unsubscribe(id));
    unsubscribe_returned.store(true);
  });
  // Give Unsubscribe() a chance to block before the callback is released; the
  // check in the callback holds whatever the timing.
  absl::SleepFor(absl::Milliseconds(20));
  release.Open();
  unsubscriber.join();
  // No further calls once it returned.
  Recorder<int> witness;
  snapshot.Subscribe([&](const int& v, std::uint64_t version) { witness.Record(v, version); });
  snapshot.Store(2);
  snapshot.Store(3);
  ASSERT_TRUE(witness.WaitFor(4));
  EXPECT_EQ(calls.load(), 1);
}

TEST(SnapshotTest, UnsubscribeFromInsideItsOwnCallback) {
  rcu::Snapshot<int> snapshot(0);
  std::atomic<int> calls{0};
  std::atomic<bool> result{false};
  rcu::Snapshot<int>::SubscriptionId id = 0;
  std::atomic<bool> id_set{false};
  Gate done;
  id = snapshot.Subscribe([&](const int&, std::uint64_t) {
    calls.fetch_add(1);
    while (!id_set.load()) std::this_thread::yield();
    result.store(snapshot.Unsubscribe(id));  // must not deadlock
    done.Open();
  });
  id_set.store(true);
  snapshot.Store(1);
  ASSERT_TRUE(done.Wait());
  EXPECT_TRUE(result.load());
  Recorder<int> witness;
  snapshot.Subscribe([&](const int& v, std::uint64_t version) { witness.Record(v, version); });
  snapshot.Store(2);
  ASSERT_TRUE(witness.WaitFor(3));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_FALSE(snapshot.Unsubscribe(id));  // already gone
}

TEST(SnapshotTest, UnsubscribeAnotherSubscriberFromACallback) {
  rcu::Snapshot<int> snapshot(0);
  std::atomic<int> second_calls{0};
  const auto second_placeholder = std::make_shared<std::atomic<std::uint64_t>>(0);
  Recorder<int> first;
  snapshot.Subscribe([&](const int& v, std::uint64_t version) {
    snapshot.Unsubscribe(second_placeholder->load());
    first.Record(v, version);
  });
  second_placeholder->store(
      snapshot.Subscribe([&](const int&, std::uint64_t) { second_calls.fetch_add(1); }));
  snapshot.Store(1);
  ASSERT_TRUE(first.WaitFor(2));
  snapshot.Store(2);
  ASSERT_TRUE(first.WaitFor(3));
  // The first subscriber (lower id) runs first and removes the second before
  // its turn.
  EXPECT_EQ(second_calls.load(), 0);
}

TEST(SnapshotTest, UnsubscribeUnknownIdIsFalse) {
  rcu::Snapshot<int> snapshot(0);
  EXPECT_FALSE(snapshot.Unsubscribe(12345));
  const auto id = snapshot.Subscribe([](const int&, std::uint64_t) {});
  EXPECT_NE(id, 0u);
  EXPECT_TRUE(snapshot.Unsubscribe(id));
  EXPECT_FALSE(snapshot.Unsubscribe(id));
}

TEST(SnapshotTest, CallbackMaySubscribeOthers) {
  rcu::Snapshot<int> snapshot(0);
  Recorder<int> inner;
  Gate subscribed;
  std::atomic<bool> once{false};
  snapshot.Subscribe([&](const int&, std::uint64_t) {
    if (!once.exchange(true)) {
      snapshot.Subscribe([&](const int& v, std::uint64_t version) { inner.Record(v, version); });
      subscribed.Open();
    }
  });
  snapshot.Store(1);  // version 2: the outer callback subscribes the inner one
  ASSERT_TRUE(subscribed.Wait());
  snapshot.Store(2);  // version 3: the inner one sees it
  ASSERT_TRUE(inner.WaitFor(3));
  EXPECT_THAT(inner.versions(), ElementsAre(3u));
}

TEST(SnapshotTest, ThrowingCallbackIsReportedAndOthersContinue) {
  rcu::Snapshot<int> snapshot(0);
  snapshot.Subscribe([](const int&, std::uint64_t) { throw std::runtime_error("boom"); });
  Recorder<int> recorder;
  snapshot.Subscribe([&](const int& v, std::uint64_t version) { recorder.Record(v, version); });
  snapshot.Store(1);
  snapshot.Store(2);
  ASSERT_TRUE(recorder.WaitFor(3));
}

TEST(SnapshotTest, MoveOnlyCallback) {
  rcu::Snapshot<int> snapshot(0);
  auto recorder = std::make_unique<Recorder<int>>();
  Recorder<int>* raw = recorder.get();
  snapshot.Subscribe(
      [r = std::move(recorder)](const int& v, std::uint64_t version) { r->Record(v, version); });
  snapshot.Store(1);
  ASSERT_TRUE(raw->WaitFor(2));
}

TEST(SnapshotTest, WaitForVersionTimesOut) {
  rcu::Snapshot<int> snapshot(0);
  const absl::Time start = absl::Now();
  EXPECT_FALSE(snapshot.WaitForVersion(2, absl::Milliseconds(30)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(29));
  EXPECT_FALSE(snapshot.WaitForVersion(2, absl::ZeroDuration()));
  EXPECT_FALSE(snapshot.WaitForVersion(2, -absl::Seconds(1)));
  EXPECT_TRUE(snapshot.WaitForVersion(1, absl::ZeroDuration()));
  EXPECT_TRUE(snapshot.WaitForVersion(0, absl::ZeroDuration()));
}

TEST(SnapshotTest, WaitForVersionWakesOnPublish) {
  rcu::Snapshot<int> snapshot;
  std::thread writer([&] {
    for (int i = 1; i <= 5; ++i) snapshot.Store(i);
  });
  EXPECT_TRUE(snapshot.WaitForVersion(5, kTimeout));
  EXPECT_EQ(*snapshot.Load(), 5);
  writer.join();
  std::thread late_writer([&] { snapshot.Store(6); });
  EXPECT_TRUE(snapshot.WaitForVersion(6, absl::InfiniteDuration()));
  late_writer.join();
}

TEST(SnapshotTest, WaitForVersionTakesChronoDurations) {
  rcu::Snapshot<int> snapshot(0);
  EXPECT_TRUE(snapshot.WaitForVersion(1, std::chrono::seconds(0)));
  EXPECT_FALSE(snapshot.WaitForVersion(2, std::chrono::milliseconds(1)));
  EXPECT_FALSE(snapshot.WaitForVersion(2, std::chrono::duration<double>(-1.0)));
  // max() waits forever, as absl::InfiniteDuration() does.
  std::thread writer([&] { snapshot.Store(1); });
  EXPECT_TRUE(snapshot.WaitForVersion(2, std::chrono::hours::max()));
  writer.join();
}

TEST(SnapshotTest, DestroyingWithActiveSubscribersJoinsCleanly) {
  for (int round = 0; round < 20; ++round) {
    rcu::Snapshot<int> snapshot(0);
    std::atomic<int> calls{0};
    snapshot.Subscribe([&](const int&, std::uint64_t) { calls.fetch_add(1); });
    for (int i = 1; i <= 10; ++i) snapshot.Store(i);
  }
}

TEST(SnapshotTest, NonDefaultConstructibleAndMoveOnlyValues) {
  struct NoDefault {
    explicit NoDefault(int v) : p(std::make_unique<int>(v)) {}
    std::unique_ptr<int> p;
  };
  rcu::Snapshot<NoDefault> snapshot;
  snapshot.Emplace(1);
  snapshot.Store(NoDefault(2));
  snapshot.Store(std::make_unique<NoDefault>(3));
  EXPECT_EQ(*snapshot.Load()->p, 3);
  EXPECT_EQ(snapshot.Version(), 3u);
}

using SnapshotDeathTest = ::testing::Test;

TEST_F(SnapshotDeathTest, PublishingFromInsideUpdateIsDiagnosed) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        rcu::Snapshot<int> snapshot(0);
        snapshot.Update([&](int& v) { snapshot.Store(v + 1); });
      },
      "would deadlock");
}

TEST_F(SnapshotDeathTest, StoringANullUniquePtrIsDiagnosed) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        rcu::Snapshot<int> snapshot(0);
        snapshot.Store(std::unique_ptr<int>());
      },
      "null unique_ptr");
}

}  // namespace
