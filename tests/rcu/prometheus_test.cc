// rcu::PrometheusText(): the core's counters in Prometheus's text exposition
// format, checked against the format's grammar (tests/util/
// prometheus_text_parser.h, itself checked first) and byte for byte.
#include "rcu/prometheus.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <locale>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "rcu/grace_period.h"
#include "rcu/internal/prometheus_writer.h"
#include "rcu/stats.h"
#include "tests/util/prometheus_text_parser.h"

namespace {

using rcu_test::ParsePrometheusText;

// --- The validator rejects what the format forbids ------------------------------

const char kValid[] =
    "# HELP a_total Some help.\n"
    "# TYPE a_total counter\n"
    "a_total{x=\"1\"} 3\n";

TEST(PrometheusTextParserTest, AcceptsAValidExposition) {
  auto parsed = ParsePrometheusText(kValid);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Value("a_total", {{"x", "1"}}), 3);
  EXPECT_TRUE(ParsePrometheusText("").ok());
}

TEST(PrometheusTextParserTest, RejectsWhatTheFormatForbids) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"# HELP a_total h\n# TYPE a_total counter\na_total 3", "does not end in \\n"},
      {"# HELP 1a h\n", "invalid metric name"},
      {"# HELP a-b h\n", "invalid metric name"},
      {"# HELP a_total h\n# TYPE a_total counter\na-b 1\n", "invalid metric name"},
      {"# HELP a h\n# TYPE a gauge\na{1x=\"v\"} 1\n", "invalid label name"},
      {"# HELP a h\n# TYPE a gauge\na{__x=\"v\"} 1\n", "reserved"},
      {"# HELP a h\n# TYPE a gauge\na{x=\"a\\tb\"} 1\n", "invalid escape in a label value"},
      {"# HELP a h\n# TYPE a gauge\na{x=\"a\"b\"} 1\n", "labels not separated"},
      {"# HELP a h\n# TYPE a gauge\na{x=\"ab} 1\n", "unterminated"},
      {"# HELP a h\n# TYPE a gauge\na{x=v} 1\n", "without quotes"},
      {"# HELP a h\n# TYPE a gauge\na{x=\"1\",x=\"2\"} 1\n", "repeated in one sample"},
      {"# HELP a h\\t\n", "invalid escape in HELP"},
      {"# HELP a h\n# HELP a h\n", "a second HELP"},
      {"# HELP a h\n# TYPE a gauge\n# TYPE a gauge\n", "a second TYPE"},
      {"# HELP a h\n# TYPE a gaug\n", "unknown type"},
      {"# HELP a h\n# TYPE a histogram\n", "counters and gauges"},
      {"# HELP a h\n# TYPE a counter\na 1\n", "does not end in _total"},
      {"# HELP a h\na 1\n", "before its family's TYPE"},
      {"# TYPE a gauge\na 1\n", "before its family's HELP"},
      {"# HELP a h\n# TYPE a gauge\na 1\n# HELP a h\n", "after the family's samples"},
      {"# HELP a h\n# TYPE a gauge\na 1\n# HELP b h\n# TYPE b gauge\nb 1\na{x=\"1\"} 2\n",
       "not all together"},
      {"# HELP a h\n# TYPE a gauge\na 1\na 2\n", "a repeated series"},
      {"# HELP a h\n# TYPE a gauge\na 0x10\n", "not a float"},
      {"# HELP a h\n# TYPE a gauge\na one\n", "not a float"},
      {"# HELP a h\n# TYPE a gauge\na 1 1700000000000\n", "timestamp"},
      {"# HELP a h\n# TYPE a gauge\na{x=\"1\"}1\n", "no space before the value"},
      {"# HELP a_total h\n# TYPE a_total counter\na_total -1\n", "negative"},
      {"# HELP a h\n# TYPE a gauge\n", "has no samples"},
      {"# HELP a h\r\n# TYPE a gauge\na 1\n", "carriage return"},
  };
  for (const auto& [text, error] : bad) {
    absl::StatusOr<rcu_test::PrometheusExposition> parsed = ParsePrometheusText(text);
    ASSERT_FALSE(parsed.ok()) << "accepted:\n" << text;
    EXPECT_NE(parsed.status().message().find(error), std::string::npos)
        << parsed.status() << "\nexpected: " << error;
  }
}

// --- The exporter --------------------------------------------------------------------

rcu::Stats SomeStats() {
  rcu::Stats s;
  s.grace_periods = 1;
  s.callbacks_queued = 20;
  s.callbacks_invoked = 18;
  s.callbacks_failed = 3;
  s.retirements_buffered = 5;
  s.backlog_waits = 6;
  s.worker_wakeups = 7;
  s.stalls_reported = 8;
  s.threads_registered = 9;
  s.threads_unregistered = 10;
  s.diagnostics_reported = 18446744073709551615u;  // every digit of a uint64_t
  return s;
}

std::string Write(const rcu::Stats& stats, const rcu::PrometheusLabels& labels) {
  std::ostringstream out;
  rcu::WritePrometheus(out, stats, labels);
  return out.str();
}

TEST(PrometheusTest, WritesEveryCounterExactly) {
  EXPECT_EQ(Write(SomeStats(), {{"service", "api"}}),
            "# HELP rcu_grace_periods_total Grace periods completed through the library: "
            "Synchronize() and CondSynchronize() calls, StartPoll(), and one per batch of "
            "callbacks.\n"
            "# TYPE rcu_grace_periods_total counter\n"
            "rcu_grace_periods_total{service=\"api\"} 1\n"
            "# HELP rcu_callbacks_queued_total Callbacks (CallRcu) and retired objects (Retire) "
            "handed to the callback thread.\n"
            "# TYPE rcu_callbacks_queued_total counter\n"
            "rcu_callbacks_queued_total{service=\"api\"} 20\n"
            "# HELP rcu_callbacks_invoked_total Callbacks run by the callback thread, including "
            "those that threw.\n"
            "# TYPE rcu_callbacks_invoked_total counter\n"
            "rcu_callbacks_invoked_total{service=\"api\"} 18\n"
            "# HELP rcu_callbacks_failed_total Callbacks that threw an exception.\n"
            "# TYPE rcu_callbacks_failed_total counter\n"
            "rcu_callbacks_failed_total{service=\"api\"} 3\n"
            "# HELP rcu_callbacks_pending Callbacks queued and not yet run: queued minus "
            "invoked, from one reading.\n"
            "# TYPE rcu_callbacks_pending gauge\n"
            "rcu_callbacks_pending{service=\"api\"} 2\n"
            "# HELP rcu_retirements_buffered Retired objects waiting in their threads' partial "
            "blocks, not yet queued.\n"
            "# TYPE rcu_retirements_buffered gauge\n"
            "rcu_retirements_buffered{service=\"api\"} 5\n"
            "# HELP rcu_backlog_waits_total Times a retiring thread waited for the callback "
            "thread to catch up (backpressure).\n"
            "# TYPE rcu_backlog_waits_total counter\n"
            "rcu_backlog_waits_total{service=\"api\"} 6\n"
            "# HELP rcu_worker_wakeups_total Times a thread woke the sleeping callback thread.\n"
            "# TYPE rcu_worker_wakeups_total counter\n"
            "rcu_worker_wakeups_total{service=\"api\"} 7\n"
            "# HELP rcu_stalls_reported_total Stall warnings delivered, for readers and for "
            "callbacks.\n"
            "# TYPE rcu_stalls_reported_total counter\n"
            "rcu_stalls_reported_total{service=\"api\"} 8\n"
            "# HELP rcu_threads_registered_total Threads registered as RCU readers.\n"
            "# TYPE rcu_threads_registered_total counter\n"
            "rcu_threads_registered_total{service=\"api\"} 9\n"
            "# HELP rcu_threads_unregistered_total Threads unregistered as RCU readers.\n"
            "# TYPE rcu_threads_unregistered_total counter\n"
            "rcu_threads_unregistered_total{service=\"api\"} 10\n"
            "# HELP rcu_diagnostics_reported_total Reports sent through the diagnostics "
            "channel (rcu/diagnostics.h): misuse, failed checks, callbacks that threw.\n"
            "# TYPE rcu_diagnostics_reported_total counter\n"
            "rcu_diagnostics_reported_total{service=\"api\"} 18446744073709551615\n");
}

TEST(PrometheusTest, OutputFollowsTheFormat) {
  auto parsed = ParsePrometheusText(Write(SomeStats(), {{"service", "api"}, {"zone", "b"}}));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->families.size(), 12u);
  EXPECT_EQ(parsed->Value("rcu_callbacks_queued_total", {{"service", "api"}, {"zone", "b"}}), 20);
  ASSERT_TRUE(ParsePrometheusText(Write(SomeStats(), {})).ok());
}

TEST(PrometheusTest, PendingCallbacksAreNeverNegative) {
  rcu::Stats s;
  s.callbacks_queued = 1;
  s.callbacks_invoked = 2;  // not from one GetStats(): made by hand
  auto parsed = ParsePrometheusText(Write(s, {}));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Value("rcu_callbacks_pending", {}), 0);
}

TEST(PrometheusTest, LabelsAreEscapedAndTheirNamesMadeValid) {
  const std::string text = Write(SomeStats(), {{"job", "a\"b\\c\nd"},
                                               {"bad-name.x", "1"},
                                               {"9lives", "2"},
                                               {"", "3"},
                                               {"__meta", "4"},
                                               {"job", "repeated: dropped"},
                                               {"utf8", "\xc3\xa9t\xc3\xa9"}});
  EXPECT_NE(text.find("rcu_grace_periods_total{job=\"a\\\"b\\\\c\\nd\",bad_name_x=\"1\","
                      "_9lives=\"2\",_=\"3\",x__meta=\"4\",utf8=\"\xc3\xa9t\xc3\xa9\"} 1\n"),
            std::string::npos)
      << text;
  auto parsed = ParsePrometheusText(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Find("rcu_grace_periods_total")->samples[0].labels.at("job"), "a\"b\\c\nd");
}

TEST(PrometheusTest, HelpTextIsEscaped) {
  EXPECT_EQ(rcu::internal::PrometheusHelp("a\\b\nc \"d\""), "a\\\\b\\nc \"d\"");
}

TEST(PrometheusTest, ValuesAreFloatsPrometheusReads) {
  using rcu::internal::PrometheusValue;
  EXPECT_EQ(PrometheusValue(0.5), "0.5");
  EXPECT_EQ(PrometheusValue(1700000000.25), "1700000000.25");
  EXPECT_EQ(PrometheusValue(1700000000), "1700000000");
  EXPECT_EQ(PrometheusValue(0), "0");
  EXPECT_EQ(PrometheusValue(0.00025), "0.00025");
  EXPECT_EQ(PrometheusValue(1e300), "1e+300");
  EXPECT_EQ(PrometheusValue(2.5e-7), "2.5e-07");
  EXPECT_EQ(PrometheusValue(-2), "-2");
  EXPECT_EQ(PrometheusValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(PrometheusValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(PrometheusValue(std::nan("")), "NaN");
  EXPECT_EQ(std::stod(PrometheusValue(0.1)), 0.1);  // round-trips
}

// A locale that groups digits ("1,234") must not reach the numbers.
struct Grouping : std::numpunct<char> {
  char do_thousands_sep() const override { return ','; }
  std::string do_grouping() const override { return "\3"; }
};

TEST(PrometheusTest, TheStreamsLocaleDoesNotGroupDigits) {
  std::ostringstream out;
  out.imbue(std::locale(out.getloc(), new Grouping));
  out << 1234567;
  ASSERT_EQ(out.str(), "1,234,567");  // the locale does group
  out.str("");
  rcu::Stats s;
  s.grace_periods = 1234567;
  rcu::WritePrometheus(out, s);
  EXPECT_NE(out.str().find("rcu_grace_periods_total 1234567\n"), std::string::npos) << out.str();
  EXPECT_TRUE(ParsePrometheusText(out.str()).ok());
}

TEST(PrometheusTest, PrometheusTextReportsTheLiveCounters) {
  auto before = ParsePrometheusText(rcu::PrometheusText());
  ASSERT_TRUE(before.ok()) << before.status();
  rcu::Synchronize();
  auto after = ParsePrometheusText(rcu::PrometheusText({{"instance", "test"}}));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_GT(after->Value("rcu_grace_periods_total", {{"instance", "test"}}),
            before->Value("rcu_grace_periods_total", {}));
}

}  // namespace
