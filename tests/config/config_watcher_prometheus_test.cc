// rcu::ConfigWatcherPrometheusText(): watchers' Status() in Prometheus's text
// exposition format, checked against the format's grammar
// (tests/util/prometheus_text_parser.h) and byte for byte.
#include "containers/config/config_watcher_prometheus.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "containers/config/config_watcher.h"
#include "gtest/gtest.h"
#include "rcu/prometheus.h"
#include "tests/util/prometheus_text_parser.h"

namespace {

using rcu_test::ParsePrometheusText;

rcu::WatcherStatus SomeStatus() {
  rcu::WatcherStatus s;
  s.path = "/etc/app/config.json";
  s.version = 7;
  s.last_status = absl::InvalidArgumentError("config file /etc/app/config.json: bad");
  s.last_error = s.last_status;
  s.failing_since = absl::FromUnixSeconds(1700000000);
  s.last_attempt_time = absl::FromUnixSeconds(1700000100) + absl::Milliseconds(250);
  s.last_success_time = absl::FromUnixSeconds(1699999000);
  s.last_failure_time = s.last_attempt_time;
  s.reloads_published = 5;
  s.reloads_unchanged = 2;
  s.reloads_failed = 1;
  s.polling = true;
  s.watch_status = absl::ResourceExhaustedError("inotify watch limit reached");
  s.watched_directories = {"/", "/etc"};
  s.writer_active = true;
  s.polls = 40;
  s.files_read = 8;
  s.bytes_read = 4096;
  return s;
}

TEST(ConfigWatcherPrometheusTest, WritesEveryMetricExactly) {
  const std::string l = "{path=\"/etc/app/config.json\",config=\"app\"}";
  EXPECT_EQ(
      rcu::ConfigWatcherPrometheusText(SomeStatus(), {{"config", "app"}}),
      "# HELP rcu_config_version Version of the config snapshot the watcher publishes into.\n"
      "# TYPE rcu_config_version gauge\n"
      "rcu_config_version" +
          l +
          " 7\n"
          "# HELP rcu_config_last_reload_successful 1 if the last reload attempt published or "
          "found nothing new, 0 if it failed.\n"
          "# TYPE rcu_config_last_reload_successful gauge\n"
          "rcu_config_last_reload_successful" +
          l +
          " 0\n"
          "# HELP rcu_config_last_reload_attempt_timestamp_seconds When the last reload attempt "
          "was made, in seconds since the Unix epoch; 0 if never.\n"
          "# TYPE rcu_config_last_reload_attempt_timestamp_seconds gauge\n"
          "rcu_config_last_reload_attempt_timestamp_seconds" +
          l +
          " 1700000100.25\n"
          "# HELP rcu_config_last_reload_success_timestamp_seconds When the last reload attempt "
          "that published or found nothing new was made, in seconds since the Unix epoch; 0 if "
          "never.\n"
          "# TYPE rcu_config_last_reload_success_timestamp_seconds gauge\n"
          "rcu_config_last_reload_success_timestamp_seconds" +
          l +
          " 1699999000\n"
          "# HELP rcu_config_last_reload_failure_timestamp_seconds When the last failed reload "
          "attempt was made, in seconds since the Unix epoch; 0 if never.\n"
          "# TYPE rcu_config_last_reload_failure_timestamp_seconds gauge\n"
          "rcu_config_last_reload_failure_timestamp_seconds" +
          l +
          " 1700000100.25\n"
          "# HELP rcu_config_failing_since_timestamp_seconds When the current run of failed "
          "reloads began, in seconds since the Unix epoch; 0 while the last attempt succeeded.\n"
          "# TYPE rcu_config_failing_since_timestamp_seconds gauge\n"
          "rcu_config_failing_since_timestamp_seconds" +
          l +
          " 1700000000\n"
          "# HELP rcu_config_reloads_total Reload attempts that read the file, by outcome: "
          "published a new version, found the published content unchanged, or failed to read, "
          "parse or validate it.\n"
          "# TYPE rcu_config_reloads_total counter\n"
          "rcu_config_reloads_total{path=\"/etc/app/config.json\",outcome=\"published\","
          "config=\"app\"} 5\n"
          "rcu_config_reloads_total{path=\"/etc/app/config.json\",outcome=\"unchanged\","
          "config=\"app\"} 2\n"
          "rcu_config_reloads_total{path=\"/etc/app/config.json\",outcome=\"failed\","
          "config=\"app\"} 1\n"
          "# HELP rcu_config_polling 1 while changes to the file are found by polling, not "
          "inotify.\n"
          "# TYPE rcu_config_polling gauge\n"
          "rcu_config_polling" +
          l +
          " 1\n"
          "# HELP rcu_config_watch_degraded 1 while inotify cannot be (fully) used for the file, "
          "for the reason the watcher's Status().watch_status gives; 0 otherwise, and when "
          "polling was asked for.\n"
          "# TYPE rcu_config_watch_degraded gauge\n"
          "rcu_config_watch_degraded" +
          l +
          " 1\n"
          "# HELP rcu_config_watched_directories Directories watched with inotify.\n"
          "# TYPE rcu_config_watched_directories gauge\n"
          "rcu_config_watched_directories" +
          l +
          " 2\n"
          "# HELP rcu_config_writer_active 1 while a process is writing the file in place "
          "(nothing is read until it closes it).\n"
          "# TYPE rcu_config_writer_active gauge\n"
          "rcu_config_writer_active" +
          l +
          " 1\n"
          "# HELP rcu_config_polls_total stat() checks of the file made by polling.\n"
          "# TYPE rcu_config_polls_total counter\n"
          "rcu_config_polls_total" +
          l +
          " 40\n"
          "# HELP rcu_config_file_reads_total Whole-file reads: to load the file, or, while "
          "polling, to hash it.\n"
          "# TYPE rcu_config_file_reads_total counter\n"
          "rcu_config_file_reads_total" +
          l +
          " 8\n"
          "# HELP rcu_config_read_bytes_total Bytes read from the file.\n"
          "# TYPE rcu_config_read_bytes_total counter\n"
          "rcu_config_read_bytes_total" +
          l + " 4096\n");
}

TEST(ConfigWatcherPrometheusTest, NeverIsZero) {
  rcu::WatcherStatus s;  // a watcher that has not attempted anything
  s.path = "/x";
  auto parsed = ParsePrometheusText(rcu::ConfigWatcherPrometheusText(s));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  for (const char* name : {"rcu_config_last_reload_attempt_timestamp_seconds",
                           "rcu_config_last_reload_success_timestamp_seconds",
                           "rcu_config_last_reload_failure_timestamp_seconds",
                           "rcu_config_failing_since_timestamp_seconds"}) {
    EXPECT_EQ(parsed->Value(name, {{"path", "/x"}}), 0) << name;
  }
  EXPECT_EQ(parsed->Value("rcu_config_last_reload_successful", {{"path", "/x"}}), 1);
  EXPECT_EQ(parsed->Value("rcu_config_watch_degraded", {{"path", "/x"}}), 0);
}

TEST(ConfigWatcherPrometheusTest, SeveralWatchersShareEachFamily) {
  rcu::WatcherStatus a = SomeStatus();
  rcu::WatcherStatus b = SomeStatus();
  b.path = "/etc/flags.toml";
  b.version = 3;
  // The same file twice, told apart by a label.
  const std::string text = rcu::ConfigWatcherPrometheusText(
      {{a, {{"config", "app"}}}, {b, {{"config", "flags"}}}, {a, {{"config", "app2"}}}});
  auto parsed = ParsePrometheusText(text);  // one HELP and TYPE per family
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << text;
  EXPECT_EQ(parsed->families.size(), 14u);
  for (const rcu_test::PrometheusFamily& f : parsed->families) {
    EXPECT_EQ(f.samples.size(), f.name == "rcu_config_reloads_total" ? 9u : 3u) << f.name;
  }
  EXPECT_EQ(parsed->Value("rcu_config_version", {{"path", "/etc/flags.toml"}, {"config", "flags"}}),
            3);
  EXPECT_EQ(parsed->Value(
                "rcu_config_reloads_total",
                {{"path", "/etc/app/config.json"}, {"outcome", "unchanged"}, {"config", "app2"}}),
            2);
  // And with the core's metrics, one valid response.
  auto both = ParsePrometheusText(rcu::PrometheusText() + text);
  ASSERT_TRUE(both.ok()) << both.status();
}

TEST(ConfigWatcherPrometheusTest, LabelsThatClashAreExported) {
  rcu::WatcherStatus s = SomeStatus();
  s.path = "/odd \"dir\"\\\n/f";
  const std::string text = rcu::ConfigWatcherPrometheusText(
      s, {{"path", "mine"}, {"outcome", "also mine"}, {"env", "prod"}});
  EXPECT_NE(text.find("rcu_config_reloads_total{path=\"/odd \\\"dir\\\"\\\\\\n/f\","
                      "outcome=\"failed\",exported_path=\"mine\","
                      "exported_outcome=\"also mine\",env=\"prod\"} 1\n"),
            std::string::npos)
      << text;
  auto parsed = ParsePrometheusText(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Value("rcu_config_version", {{"path", s.path},
                                                 {"exported_path", "mine"},
                                                 {"exported_outcome", "also mine"},
                                                 {"env", "prod"}}),
            7);
}

absl::StatusOr<std::string> ParseUnlessBad(std::string_view text) {
  if (text.find("bad") != std::string_view::npos) return absl::InvalidArgumentError("bad");
  return std::string(text);
}

TEST(ConfigWatcherPrometheusTest, ALiveWatcher) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/prometheus.conf";
  std::ofstream(path) << "good";
  auto watcher = rcu::ConfigWatcher<std::string>::Create(path, ParseUnlessBad);
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  const std::map<std::string, std::string> labels = {{"path", (*watcher)->path()}};

  auto parsed = ParsePrometheusText(rcu::ConfigWatcherPrometheusText((*watcher)->Status()));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Value("rcu_config_version", labels), 1);
  EXPECT_EQ(parsed->Value("rcu_config_last_reload_successful", labels), 1);
  EXPECT_GT(parsed->Value("rcu_config_last_reload_success_timestamp_seconds", labels), 0);
  EXPECT_EQ(parsed->Value("rcu_config_failing_since_timestamp_seconds", labels), 0);
  EXPECT_GE(parsed->Value("rcu_config_read_bytes_total", labels), 4);

  std::ofstream(path) << "bad";
  EXPECT_FALSE((*watcher)->Reload().status.ok());
  parsed = ParsePrometheusText(rcu::ConfigWatcherPrometheusText((*watcher)->Status()));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Value("rcu_config_version", labels), 1);
  EXPECT_EQ(parsed->Value("rcu_config_last_reload_successful", labels), 0);
  EXPECT_GT(parsed->Value("rcu_config_failing_since_timestamp_seconds", labels), 0);
  std::map<std::string, std::string> failed = labels;
  failed["outcome"] = "failed";
  EXPECT_GE(parsed->Value("rcu_config_reloads_total", failed), 1);
}

}  // namespace
