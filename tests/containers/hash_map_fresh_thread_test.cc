// The allocation-failure sweep on a thread whose first use of the library is
// the write under test (a worker thread's first job), outside any read-side
// section: hash_map_exception_test.cc warms each thread up first, so it
// cannot see a failure in what a write does on a fresh thread (issue 10's
// outside review, bug 7: erase(key) registered the thread after it had
// erased, in MaybeShrink(), and threw std::bad_alloc with the entry gone).
// Each n-th allocation of the thread fails (and, in a second pass, every
// later one too); the map must be either unchanged (the write threw) or
// changed as modelled (it returned), and usable afterwards.
#include <atomic>
#include <cstdio>
#include <functional>
#include <map>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "containers/hash_map.h"
#include "gtest/gtest.h"
#include "rcu/call_rcu.h"
#include "rcu/read_guard.h"
#include "tests/util/allocation_counter.h"

namespace {

using Map = rcu::HashMap<int, int>;
using Model = std::map<int, int>;

Model Contents(const Map& map) {
  Model model;
  rcu::ReadGuard guard;
  for (const auto& [k, v] : map.Iterate(guard)) model[k] = v;
  EXPECT_EQ(model.size(), map.size());
  return model;
}

struct Op {
  const char* name;
  std::function<void(Map&)> run;
  std::function<void(Model&)> model;
};

std::vector<Op> Ops() {
  return {
      {"erase(present key)", [](Map& m) { m.erase(3); }, [](Model& m) { m.erase(3); }},
      {"insert(new)",
       [](Map& m) {
         m.insert({20, 20});
       },
       [](Model& m) { m.emplace(20, 20); }},
      {"insert_or_assign(present)", [](Map& m) { m.insert_or_assign(4, 44); },
       [](Model& m) { m[4] = 44; }},
      {"update(present)", [](Map& m) { m.update(5, [](int v) { return v + 100; }); },
       [](Model& m) { m[5] += 100; }},
      {"compute(erase)",
       [](Map& m) { m.compute(6, [](const int*) { return std::optional<int>(); }); },
       [](Model& m) { m.erase(6); }},
      {"erase(find(k))", [](Map& m) { m.erase(m.find(7)); }, [](Model& m) { m.erase(7); }},
      {"erase_if(k == 8)", [](Map& m) { m.erase_if([](const auto& kv) { return kv.first == 8; }); },
       [](Model& m) { m.erase(8); }},
      {"clear()", [](Map& m) { m.clear(); }, [](Model& m) { m.clear(); }},
  };
}

TEST(HashMapFreshThreadTest, EveryWriteKeepsTheStrongGuarantee) {
  setvbuf(stdout, nullptr, _IONBF, 0);
  { rcu::ReadGuard warm; }  // the main thread only
  rcu::Retire(new int(0));
  rcu::Barrier();
  int violations = 0;
  int points = 0;
  for (const Op& op : Ops()) {
    for (bool and_later : {false, true}) {
      for (long n = 1; n < 200; ++n) {
        Model initial;
        for (int k = 0; k < 10; ++k) initial[k] = k;
        bool threw = false, injected = false;
        std::string what;
        {
          Map map;
          for (const auto& [k, v] : initial) map.insert({k, v});
          std::thread thread([&] {
            rcu_test::FailNthAllocation(n, and_later);
            try {
              op.run(map);
            } catch (const std::bad_alloc& e) {
              threw = true;
              what = e.what();
            }
            injected = rcu_test::InjectedFailureHappened();
            rcu_test::FailNthAllocation(0);
          });
          thread.join();
          const Model now = Contents(map);
          Model changed = initial;
          op.model(changed);
          ++points;
          if (threw && now != initial) {
            ++violations;
            std::printf(
                "VIOLATION %-26s fail alloc #%ld%s: threw std::bad_alloc but the map "
                "changed (%zu -> %zu entries)\n",
                op.name, n, and_later ? " and later" : "", initial.size(), now.size());
          } else if (!threw && now != changed) {
            ++violations;
            std::printf("VIOLATION %-26s fail alloc #%ld%s: returned, map not as modelled\n",
                        op.name, n, and_later ? " and later" : "");
          }
          // Usable and unlocked afterwards.
          map.insert_or_assign(99, 99);
          map.erase(99);
        }
        if (!injected) break;
      }
    }
  }
  rcu::Barrier();
  std::printf("%d fault points checked, %d violations\n", points, violations);
  EXPECT_EQ(violations, 0);
}

}  // namespace
