// Readers never see a torn snapshot while writers publish: each value
// carries its version and a checksum of its fields, and every reader checks
// both on every load. Under ThreadSanitizer this also checks that publication
// and reclamation are correctly ordered.
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "containers/snapshot.h"
#include "gtest/gtest.h"
#include "rcu/rcu.h"

namespace {

constexpr int kFields = 16;

// A multi-field value whose consistency can be checked.
struct Payload {
  std::uint64_t stamp = 0;  // the writer's sequence number
  std::uint64_t fields[kFields] = {};
  std::string name;  // heap-allocated: a freed copy shows up in ASan
  std::uint64_t checksum = 0;

  static Payload Make(std::uint64_t stamp) {
    Payload p;
    p.stamp = stamp;
    for (int i = 0; i < kFields; ++i) p.fields[i] = stamp * 1000003 + static_cast<std::uint64_t>(i);
    p.name = "payload-" + std::to_string(stamp) + std::string(32, 'x');
    p.checksum = p.Sum();
    return p;
  }
  std::uint64_t Sum() const {
    std::uint64_t sum = stamp * 0x9E3779B97F4A7C15ull;
    for (std::uint64_t f : fields) sum = (sum ^ f) * 0x100000001B3ull;
    for (char c : name) sum = (sum ^ static_cast<unsigned char>(c)) * 0x100000001B3ull;
    return sum;
  }
  bool Consistent() const { return checksum == Sum(); }
};

TEST(SnapshotConcurrencyTest, ReadersNeverSeeATornSnapshot) {
  rcu::Snapshot<Payload> snapshot(Payload::Make(0));
  constexpr int kReaders = 2;
  constexpr int kPublishesPerWriter = 3000;
  std::atomic<int> writers_done{0};
  std::atomic<std::uint64_t> torn{0};
  std::atomic<std::uint64_t> backwards{0};
  std::atomic<std::uint64_t> loads{0};

  std::vector<std::thread> threads;
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&] {
      std::uint64_t last_version = 0;
      std::uint64_t local_loads = 0;
      while (writers_done.load(std::memory_order_acquire) < 3) {
        auto p = snapshot.Load();
        if (!p->Consistent()) torn.fetch_add(1);
        if (p.version() < last_version) backwards.fetch_add(1);
        last_version = p.version();
        ++local_loads;
      }
      loads.fetch_add(local_loads);
    });
  }
  // Three writers, one per publishing path.
  threads.emplace_back([&] {  // Store
    for (std::uint64_t i = 1; i <= kPublishesPerWriter; ++i) snapshot.Store(Payload::Make(i));
    writers_done.fetch_add(1, std::memory_order_release);
  });
  threads.emplace_back([&] {  // Update: copy, modify, publish
    for (int i = 0; i < kPublishesPerWriter; ++i) {
      snapshot.Update([](Payload& p) { p = Payload::Make(p.stamp + 1000000); });
    }
    writers_done.fetch_add(1, std::memory_order_release);
  });
  threads.emplace_back([&] {  // CompareAndSwap retry loop
    for (int i = 0; i < kPublishesPerWriter; ++i) {
      for (;;) {
        std::uint64_t version;
        Payload next;
        {
          auto current = snapshot.Load();
          version = current.version();
          next = Payload::Make(current->stamp + 2000000);
        }
        if (snapshot.CompareAndSwap(version, std::move(next))) break;
      }
    }
    writers_done.fetch_add(1, std::memory_order_release);
  });
  // A subscriber checks every value it is handed, outside read sections.
  std::atomic<std::uint64_t> notified_torn{0};
  snapshot.Subscribe([&](const Payload& p, std::uint64_t) {
    if (!p.Consistent()) notified_torn.fetch_add(1);
  });
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(torn.load(), 0u);
  EXPECT_EQ(backwards.load(), 0u);
  EXPECT_EQ(notified_torn.load(), 0u);
  EXPECT_GT(loads.load(), 0u);
  EXPECT_EQ(snapshot.Version(), 1u + 3 * kPublishesPerWriter);
  EXPECT_TRUE(snapshot.Load()->Consistent());
}

}  // namespace
