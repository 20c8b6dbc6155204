// examples/hot_reload: a toy router that reloads its routing table from a
// JSON file while reader threads serve requests from it. See README.md.
//
//   bazel run //examples/hot_reload -- /tmp/routes.json
//
// Edit the file while it runs: every good edit becomes a new version, and
// the program says how long after the file was written it went live and how
// long the readers took to move to it; a broken edit is rejected, reported,
// and the readers carry on with the last good version. SIGHUP reloads by
// hand; Ctrl-C prints a summary.
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "containers/config/json_config.h"

namespace {

// --- The config --------------------------------------------------------------

struct RouterConfig {
  std::string greeting;
  std::map<std::string, std::string> routes;  // path prefix -> backend
  int max_connections = 100;
};

void from_json(const nlohmann::json& j, RouterConfig& c) {
  c.greeting = j.value("greeting", std::string("hello"));
  j.at("routes").get_to(c.routes);
  c.max_connections = j.value("max_connections", 100);
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
    return absl::OutOfRangeError(
        absl::StrCat("max_connections is ", c.max_connections, ", must be within [1, 100000]"));
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

std::string Millis(absl::Duration d) {
  return absl::StrFormat("%.1f ms", absl::ToDoubleMilliseconds(d));
}

// --- Readers -------------------------------------------------------------------

// One reader thread: the version it serves, and since when.
struct Reader {
  std::atomic<std::uint64_t> version{0};
  std::atomic<std::int64_t> switched_at_ns{0};  // absl::ToUnixNanos of the switch
  std::atomic<std::uint64_t> requests{0};
};

// When each version was published (by the watcher's on_reload).
class PublishLog {
 public:
  void Published(std::uint64_t version, absl::Time at) {
    std::lock_guard<std::mutex> lock(mu_);
    at_[version] = at;
  }
  std::optional<absl::Time> When(std::uint64_t version) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = at_.find(version);
    if (it == at_.end()) return std::nullopt;
    return it->second;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::uint64_t, absl::Time> at_;
};

// Serves `rate` requests a second, as a server under steady load would:
// each request takes the current config (one consistent version, never
// blocking) and routes one path. Between batches it sleeps: a real server
// would be waiting for its next request.
void ServeRequests(const rcu::ConfigWatcher<RouterConfig>& watcher, Reader& reader, int rate,
                   const std::atomic<bool>& stop, int seed) {
  static const char* const kPaths[] = {
      "/",      "/index.html",          "/api/users",    "/api", "/static/a.css",
      "/login", "/static/img/logo.png", "/api/orders/17"};
  constexpr absl::Duration kTick = absl::Milliseconds(10);
  const int per_tick = std::max(1, rate / 100);
  std::uint32_t random = static_cast<std::uint32_t>(seed) * 2654435761u + 1;
  std::size_t sink = 0;
  absl::Time next = absl::Now();
  while (!stop.load(std::memory_order_relaxed)) {
    for (int i = 0; i < per_tick; ++i) {
      random = random * 1664525u + 1013904223u;
      const std::string_view path = kPaths[(random >> 16) % (sizeof(kPaths) / sizeof(kPaths[0]))];
      auto config = watcher.Load();
      const std::string* backend = Route(*config, path);
      sink += backend != nullptr ? backend->size() : 0;
      if (config.version() != reader.version.load(std::memory_order_relaxed)) {
        reader.switched_at_ns.store(absl::ToUnixNanos(absl::Now()), std::memory_order_relaxed);
        reader.version.store(config.version(), std::memory_order_release);
      }
    }
    reader.requests.fetch_add(per_tick, std::memory_order_relaxed);
    next += kTick;
    const absl::Time now = absl::Now();
    if (next > now) {
      absl::SleepFor(next - now);
    } else {
      next = now;  // fell behind (a busy machine): do not try to catch up
    }
  }
  if (sink == 42) std::printf(" ");  // keeps the lookups from being optimized away
}

// --- Main --------------------------------------------------------------------

struct Flags {
  std::string path;
  int readers = 2;
  int rate = 2000;        // requests per second per reader
  double duration_s = 0;  // 0: until a signal
  int report_ms = 1000;
};

void Usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--readers=N] [--rate=REQUESTS_PER_S] [--duration=SECONDS] "
               "[--report_ms=MS] CONFIG.json\n"
               "Serves requests from CONFIG.json and reloads it when it changes.\n"
               "Creates it with a sample routing table if it does not exist.\n"
               "A relative path is taken from where `bazel run` was started.\n"
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
    } else if (const char* v = value("--rate")) {
      flags->rate = std::atoi(v);
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
  // `bazel run` starts the program in its runfiles tree; a relative path
  // means one relative to where the user typed the command.
  const char* working_directory = std::getenv("BUILD_WORKING_DIRECTORY");
  if (!flags->path.empty() && flags->path[0] != '/' && working_directory != nullptr) {
    flags->path = std::string(working_directory) + "/" + flags->path;
  }
  return !flags->path.empty() && flags->readers >= 1 && flags->rate >= 1 && flags->report_ms >= 10;
}

std::string Describe(const RouterConfig& c) {
  std::vector<std::string> routes;
  for (const auto& [prefix, backend] : c.routes) routes.push_back(prefix + " -> " + backend);
  return absl::StrCat("greeting \"", c.greeting, "\", ", c.routes.size(), " routes (",
                      absl::StrJoin(routes, ", "), "), max_connections ", c.max_connections);
}

// How long ago the file the path leads to was last modified.
std::string SinceWritten(const std::string& path, absl::Time now) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return "";
  const absl::Time mtime = absl::TimeFromTimespec(st.st_mtim);
  if (mtime > now) return ", the file's mtime is in the future";
  return absl::StrCat(", live ", Millis(now - mtime), " after the file was written");
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

  PublishLog published;
  rcu::ConfigWatcher<RouterConfig>::Options options;
  options.validate = Validate;
  const std::string path = flags.path;
  options.on_reload = [&published, path](const rcu::ReloadResult& r) {
    const std::string why = absl::StrCat("reload (", rcu::ReloadTriggerName(r.trigger), "): ");
    switch (r.outcome) {
      case rcu::ReloadResult::Outcome::kPublished: {
        const absl::Time now = absl::Now();
        published.Published(r.version, now);
        Print(why, "published version ", r.version, " (", r.bytes, " bytes",
              r.trigger == rcu::ReloadTrigger::kInitial ? "" : SinceWritten(path, now), ")");
        break;
      }
      case rcu::ReloadResult::Outcome::kUnchanged:
        Print(why, "file unchanged, still version ", r.version);
        break;
      case rcu::ReloadResult::Outcome::kFailed:
        Print(why, "REJECTED, readers keep version ", r.version, ": ", r.status.message());
        break;
    }
  };
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

  std::vector<Reader> readers(static_cast<std::size_t>(flags.readers));
  std::atomic<bool> stop_readers{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < flags.readers; ++i) {
    threads.emplace_back([&, i] {
      ServeRequests(watcher, readers[static_cast<std::size_t>(i)], flags.rate, stop_readers, i);
    });
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
  const absl::Time deadline =
      flags.duration_s > 0 ? absl::Now() + absl::Seconds(flags.duration_s) : absl::InfiniteFuture();
  std::uint64_t last_requests = 0;
  absl::Time last_time = absl::Now();
  std::uint64_t converged_version = 0;  // the last version whose switch was reported
  absl::Duration slowest_switch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu);
      if (cv.wait_for(lock, std::chrono::milliseconds(flags.report_ms), [&] { return stop; })) {
        break;
      }
    }
    const absl::Time now = absl::Now();
    std::uint64_t requests = 0;
    std::uint64_t oldest = UINT64_MAX;
    std::uint64_t newest = 0;
    absl::Time last_switch = absl::InfinitePast();
    for (const Reader& r : readers) {
      requests += r.requests.load(std::memory_order_relaxed);
      const std::uint64_t v = r.version.load(std::memory_order_acquire);
      oldest = std::min(oldest, v);
      newest = std::max(newest, v);
      last_switch = std::max(last_switch, absl::FromUnixNanos(r.switched_at_ns.load()));
    }
    // Once every reader serves the newest version: how long after its
    // publication the last of them switched.
    if (oldest == newest && newest > converged_version && newest > 1) {
      if (const std::optional<absl::Time> at = published.When(newest)) {
        const absl::Duration took = std::max(last_switch - *at, absl::ZeroDuration());
        slowest_switch = std::max(slowest_switch, took);
        Print("all ", flags.readers, " readers serve version ", newest, ", the last of them ",
              Millis(took), " after it was published");
      }
      converged_version = newest;
    }
    const double rate =
        static_cast<double>(requests - last_requests) / absl::ToDoubleSeconds(now - last_time);
    last_requests = requests;
    last_time = now;
    auto config = watcher.Load();
    const std::string* api = Route(*config, "/api/users");
    const rcu::WatcherStatus status = watcher.Status();
    Print("serving version ", config.version(), ": ", flags.readers, " readers, ",
          absl::StrFormat("%.0f", rate), " requests/s, readers on ",
          oldest == newest ? absl::StrCat("v", newest) : absl::StrCat("v", oldest, "..v", newest),
          " | GET /api/users -> ", api != nullptr ? *api : "(no route)", " | \"", config->greeting,
          "\"",
          status.last_status.ok()
              ? ""
              : absl::StrCat(" | file failing for ", Millis(now - status.failing_since)),
          status.polling ? " | polling: " + status.watch_status.ToString() : "");
    if (now >= deadline) {
      pthread_kill(signal_thread.native_handle(), SIGTERM);  // ends the signal thread
      break;
    }
  }
  signal_thread.join();
  stop_readers.store(true);
  for (auto& thread : threads) thread.join();

  const rcu::WatcherStatus status = watcher.Status();
  std::uint64_t requests = 0;
  for (const Reader& r : readers) requests += r.requests.load();
  Print("summary: ", requests, " requests served; versions published ", status.reloads_published,
        ", reloads rejected ", status.reloads_failed, ", unchanged ", status.reloads_unchanged,
        "; slowest switch of all readers to a new version ", Millis(slowest_switch), "; watching ",
        status.polling ? "by polling" : "with inotify", ", ", status.watched_directories.size(),
        " directories; last error: ",
        status.last_error.ok() ? "none" : std::string(status.last_error.message()));
  return 0;
}
