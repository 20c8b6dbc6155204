// Internal: writes metric families in Prometheus's text exposition format,
// version 0.0.4, for rcu/prometheus.h and
// containers/config/config_watcher_prometheus.h.
//
//   const std::string user = PrometheusUserLabels(labels, /*reserved=*/{"path"});
//   PrometheusWriter w(out);
//   w.Family("rcu_config_version", "gauge", "Version of ...");
//   w.Sample({{"path", "/etc/app.json"}}, user, std::uint64_t{7});
//
// Every family gets one HELP and one TYPE line before its samples; the
// caller writes each family once, with all its samples. Names of families
// are the caller's constants and must already be valid.
#ifndef RCU_INTERNAL_PROMETHEUS_WRITER_H_
#define RCU_INTERNAL_PROMETHEUS_WRITER_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>

#include "rcu/prometheus.h"

namespace rcu {
namespace internal {

// `name` as a valid label name: see rcu/prometheus.h, "Labels".
std::string PrometheusLabelName(std::string_view name);
// `value` between the quotes of a label value: \ " and newline escaped.
std::string PrometheusLabelValue(std::string_view value);
// `text` as a HELP docstring: \ and newline escaped.
std::string PrometheusHelp(std::string_view text);
// A sample value: the shortest text that reads back as the same double;
// +Inf, -Inf and NaN as Prometheus spells them.
std::string PrometheusValue(double value);

// The caller's labels as `name="value",...`, made valid once for all the
// samples they go on: names as PrometheusLabelName() makes them, those in
// `reserved` (the samples' own label names) written as "exported_<name>", as
// Prometheus does with labels that clash, and a repeated name dropped (the
// first wins).
std::string PrometheusUserLabels(const PrometheusLabels& labels,
                                 std::initializer_list<std::string_view> reserved = {});

class PrometheusWriter {
 public:
  explicit PrometheusWriter(std::ostream& out) : out_(out) {}

  // Starts family `name` of `type` ("counter" or "gauge").
  void Family(std::string_view name, std::string_view type, std::string_view help);

  // One sample of the current family, named after it, with `own_labels`
  // (valid names; values are escaped here) and then `user_labels` (from
  // PrometheusUserLabels()).
  void Sample(const PrometheusLabels& own_labels, const std::string& user_labels, double value);
  void Sample(const PrometheusLabels& own_labels, const std::string& user_labels,
              std::uint64_t value);

 private:
  void WriteName(const PrometheusLabels& own_labels, const std::string& user_labels);

  std::ostream& out_;
  std::string family_;
};

}  // namespace internal
}  // namespace rcu

#endif  // RCU_INTERNAL_PROMETHEUS_WRITER_H_
