#include "containers/config/config_watcher_prometheus.h"

#include <cstdint>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "containers/config/config_watcher_options.h"
#include "rcu/internal/prometheus_writer.h"
#include "rcu/prometheus.h"

namespace rcu {
namespace {

// Unix time in seconds; 0 for "never" (absl::InfinitePast()).
double Timestamp(absl::Time t) {
  if (t == absl::InfinitePast()) return 0;
  if (t == absl::InfiniteFuture()) return std::numeric_limits<double>::infinity();
  // Whole seconds and the rest apart: absl::ToDoubleSeconds(t - epoch)
  // rounds 1700000100.25 to 1700000100.2499998.
  const std::int64_t seconds = absl::ToUnixSeconds(t);
  const std::int64_t nanos = absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds));
  return static_cast<double>(seconds) + static_cast<double>(nanos) / 1e9;
}

double Flag(bool b) { return b ? 1 : 0; }

}  // namespace

void WriteConfigWatcherPrometheus(std::ostream& out, const std::vector<WatcherMetrics>& watchers) {
  std::vector<std::string> user_labels;
  user_labels.reserve(watchers.size());
  for (const WatcherMetrics& w : watchers) {
    user_labels.push_back(internal::PrometheusUserLabels(w.labels, {"path", "outcome"}));
  }
  internal::PrometheusWriter writer(out);
  // One family: its HELP and TYPE, then a sample per watcher.
  auto gauge = [&](const char* name, const char* help, auto value_of) {
    writer.Family(name, "gauge", help);
    for (std::size_t i = 0; i < watchers.size(); ++i) {
      writer.Sample({{"path", watchers[i].status.path}}, user_labels[i],
                    value_of(watchers[i].status));
    }
  };
  auto counter = [&](const char* name, const char* help, auto value_of) {
    writer.Family(name, "counter", help);
    for (std::size_t i = 0; i < watchers.size(); ++i) {
      writer.Sample({{"path", watchers[i].status.path}}, user_labels[i],
                    std::uint64_t{value_of(watchers[i].status)});
    }
  };
  using S = WatcherStatus;
  gauge("rcu_config_version", "Version of the config snapshot the watcher publishes into.",
        [](const S& s) { return std::uint64_t{s.version}; });
  gauge("rcu_config_last_reload_successful",
        "1 if the last reload attempt published or found nothing new, 0 if it failed.",
        [](const S& s) { return Flag(s.last_status.ok()); });
  gauge("rcu_config_last_reload_attempt_timestamp_seconds",
        "When the last reload attempt was made, in seconds since the Unix epoch; 0 if never.",
        [](const S& s) { return Timestamp(s.last_attempt_time); });
  gauge("rcu_config_last_reload_success_timestamp_seconds",
        "When the last reload attempt that published or found nothing new was made, in "
        "seconds since the Unix epoch; 0 if never.",
        [](const S& s) { return Timestamp(s.last_success_time); });
  gauge("rcu_config_last_reload_failure_timestamp_seconds",
        "When the last failed reload attempt was made, in seconds since the Unix epoch; 0 if "
        "never.",
        [](const S& s) { return Timestamp(s.last_failure_time); });
  gauge("rcu_config_failing_since_timestamp_seconds",
        "When the current run of failed reloads began, in seconds since the Unix epoch; 0 "
        "while the last attempt succeeded.",
        [](const S& s) { return Timestamp(s.failing_since); });

  writer.Family("rcu_config_reloads_total", "counter",
                "Reload attempts that read the file, by outcome: published a new version, found "
                "the published content unchanged, or failed to read, parse or validate it.");
  for (std::size_t i = 0; i < watchers.size(); ++i) {
    const S& s = watchers[i].status;
    const std::string& path = s.path;
    writer.Sample({{"path", path}, {"outcome", "published"}}, user_labels[i],
                  std::uint64_t{s.reloads_published});
    writer.Sample({{"path", path}, {"outcome", "unchanged"}}, user_labels[i],
                  std::uint64_t{s.reloads_unchanged});
    writer.Sample({{"path", path}, {"outcome", "failed"}}, user_labels[i],
                  std::uint64_t{s.reloads_failed});
  }

  gauge("rcu_config_polling", "1 while changes to the file are found by polling, not inotify.",
        [](const S& s) { return Flag(s.polling); });
  gauge("rcu_config_watch_degraded",
        "1 while inotify cannot be (fully) used for the file, for the reason the watcher's "
        "Status().watch_status gives; 0 otherwise, and when polling was asked for.",
        [](const S& s) { return Flag(!s.watch_status.ok()); });
  gauge("rcu_config_watched_directories", "Directories watched with inotify.",
        [](const S& s) { return std::uint64_t{s.watched_directories.size()}; });
  gauge("rcu_config_writer_active",
        "1 while a process is writing the file in place (nothing is read until it closes it).",
        [](const S& s) { return Flag(s.writer_active); });
  counter("rcu_config_polls_total", "stat() checks of the file made by polling.",
          [](const S& s) { return s.polls; });
  counter("rcu_config_file_reads_total",
          "Whole-file reads: to load the file, or, while polling, to hash it.",
          [](const S& s) { return s.files_read; });
  counter("rcu_config_read_bytes_total", "Bytes read from the file.",
          [](const S& s) { return s.bytes_read; });
}

std::string ConfigWatcherPrometheusText(const std::vector<WatcherMetrics>& watchers) {
  std::ostringstream out;
  WriteConfigWatcherPrometheus(out, watchers);
  return out.str();
}

std::string ConfigWatcherPrometheusText(const WatcherStatus& status,
                                        const PrometheusLabels& labels) {
  return ConfigWatcherPrometheusText(std::vector<WatcherMetrics>{{status, labels}});
}

}  // namespace rcu
