// The TOML parser and the one-line TOML watcher set-ups.
#include "containers/config/toml_config.h"

#include <cstdint>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/config/watch_test_util.h"

namespace {

using ::testing::HasSubstr;

struct Server {
  std::string host;
  int port = 0;
};

absl::StatusOr<Server> ToServer(const toml::table& document) {
  Server server;
  server.host = document["server"]["host"].value_or(std::string("localhost"));
  const std::optional<std::int64_t> port = document["server"]["port"].value<std::int64_t>();
  if (!port) return absl::InvalidArgumentError("server.port: missing or not an integer");
  server.port = static_cast<int>(*port);
  return server;
}

TEST(ParseTomlTest, Table) {
  auto table = rcu::ParseToml("[server]\nhost = \"example.com\"\nport = 8080\n");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ((*table)["server"]["port"].value_or(0), 8080);
}

TEST(ParseTomlTest, Converted) {
  auto server = rcu::ParseToml<Server>("[server]\nport = 8080\n", ToServer);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(server->host, "localhost");
  EXPECT_EQ(server->port, 8080);
  server = rcu::ParseToml<Server>("[server]\nport = \"x\"\n", ToServer);
  EXPECT_EQ(server.status().message(), "server.port: missing or not an integer");
}

TEST(ParseTomlTest, SyntaxErrorsSayWhere) {
  auto table = rcu::ParseToml("[server]\nport = \n");
  ASSERT_FALSE(table.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(table.status()));
  EXPECT_THAT(std::string(table.status().message()), HasSubstr("TOML parse error at line 2"));
}

TEST(ParseTomlTest, ConverterThatThrowsIsAnError) {
  auto server = rcu::ParseToml<Server>("a = 1", [](const toml::table&) -> absl::StatusOr<Server> {
    throw std::runtime_error("converter bug");
  });
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("converter bug"));
}

TEST(WatchTomlConfigTest, WholeDocument) {
  rcu_test::TempDir dir;
  const std::string path = dir.Join("app.toml");
  rcu_test::WriteInPlace(path, "[server]\nport = 1\n");
  auto watcher = rcu::WatchTomlConfig(path);
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  EXPECT_EQ((*(*watcher)->Load())["server"]["port"].value_or(0), 1);
  rcu_test::WriteAndRename(path, "[server]\nport = 2\n");
  ASSERT_TRUE((*watcher)->snapshot().WaitForVersion(2, rcu_test::kTimeout));
  EXPECT_EQ((*(*watcher)->Load())["server"]["port"].value_or(0), 2);
}

// TOML parses an empty file as an empty table, and every value_or() would
// then quietly fall back to its default. The one-line set-up rejects it
// unless told otherwise (issue 11, failure 3).
TEST(WatchTomlConfigTest, EmptyFileIsRejectedUnlessAllowed) {
  for (const bool allow : {false, true}) {
    SCOPED_TRACE(allow ? "allow_empty_file" : "default");
    rcu_test::TempDir dir;
    const std::string path = dir.Join("app.toml");
    rcu_test::WriteInPlace(path, "[server]\nport = 1\n");
    rcu_test::ReloadLog log;
    rcu::ConfigWatcher<toml::table>::Options options;
    options.debounce = absl::Milliseconds(20);
    options.on_reload = log.Listener();
    options.allow_empty_file = allow;
    auto watcher = rcu::WatchTomlConfig(path, options);
    ASSERT_TRUE(watcher.ok()) << watcher.status();
    rcu_test::WriteInPlace(path, "");  // `: > app.toml`
    const int index = log.WaitFor([](const rcu::ReloadResult& r) {
      return r.trigger != rcu::ReloadTrigger::kInitial;
    });
    ASSERT_GE(index, 0);
    const rcu::ReloadResult result = log.results()[index];
    if (allow) {
      EXPECT_EQ(result.outcome, rcu::ReloadResult::Outcome::kPublished) << result.status;
      EXPECT_TRUE((*watcher)->Load()->empty());
    } else {
      EXPECT_EQ(result.outcome, rcu::ReloadResult::Outcome::kFailed);
      EXPECT_THAT(std::string(result.status.message()), HasSubstr(": is empty"));
      EXPECT_EQ((*(*watcher)->Load())["server"]["port"].value_or(0), 1);
    }
  }
  // An empty file with an explicit empty document (a comment) is a choice.
  EXPECT_TRUE(rcu::ParseToml("# nothing to configure\n").ok());
}

TEST(WatchTomlConfigTest, ConvertedWithValidation) {
  rcu_test::TempDir dir;
  const std::string path = dir.Join("app.toml");
  rcu_test::WriteInPlace(path, "[server]\nport = 80\n");
  rcu_test::ReloadLog log;
  rcu::ConfigWatcher<Server>::Options options;
  options.debounce = absl::Milliseconds(20);
  options.on_reload = log.Listener();
  options.validate = [](const Server& s) {
    return s.port > 0 && s.port < 65536 ? absl::OkStatus()
                                        : absl::OutOfRangeError("server.port out of range");
  };
  auto watcher = rcu::WatchTomlConfig<Server>(path, ToServer, options);
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  rcu_test::WriteAndRename(path, "[server]\nport = 70000\n");
  const int index = log.WaitForFailure();
  ASSERT_GE(index, 0);
  EXPECT_TRUE(absl::IsOutOfRange(log.results()[index].status));
  EXPECT_THAT(std::string(log.results()[index].status.message()),
              HasSubstr("rejected by validation: server.port out of range"));
  EXPECT_EQ((*watcher)->Load()->port, 80);
}

}  // namespace
