// rcu/prometheus.h: the core's counters (rcu/stats.h) for Prometheus, in its
// text exposition format (version 0.0.4), with no dependency on a
// Prometheus client library.
//
//   // Your /metrics handler: the process's other metrics, then these.
//   std::string body = OtherMetrics() + rcu::PrometheusText({{"service", "api"}});
//   Respond(200, "text/plain; version=0.0.4; charset=utf-8", body);
//
// writes, for each counter of rcu::Stats, its HELP and TYPE lines and one
// sample:
//
//   # HELP rcu_grace_periods_total Grace periods completed ...
//   # TYPE rcu_grace_periods_total counter
//   rcu_grace_periods_total{service="api"} 1234
//
// Names follow Prometheus's conventions: the prefix `rcu_`, counters ending
// in `_total`, gauges (rcu_callbacks_pending, rcu_retirements_buffered)
// without. The config watcher's metrics are in
// containers/config/config_watcher_prometheus.h (families named
// `rcu_config_...`), so both can go into one response.
//
// Labels: names must match [a-zA-Z_][a-zA-Z0-9_]*; any other character is
// written as '_' (a leading digit gets a '_' before it, and a leading "__",
// reserved by Prometheus, an 'x'), and a name that repeats an earlier one is
// dropped. Values may be any bytes; quotes, backslashes and newlines are
// escaped, and each byte that is not part of well-formed UTF-8 (a file path
// may hold any) is written as U+FFFD, since the format is UTF-8 and
// Prometheus rejects a whole scrape over one bad byte.
#ifndef RCU_PROMETHEUS_H_
#define RCU_PROMETHEUS_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "rcu/stats.h"

namespace rcu {

// Labels added to every sample, in this order: {{"name", "value"}, ...}.
using PrometheusLabels = std::vector<std::pair<std::string, std::string>>;

// Writes `stats` as Prometheus metrics to `out`.
void WritePrometheus(std::ostream& out, const Stats& stats, const PrometheusLabels& labels = {});

// rcu::GetStats(), now, as Prometheus metrics.
std::string PrometheusText(const PrometheusLabels& labels = {});

}  // namespace rcu

#endif  // RCU_PROMETHEUS_H_
