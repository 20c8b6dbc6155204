// The config package's include paths and targets from before it moved to
// containers/config/ (deprecated, kept for one release) still work from
// another workspace: the old headers forward to the new ones.
#include <string>
#include <type_traits>

#include "containers/config_watcher.h"
#include "containers/config_watcher_options.h"
#include "containers/json_config.h"
#include "containers/toml_config.h"
#include "gtest/gtest.h"

TEST(DeprecatedConfigPathsTest, OldHeadersDeclareTheWholeApi) {
  rcu::ConfigWatcher<int>::Options options;
  options.allow_empty_file = true;
  EXPECT_STREQ(rcu::ReloadOutcomeName(rcu::ReloadResult::Outcome::kFailed), "failed");

  const absl::StatusOr<int> json = rcu::ParseJson<int>("42");
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json, 42);

  const absl::StatusOr<toml::table> toml = rcu::ParseToml("port = 8080");
  ASSERT_TRUE(toml.ok()) << toml.status();
  EXPECT_EQ((*toml)["port"].value_or(0), 8080);
}
