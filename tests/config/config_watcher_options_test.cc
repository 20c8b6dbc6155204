// WatchOptions' std::chrono setters: each sets its absl::Duration field.
#include "containers/config/config_watcher_options.h"

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "containers/config/config_watcher.h"
#include "gtest/gtest.h"

namespace {

TEST(WatchOptionsTest, ChronoSettersSetTheirFields) {
  rcu::WatchOptions options;
  options.set_debounce(std::chrono::milliseconds(250))
      .set_max_debounce(std::chrono::seconds(3))
      .set_poll_interval(std::chrono::minutes(1))
      .set_open_writer_timeout(std::chrono::duration<double>(1.5));
  EXPECT_EQ(options.debounce, absl::Milliseconds(250));
  EXPECT_EQ(options.max_debounce, absl::Seconds(3));
  EXPECT_EQ(options.poll_interval, absl::Minutes(1));
  EXPECT_EQ(options.open_writer_timeout, absl::Milliseconds(1500));
}

TEST(WatchOptionsTest, MaxIsInfinite) {
  rcu::WatchOptions options;
  options.set_open_writer_timeout(std::chrono::seconds::max());
  EXPECT_EQ(options.open_writer_timeout, absl::InfiniteDuration());
  EXPECT_EQ(options.debounce, absl::Milliseconds(100));  // the others untouched
}

TEST(WatchOptionsTest, ConfigWatcherOptionsHaveThem) {
  rcu::ConfigWatcher<std::string>::Options options;
  options.set_poll_interval(std::chrono::milliseconds(20));
  options.force_polling = true;
  EXPECT_EQ(options.poll_interval, absl::Milliseconds(20));
}

}  // namespace
