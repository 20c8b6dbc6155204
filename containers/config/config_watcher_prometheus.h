// containers/config/config_watcher_prometheus.h: ConfigWatcher::Status()
// (containers/config/config_watcher_options.h) for Prometheus, in its text
// exposition format (version 0.0.4), with no dependency on a Prometheus
// client library.
//
//   // Your /metrics handler:
//   std::string body = rcu::PrometheusText() +   // the RCU core's, rcu/prometheus.h
//                      rcu::ConfigWatcherPrometheusText(watcher->Status());
//
//   // Several watchers: one call, so that each family is written once.
//   rcu::ConfigWatcherPrometheusText({{app->Status(), {{"config", "app"}}},
//                                     {flags->Status(), {{"config", "flags"}}}});
//
// Each sample is labeled with the watched file's `path`, then the labels you
// give (a label of yours named `path` or `outcome` is written as
// `exported_path` or `exported_outcome`; see rcu/prometheus.h for the rules).
// The metrics, all named `rcu_config_...`:
//
//   rcu_config_version                                gauge    the snapshot's version
//   rcu_config_last_reload_successful                 gauge    1 if the last attempt
//                                                              published or found nothing new
//   rcu_config_last_reload_attempt_timestamp_seconds  gauge    Unix time, 0 if never
//   rcu_config_last_reload_success_timestamp_seconds  gauge    Unix time, 0 if never
//   rcu_config_last_reload_failure_timestamp_seconds  gauge    Unix time, 0 if never
//   rcu_config_failing_since_timestamp_seconds        gauge    Unix time the current run of
//                                                              failures began, 0 if none
//   rcu_config_reloads_total{outcome=...}             counter  published, unchanged, failed
//   rcu_config_polling                                gauge    1 while polling, not inotify
//   rcu_config_watch_degraded                         gauge    1 while inotify cannot be
//                                                              (fully) used (watch_status)
//   rcu_config_watched_directories                    gauge    directories inotify watches
//   rcu_config_writer_active                          gauge    1 while a writer holds the file
//   rcu_config_polls_total                            counter  stat() checks made by polling
//   rcu_config_file_reads_total                       counter  whole-file reads
//   rcu_config_read_bytes_total                       counter  bytes those reads returned
//
// Alert on how long a config has been failing, not on one failed attempt
// (see "Alerting" in config_watcher.h), e.g.
// `rcu_config_failing_since_timestamp_seconds > 0 and
//  time() - rcu_config_failing_since_timestamp_seconds > 600`.
#ifndef CONTAINERS_CONFIG_CONFIG_WATCHER_PROMETHEUS_H_
#define CONTAINERS_CONFIG_CONFIG_WATCHER_PROMETHEUS_H_

#include "rcu/internal/cxx17_check.h"  // first: names the flag a pre-C++17 build lacks

#include <ostream>
#include <string>
#include <vector>

#include "containers/config/config_watcher_options.h"
#include "rcu/prometheus.h"

namespace rcu {

// One watcher's status, and labels of your own for its samples. Two
// watchers of the same file need labels that tell them apart.
struct WatcherMetrics {
  WatcherStatus status;
  PrometheusLabels labels;
};

// Writes the watchers' metrics to `out`: each family once, with one sample
// per watcher (per outcome for rcu_config_reloads_total).
void WriteConfigWatcherPrometheus(std::ostream& out, const std::vector<WatcherMetrics>& watchers);

std::string ConfigWatcherPrometheusText(const std::vector<WatcherMetrics>& watchers);
std::string ConfigWatcherPrometheusText(const WatcherStatus& status,
                                        const PrometheusLabels& labels = {});

}  // namespace rcu

#endif  // CONTAINERS_CONFIG_CONFIG_WATCHER_PROMETHEUS_H_
