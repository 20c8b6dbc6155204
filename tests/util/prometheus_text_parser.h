// A strict, validating parser of Prometheus's text exposition format
// (version 0.0.4), for the exporters' tests (rcu/prometheus.h,
// containers/config/config_watcher_prometheus.h).
//
//   absl::StatusOr<PrometheusExposition> parsed = ParsePrometheusText(text);
//   ASSERT_TRUE(parsed.ok()) << parsed.status();   // names the line and the rule
//   EXPECT_EQ(parsed->Value("rcu_grace_periods_total", {}), 12);
//
// Beyond the format's grammar (metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label
// names [a-zA-Z_][a-zA-Z0-9_]* and not starting with "__", label values with
// only \\ \" \n escapes, HELP text with only \\ \n escapes, one HELP and one
// TYPE per family, TYPE before the family's first sample, each family's
// lines together, values that parse as floats, no repeated series, lines
// ending in \n), it holds the exporters to Prometheus's naming conventions:
// every family has HELP and TYPE lines before its samples, only counter
// and gauge types, samples named exactly as their family, counters named
// "..._total" with values that are not negative, no timestamps.
#ifndef TESTS_UTIL_PROMETHEUS_TEXT_PARSER_H_
#define TESTS_UTIL_PROMETHEUS_TEXT_PARSER_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace rcu_test {

struct PrometheusSample {
  std::map<std::string, std::string> labels;  // unescaped values
  double value = 0;
};

struct PrometheusFamily {
  std::string name;
  std::string type;
  std::string help;  // unescaped
  std::vector<PrometheusSample> samples;
};

struct PrometheusExposition {
  std::vector<PrometheusFamily> families;  // in the order written

  const PrometheusFamily* Find(std::string_view name) const;
  // The value of the sample of family `name` with exactly `labels`; NaN if
  // there is none.
  double Value(std::string_view name, const std::map<std::string, std::string>& labels) const;
};

absl::StatusOr<PrometheusExposition> ParsePrometheusText(std::string_view text);

}  // namespace rcu_test

#endif  // TESTS_UTIL_PROMETHEUS_TEXT_PARSER_H_
