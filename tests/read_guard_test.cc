#include "rcu/read_guard.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rcu/stats.h"

namespace {

TEST(ReadGuardTest, MarksTheReadSection) {
  EXPECT_FALSE(rcu::InReadSection());
  {
    rcu::ReadGuard guard;
    EXPECT_TRUE(rcu::InReadSection());
  }
  EXPECT_FALSE(rcu::InReadSection());
}

TEST(ReadGuardTest, Nests) {
  rcu::ReadGuard outer;
  for (int i = 0; i < 100; ++i) {
    rcu::ReadGuard inner;
    rcu::ReadGuard innermost;
    EXPECT_TRUE(rcu::InReadSection());
  }
  EXPECT_TRUE(rcu::InReadSection());
}

}  // namespace
