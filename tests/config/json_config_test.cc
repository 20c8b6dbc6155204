// The JSON parser and the one-line JSON watcher set-up.
#include "containers/config/json_config.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/config/watch_test_util.h"

namespace app {

struct Server {
  std::string host = "localhost";
  int port = 80;
  std::vector<std::string> backends;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Server, host, port, backends)

}  // namespace app

namespace {

using ::testing::HasSubstr;

TEST(ParseJsonTest, ConvertsThroughFromJson) {
  auto server = rcu::ParseJson<app::Server>(R"({"host": "example.com", "backends": ["a", "b"]})");
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(server->host, "example.com");
  EXPECT_EQ(server->port, 80);  // defaulted
  EXPECT_THAT(server->backends, ::testing::ElementsAre("a", "b"));
}

TEST(ParseJsonTest, WholeDocumentAsJson) {
  auto json = rcu::ParseJson<nlohmann::json>(R"({"a": [1, 2, {"b": null}]})");
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ((*json)["a"][1], 2);
}

TEST(ParseJsonTest, SyntaxErrorsSayWhere) {
  auto server = rcu::ParseJson<app::Server>("{\n  \"host\": \"x\",\n}");
  ASSERT_FALSE(server.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(server.status()));
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("JSON parse error at line 3, column 1"));
  EXPECT_THAT(std::string(server.status().message()), ::testing::Not(HasSubstr("[json.")));
}

TEST(ParseJsonTest, EmptyAndTruncated) {
  EXPECT_EQ(rcu::ParseJson<app::Server>("  \n").status().message(),
            "JSON parse error: the file is empty");
  EXPECT_THAT(std::string(rcu::ParseJson<app::Server>(R"({"host": "ex)").status().message()),
              HasSubstr("JSON parse error"));
}

TEST(ParseJsonTest, WrongTypesSayWhat) {
  auto server = rcu::ParseJson<app::Server>(R"({"port": "eighty"})");
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("JSON does not fit the config type: type must be number, but is string"));
}

TEST(ParseJsonTest, CommentsOnlyWhenAllowed) {
  const std::string text = "// the port\n{\"port\": 8080}";
  EXPECT_FALSE(rcu::ParseJson<app::Server>(text).ok());
  rcu::JsonParseOptions options;
  options.allow_comments = true;
  auto server = rcu::ParseJson<app::Server>(text, options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(server->port, 8080);
}

// As deep as kMaxConfigDepth is fine; deeper is rejected before parsing
// (nlohmann-json copies recursively). Brackets in strings and comments do
// not count.
TEST(ParseJsonTest, NestingDeeperThanTheLimitIsRejected) {
  const auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  EXPECT_TRUE(rcu::ParseJson<nlohmann::json>(nested(rcu::kMaxConfigDepth)).ok());
  for (const int depth : {rcu::kMaxConfigDepth + 1, 100000}) {
    EXPECT_THAT(std::string(rcu::ParseJson<nlohmann::json>(nested(depth)).status().message()),
                HasSubstr("JSON nested deeper than 256 arrays and objects"))
        << depth;
  }
  const std::string brackets(1000, '[');
  EXPECT_TRUE(rcu::ParseJson<nlohmann::json>("{\"s\": \"\\\"" + brackets + "\"}").ok());
  rcu::JsonParseOptions comments;
  comments.allow_comments = true;
  EXPECT_TRUE(
      rcu::ParseJson<nlohmann::json>("// " + brackets + "\n/* " + brackets + " */ {}", comments)
          .ok());
}

TEST(WatchJsonConfigTest, OneLineSetUp) {
  rcu_test::TempDir dir;
  const std::string path = dir.Join("server.json");
  rcu_test::WriteInPlace(path, R"({"host": "a.example", "port": 8080})");
  auto watcher = rcu::WatchJsonConfig<app::Server>(path);
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  EXPECT_EQ((*watcher)->Load()->port, 8080);
  rcu_test::WriteAndRename(path, R"({"host": "b.example", "port": 9090})");
  ASSERT_TRUE((*watcher)->snapshot().WaitForVersion(2, rcu_test::kTimeout));
  EXPECT_EQ((*watcher)->Load()->host, "b.example");
}

}  // namespace
