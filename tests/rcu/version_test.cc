// rcu/version.h: the numbers, the string and the ordered integer agree.
#include "rcu/version.h"

#include <string>

#include "gtest/gtest.h"

namespace {

TEST(VersionTest, StringMatchesTheNumbers) {
  EXPECT_EQ(std::string(RCU_CONTAINERS_VERSION_STRING),
            std::to_string(RCU_CONTAINERS_VERSION_MAJOR) + "." +
                std::to_string(RCU_CONTAINERS_VERSION_MINOR) + "." +
                std::to_string(RCU_CONTAINERS_VERSION_PATCH));
}

TEST(VersionTest, IntegerOrdersReleases) {
  static_assert(RCU_CONTAINERS_VERSION == RCU_CONTAINERS_MAKE_VERSION(RCU_CONTAINERS_VERSION_MAJOR,
                                                                      RCU_CONTAINERS_VERSION_MINOR,
                                                                      RCU_CONTAINERS_VERSION_PATCH),
                "");
  static_assert(RCU_CONTAINERS_MAKE_VERSION(0, 10, 0) > RCU_CONTAINERS_MAKE_VERSION(0, 9, 99),
                "a minor release orders after every patch of the one before");
  static_assert(RCU_CONTAINERS_MAKE_VERSION(1, 0, 0) > RCU_CONTAINERS_MAKE_VERSION(0, 999, 999),
                "a major release orders after every minor one before");
  EXPECT_GE(RCU_CONTAINERS_VERSION, RCU_CONTAINERS_MAKE_VERSION(0, 5, 0));
}

}  // namespace
