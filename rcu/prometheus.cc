#include "rcu/prometheus.h"

#include <cstdint>
#include <ostream>
#include <sstream>
#include <string>

#include "rcu/internal/prometheus_writer.h"
#include "rcu/stats.h"

namespace rcu {
namespace {

struct Metric {
  const char* name;
  const char* type;
  const char* help;
  std::uint64_t Stats::*field;  // null: computed below
};

// In the order of rcu::Stats; see rcu/stats.h for what each counts.
constexpr Metric kMetrics[] = {
    {"rcu_grace_periods_total", "counter",
     "Grace periods completed through the library: Synchronize() and CondSynchronize() calls, "
     "StartPoll(), and one per batch of callbacks.",
     &Stats::grace_periods},
    {"rcu_callbacks_queued_total", "counter",
     "Callbacks (CallRcu) and retired objects (Retire) handed to the callback thread.",
     &Stats::callbacks_queued},
    {"rcu_callbacks_invoked_total", "counter",
     "Callbacks run by the callback thread, including those that threw.",
     &Stats::callbacks_invoked},
    {"rcu_callbacks_failed_total", "counter", "Callbacks that threw an exception.",
     &Stats::callbacks_failed},
    {"rcu_callbacks_pending", "gauge",
     "Callbacks queued and not yet run: queued minus invoked, from one reading.", nullptr},
    {"rcu_retirements_buffered", "gauge",
     "Retired objects waiting in their threads' partial blocks, not yet queued.",
     &Stats::retirements_buffered},
    {"rcu_backlog_waits_total", "counter",
     "Times a retiring thread waited for the callback thread to catch up (backpressure).",
     &Stats::backlog_waits},
    {"rcu_worker_wakeups_total", "counter", "Times a thread woke the sleeping callback thread.",
     &Stats::worker_wakeups},
    {"rcu_stalls_reported_total", "counter",
     "Stall warnings delivered, for readers and for callbacks.", &Stats::stalls_reported},
    {"rcu_threads_registered_total", "counter", "Threads registered as RCU readers.",
     &Stats::threads_registered},
    {"rcu_threads_unregistered_total", "counter", "Threads unregistered as RCU readers.",
     &Stats::threads_unregistered},
    {"rcu_diagnostics_reported_total", "counter",
     "Reports sent through the diagnostics channel (rcu/diagnostics.h): misuse, failed "
     "checks, callbacks that threw.",
     &Stats::diagnostics_reported},
};

}  // namespace

void WritePrometheus(std::ostream& out, const Stats& stats, const PrometheusLabels& labels) {
  const std::string user_labels = internal::PrometheusUserLabels(labels);
  internal::PrometheusWriter writer(out);
  for (const Metric& metric : kMetrics) {
    writer.Family(metric.name, metric.type, metric.help);
    // invoked <= queued within one GetStats() (rcu/stats.h); a Stats made
    // by hand may break that, and a gauge of pending callbacks cannot be
    // negative.
    const std::uint64_t value = metric.field != nullptr ? stats.*metric.field
                                : stats.callbacks_queued >= stats.callbacks_invoked
                                    ? stats.callbacks_queued - stats.callbacks_invoked
                                    : 0;
    writer.Sample({}, user_labels, value);
  }
}

std::string PrometheusText(const PrometheusLabels& labels) {
  std::ostringstream out;
  WritePrometheus(out, GetStats(), labels);
  return out.str();
}

}  // namespace rcu
