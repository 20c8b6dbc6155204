#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "containers/config/json_config.h"
#include "containers/hash_map.h"
#include "gtest/gtest.h"
#include "rcu/rcu.h"

TEST(ConsumerTest, PublishReadAndReclaim) {
  rcu::Mutex mu;
  rcu::OwnedRcuPtr<int> value(std::make_unique<int>(1));
  {
    rcu::ReadGuard guard;
    EXPECT_EQ(*value.Dereference(guard), 1);
  }
  {
    rcu::MutexLock lock(mu);
    value.Replace(std::make_unique<int>(2), mu);
  }
  rcu::ReadGuard guard;
  EXPECT_EQ(*value.Dereference(guard), 2);
}

TEST(ConsumerTest, SynchronizeAdvancesCookies) {
  rcu::GracePeriodCookie cookie = rcu::GetState();
  EXPECT_FALSE(rcu::PollState(cookie));
  rcu::Synchronize();
  EXPECT_TRUE(rcu::PollState(cookie));
}

TEST(ConsumerTest, HashMapFromAnotherWorkspace) {
  rcu::HashMap<std::string, int> ports;
  ports.insert({"http", 80});
  ports.insert_or_assign("http", 8080);
  EXPECT_EQ(ports.get("http"), 8080);
  EXPECT_TRUE(ports.contains(std::string_view("http")));
  EXPECT_EQ(ports.erase("http"), 1u);
  EXPECT_TRUE(ports.empty());
}

TEST(ConsumerTest, ConfigWatcherFromAnotherWorkspace) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/consumer_config.json";
  std::ofstream(path) << R"({"port": 8080})";
  auto watcher = rcu::WatchJsonConfig<nlohmann::json>(path);
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  auto config = (*watcher)->Load();
  EXPECT_EQ(config->at("port"), 8080);
  EXPECT_EQ(config.version(), 1u);
}
