// examples/hot_reload: a toy router that reloads its routing table from a
// JSON file while reader threads serve lookups from it. See README.md.
//
//   bazel run //examples/hot_reload -- /tmp/routes.json
//
// Edit the file while it runs: every good edit becomes a new version that
// readers switch to at once; a broken edit is rejected, reported, and the
// readers carry on with the last good version. SIGHUP reloads by hand;
// Ctrl-C prints a summary.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "containers/json_config.h"

namespace {

// --- The config --------------------------------------------------------------

struct RouterConfig {
  std::string greeting;
  std::map<std::string, std::string> routes;  // path prefix -> backend
  int max_connections = 100;
  // Not in the file: computed when parsed, so readers can check that what
  // they see is one consistent version.
  std::uint64_t fingerprint = 0;
};

std::uint64_t Fingerprint(const RouterConfig& c) {
  return absl::HashOf(c.greeting, c.max_connections, c.routes.size()) ^
         absl::Hash<std::map<std::string, std::string>>()(c.routes);
}

void from_json(const nlohmann::json& j, RouterConfig& c) {
  c.greeting = j.value("greeting", std::string("hello"));
  j.at("routes").get_to(c.routes);
  c.max_connections = j.value("max_connections", 100);
  c.fingerprint = Fingerprint(c);
}

absl::Status Validate(const RouterConfig& c) {
  if (c.routes.empty()) return absl::InvalidArgumentError("routes: at least one route needed");
  for (const auto& [prefix, backend] : c.routes) {
    if (prefix.empty() || prefix[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("routes: \"", prefix, "\" does not start with '/'"));
    }
    if (backend.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("routes: \"", prefix, "\" has no backend"));
    }
  }
  if (c.max_connections < 1 || c.max_connections > 100000) {
    return absl::OutOfRangeError(absl::StrCat("max_connections is ", c.max_connections,
                                              ", must be within [1, 100000]"));
  }
  return absl::OkStatus();
}

// The backend for `path`: its longest matching prefix.
const std::string* Route(const RouterConfig& c, std::string_view path) {
  const std::string* best = nullptr;
  std::size_t best_length = 0;
  for (const auto& [prefix, backend] : c.routes) {
    if (path.substr(0, prefix.size()) == prefix && prefix.size() >= best_length) {
      best = &backend;
      best_length = prefix.size();
    }
  }
  return best;
}

constexpr const char* kDefaultConfig = R"({
  "greeting": "hello",
  "routes": {
    "/": "web-1",
    "/api": "api-1",
    "/static": "cdn-1"
  },
  "max_connections": 100
}
)";

// --- Output ------------------------------------------------------------------

const absl::Time start_time = absl::Now();
std::mutex print_mu;

template <typename... Args>
void Print(const Args&... args) {
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start_time);
  std::lock_guard<std::mutex> lock(print_mu);
  std::printf("[%6.2fs] %s\n", seconds, absl::StrCat(args...).c_str());
  std::fflush(stdout);
}

// --- Readers -------------------------------------------------------------------

// What the readers saw, merged by the reporter.
struct ReaderStats {
  std::atomic<std::uint64_t> lookups{0};
  std::atomic<std::uint64_t> torn{0};         // fingerprint mismatches: must stay 0
  std::atomic<std::uint64_t> newest_version{0};
  std::atomic<std::uint64_t> oldest_version_this_period{UINT64_MAX};
  std::atomic<std::uint64_t> sink{0};  // keeps the lookups from being optimized away
};

void ServeLookups(const rcu::ConfigWatcher<RouterConfig>& watcher, ReaderStats& stats,
                  const std::atomic<bool>& stop, int seed) {
  static const char* const kPaths[] = {"/", "/index.html", "/api/users", "/api", "/static/a.css",
                                       "/login", "/static/img/logo.png", "/api/orders/17"};
  std::uint64_t lookups = 0;
  std::uint64_t sink = 0;
  std::uint32_t random = static_cast<std::uint32_t>(seed) * 2654435761u + 1;
  while (!stop.load(std::memory_order_relaxed)) {
    random = random * 1664525u + 1013904223u;
    const std::string_view path = kPaths[(random >> 16) % (sizeof(kPaths) / sizeof(kPaths[0]))];
    auto config = watcher.Load();  // one consistent version, never blocks
    const std::string* backend = Route(*config, path);
    sink += backend != nullptr ? backend->size() : 0;
    if ((++lookups & 1023) == 0) {
      // Every 1024th lookup, check the whole config is one version.
      if (Fingerprint(*config) != config->fingerprint) stats.torn.fetch_add(1);
      stats.lookups.fetch_add(1024, std::memory_order_relaxed);
    }
    const std::uint64_t version = config.version();
    if (version > stats.newest_version.load(std::memory_order_relaxed)) {
      stats.newest_version.store(version, std::memory_order_relaxed);
    }
    std::uint64_t oldest = stats.oldest_version_this_period.load(std::memory_order_relaxed);
    if (version < oldest) stats.oldest_version_this_period.store(version, std::memory_order_relaxed);
  }
  stats.lookups.fetch_add(lookups & 1023, std::memory_order_relaxed);
  stats.sink.fetch_add(sink, std::memory_order_relaxed);
}

// --- Main --------------------------------------------------------------------

struct Flags {
  std::string path;
  int readers = 2;
  double duration_s = 0;  // 0: until a signal
  int report_ms = 1000;
};

void Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--readers=N] [--duration=SECONDS] [--report_ms=MS] CONFIG.json\n"
               "Serves lookups from CONFIG.json and reloads it when it changes.\n"
               "Creates it with a sample routing table if it does not exist.\n"
               "SIGHUP: reload now. SIGINT/SIGTERM: print a summary and exit.\n",
               argv0);
}

bool ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* name) -> const char* {
      const std::string prefix = std::string(name) + "=";
      return arg.rfind(prefix, 0) == 0 ? argv[i] + prefix.size() : nullptr;
    };
    if (const char* v = value("--readers")) {
      flags->readers = std::atoi(v);
    } else if (const char* v = value("--duration")) {
      flags->duration_s = std::atof(v);
    } else if (const char* v = value("--report_ms")) {
      flags->report_ms = std::atoi(v);
    } else if (!arg.empty() && arg[0] != '-' && flags->path.empty()) {
      flags->path = arg;
    } else {
      return false;
    }
  }
  return !flags->path.empty() && flags->readers >= 1 && flags->report_ms >= 10;
}

std::string Describe(const RouterConfig& c) {
  std::vector<std::string> routes;
  for (const auto& [prefix, backend] : c.routes) routes.push_back(prefix + " -> " + backend);
  return absl::StrCat("greeting \"", c.greeting, "\", ", c.routes.size(), " routes (",
                      absl::StrJoin(routes, ", "), "), max_connections ", c.max_connections);
}

void PrintReload(const rcu::ReloadResult& r) {
  const std::string why = absl::StrCat("reload (", rcu::ReloadTriggerName(r.trigger), "): ");
  switch (r.outcome) {
    case rcu::ReloadResult::Outcome::kPublished:
      Print(why, "published version ", r.version, " (", r.bytes, " bytes)");
      break;
    case rcu::ReloadResult::Outcome::kUnchanged:
      Print(why, "file unchanged, still version ", r.version);
      break;
    case rcu::ReloadResult::Outcome::kFailed:
      Print(why, "REJECTED, readers keep version ", r.version, ": ", r.status.message());
      break;
  }
}

bool WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path);
  out << contents;
  return static_cast<bool>(out.flush());
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    Usage(argv[0]);
    return 2;
  }
  // Signals go to one thread that waits for them (a handler could not call
  // Reload()). Blocked before any other thread starts, so all inherit it.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (::access(flags.path.c_str(), F_OK) != 0) {
    if (!WriteFile(flags.path, kDefaultConfig)) {
      std::fprintf(stderr, "hot_reload: cannot create %s: %s\n", flags.path.c_str(),
                   std::strerror(errno));
      return 1;
    }
    Print("created ", flags.path, " with a sample routing table");
  }

  rcu::ConfigWatcher<RouterConfig>::Options options;
  options.validate = Validate;
  options.on_reload = PrintReload;
  auto created = rcu::WatchJsonConfig<RouterConfig>(flags.path, options);
  if (!created.ok()) {
    std::fprintf(stderr, "hot_reload: %s\n", std::string(created.status().message()).c_str());
    return 1;
  }
  rcu::ConfigWatcher<RouterConfig>& watcher = **created;
  {
    auto config = watcher.Load();
    Print("serving version ", config.version(), " from ", watcher.path(), ": ", Describe(*config));
  }
  watcher.snapshot().Subscribe([](const RouterConfig& config, std::uint64_t version) {
    Print("version ", version, " is live: ", Describe(config));
  });

  ReaderStats stats;
  std::atomic<bool> stop_readers{false};
  std::vector<std::thread> readers;
  for (int i = 0; i < flags.readers; ++i) {
    readers.emplace_back([&, i] { ServeLookups(watcher, stats, stop_readers, i); });
  }

  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;  // guarded by mu
  std::thread signal_thread([&] {
    for (;;) {
      int signal = 0;
      if (sigwait(&signals, &signal) != 0) continue;
      if (signal == SIGHUP) {
        Print("SIGHUP: reloading");
        watcher.Reload();  // prints through on_reload
        continue;
      }
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
      cv.notify_all();
      return;
    }
  });

  // Report once per period until stopped.
  const absl::Time deadline = flags.duration_s > 0
                                  ? absl::Now() + absl::Seconds(flags.duration_s)
                                  : absl::InfiniteFuture();
  std::uint64_t last_lookups = 0;
  absl::Time last_time = absl::Now();
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu);
      if (cv.wait_for(lock, std::chrono::milliseconds(flags.report_ms), [&] { return stop; })) {
        break;
      }
    }
    const absl::Time now = absl::Now();
    const std::uint64_t lookups = stats.lookups.load();
    const std::uint64_t oldest = stats.oldest_version_this_period.exchange(UINT64_MAX);
    const std::uint64_t newest = stats.newest_version.load();
    const double rate = static_cast<double>(lookups - last_lookups) /
                        absl::ToDoubleSeconds(now - last_time) / 1e6;
    last_lookups = lookups;
    last_time = now;
    auto config = watcher.Load();
    const std::string* api = Route(*config, "/api/users");
    Print("serving version ", config.version(), ": ", flags.readers, " readers, ",
          absl::StrFormat("%.2f", rate), "M lookups/s, readers saw ",
          oldest == newest || oldest == UINT64_MAX ? absl::StrCat("v", newest)
                                                   : absl::StrCat("v", oldest, "..v", newest),
          " | GET /api/users -> ", api != nullptr ? *api : "(no route)", " | \"",
          config->greeting, "\"");
    if (now >= deadline) {
      pthread_kill(signal_thread.native_handle(), SIGTERM);  // ends the signal thread
      break;
    }
  }
  signal_thread.join();
  stop_readers.store(true);
  for (auto& reader : readers) reader.join();

  const rcu::WatcherStatus status = watcher.Status();
  Print("summary: ", stats.lookups.load(), " lookups, ", stats.torn.load(),
        " saw a torn config; versions published ", status.reloads_published, ", reloads rejected ",
        status.reloads_failed, ", unchanged ", status.reloads_unchanged, "; last error: ",
        status.last_error.ok() ? "none" : std::string(status.last_error.message()));
  return stats.torn.load() == 0 ? 0 : 1;
}
