#include "tests/config/scenario_harness.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "containers/config/json_config.h"
#include "containers/config/toml_config.h"
#include "gtest/gtest.h"

namespace rcu_test {
namespace {

std::mutex summary_mu;
std::vector<std::string>& SummaryLines() {
  static auto* lines = new std::vector<std::string>();
  return *lines;
}

std::string RealPath(const std::string& path) {
  char resolved[PATH_MAX];
  return ::realpath(path.c_str(), resolved) != nullptr ? resolved : path;
}

std::string Milliseconds(absl::Duration d) {
  return absl::StrFormat("%.0f ms", absl::ToDoubleMilliseconds(d));
}

std::string StatusLine(const rcu::WatcherStatus& s) {
  return absl::StrCat(
      "version ", s.version, ", last_status ", s.last_status.ToString(), ", polling ",
      s.polling ? "yes" : "no", ", watch_status ", s.watch_status.ToString(), ", watched [",
      absl::StrJoin(s.watched_directories, " "), "], published ", s.reloads_published,
      ", unchanged ", s.reloads_unchanged, ", failed ", s.reloads_failed);
}

// Any syntactically valid document, as the one-line set-ups accept.
Scenario::Watcher::Parser MakeParser(FileFormat format) {
  return [format](std::string_view text) -> absl::StatusOr<ScenarioConfig> {
    if (format == FileFormat::kJson) {
      absl::StatusOr<nlohmann::json> json = rcu::ParseJson<nlohmann::json>(text);
      if (!json.ok()) return json.status();
    } else {
      absl::StatusOr<toml::table> table = rcu::ParseToml(text);
      if (!table.ok()) return table.status();
    }
    return ScenarioConfig{std::string(text)};
  };
}

// Starts the threads that stay once started (the RCU callback worker, the
// sanitizers' helpers) before any baseline is measured, and prints every
// scenario's times to converge at the end.
class ScenarioEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    Scenario warm_up("warm-up", {});
    const std::string path = warm_up.Path("warm.json");
    WriteInPlace(path, warm_up.NextFile());
    if (warm_up.Watch(path)) {
      const std::string next = warm_up.NextFile();
      WriteAndRename(path, next);
      warm_up.AwaitPublished(next, absl::Now(), "warm-up");
    }
  }
  void TearDown() override {
    const std::vector<std::string> lines = Scenario::Summary();
    if (lines.empty()) return;
    std::printf("\n=== watcher scenarios: time to converge per step\n");
    for (const std::string& line : lines) std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }
};
const ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new ScenarioEnvironment);

}  // namespace

std::string ValidatorName(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "WithValidator" : "NoValidator";
}

std::string Resources::ToString() const {
  return absl::StrCat(descriptors, " descriptors, ", inotify_watches, " inotify watches, ", threads,
                      " threads");
}

Resources MeasureResources() {
  Resources r;
  if (DIR* fds = ::opendir("/proc/self/fd")) {
    while (const struct dirent* entry = ::readdir(fds)) {
      if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
      ++r.descriptors;
      char target[256];
      const std::string link = absl::StrCat("/proc/self/fd/", entry->d_name);
      const ssize_t n = ::readlink(link.c_str(), target, sizeof(target) - 1);
      if (n <= 0 || std::string_view(target, static_cast<std::size_t>(n)) != "anon_inode:inotify") {
        continue;
      }
      std::ifstream info(absl::StrCat("/proc/self/fdinfo/", entry->d_name));
      for (std::string line; std::getline(info, line);) {
        if (line.rfind("inotify wd:", 0) == 0) ++r.inotify_watches;
      }
    }
    ::closedir(fds);
  }
  if (DIR* tasks = ::opendir("/proc/self/task")) {
    while (const struct dirent* entry = ::readdir(tasks)) {
      if (entry->d_name[0] != '.') ++r.threads;
    }
    ::closedir(tasks);
  }
  return r;
}

Scenario::Scenario(std::string name, ScenarioSetup setup)
    : name_(absl::StrCat(name, " [", FileFormatName(setup.format), ", ",
                         setup.validator ? "validator" : "no validator",
                         setup.polling ? ", polling" : "", "]")),
      setup_(setup),
      root_(RealPath(dir_.path())) {}

Scenario::~Scenario() { watcher_.reset(); }

std::string Scenario::NextFile() {
  std::string file = SelfCheckingFile(setup_.format, next_seq_++, setup_.body_lines);
  RecordWritten(file);
  return file;
}

void Scenario::RecordWritten(const std::string& bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  written_.insert(bytes);
}

bool Scenario::Watch(const std::string& path,
                     const std::function<void(Watcher::Options&)>& customize) {
  baseline_ = MeasureResources();
  Watcher::Options options;
  options.snapshot = &snapshot_;
  options.force_polling = setup_.polling;
  options.poll_interval = setup_.poll_interval;
  options.require_initial_load = setup_.require_initial_load;
  options.on_reload = [this](const rcu::ReloadResult& r) { OnReload(r); };
  if (setup_.validator) {
    options.validate = [](const ScenarioConfig& c) { return CheckSelfConsistent(c.raw); };
  }
  if (customize) customize(options);
  absl::StatusOr<std::unique_ptr<Watcher>> created =
      Watcher::Create(path, MakeParser(setup_.format), std::move(options));
  if (!created.ok()) {
    ADD_FAILURE() << name_ << ": Create() failed: " << created.status();
    return false;
  }
  watcher_ = *std::move(created);
  return true;
}

std::string Scenario::StartWatching(const std::string& relative,
                                    const std::function<void(Watcher::Options&)>& customize) {
  const std::string path = Path(relative);
  std::string dir = root_;
  for (absl::string_view part : absl::StrSplit(relative, '/', absl::SkipEmpty())) {
    dir = absl::StrCat(dir, "/", part);
    if (dir == path) break;  // every component but the file's name
    if (::access(dir.c_str(), F_OK) != 0) MakeDirectory(dir);
  }
  WriteInPlace(path, NextFile());
  return Watch(path, customize) ? path : "";
}

std::string Scenario::EditInPlace(const std::string& path, const std::string& step) {
  const std::string next = NextFile();
  WriteInPlace(path, next);
  return AwaitPublished(next, absl::Now(), step) ? next : "";
}

std::string Scenario::EditByRename(const std::string& path, const std::string& step) {
  const std::string next = NextFile();
  WriteAndRename(path, next);
  return AwaitPublished(next, absl::Now(), step) ? next : "";
}

void Scenario::OnReload(const rcu::ReloadResult& result) {
  const absl::Time now = absl::Now();
  std::string raw;
  std::uint64_t version = 0;
  if (result.outcome == rcu::ReloadResult::Outcome::kPublished) {
    // on_reload runs under the watcher's reload lock, right after the
    // publish, and only this watcher publishes: the snapshot holds it.
    auto handle = snapshot_.Load();
    version = handle.version();
    raw = handle->raw;
  }
  std::lock_guard<std::mutex> lock(mu_);
  switch (result.outcome) {
    case rcu::ReloadResult::Outcome::kPublished: {
      if (version != result.version) {
        violations_.push_back(absl::StrCat("on_reload says version ", result.version,
                                           " was published, the snapshot holds ", version));
      }
      const absl::Status consistent = CheckSelfConsistent(raw);
      if (written_.count(raw) == 0) {
        violations_.push_back(absl::StrCat(
            "published version ", version, " (", rcu::ReloadTriggerName(result.trigger),
            "), which is not a file that was written: ", Describe(raw),
            "; self-check: ", consistent.ToString()));
      } else if (!consistent.ok()) {
        violations_.push_back(absl::StrCat("published version ", version,
                                           " fails its self-check: ", consistent.ToString()));
      }
      const int seq = SequenceOf(raw);
      if (seq <= last_seq_) {
        violations_.push_back(absl::StrCat("published seq ", seq, " after seq ", last_seq_,
                                           ": versions went backwards"));
      }
      last_seq_ = std::max(last_seq_, seq);
      published_.push_back({version, std::move(raw), now, result.trigger});
      break;
    }
    case rcu::ReloadResult::Outcome::kFailed:
      failed_.push_back(result);
      break;
    case rcu::ReloadResult::Outcome::kUnchanged:
      break;
  }
  cv_.notify_all();
}

void Scenario::Note(const std::string& line) {
  steps_.push_back(line);
  std::printf("[scenario %s] %s\n", name_.c_str(), line.c_str());
  std::fflush(stdout);
}

bool Scenario::AwaitPublished(const std::string& bytes, absl::Time since, const std::string& step) {
  std::unique_lock<std::mutex> lock(mu_);
  absl::Time at;
  rcu::ReloadTrigger trigger = rcu::ReloadTrigger::kManual;
  const bool found = cv_.wait_for(lock, absl::ToChronoMilliseconds(kConvergeBound), [&] {
    for (const Publication& p : published_) {
      if (p.raw == bytes) {
        at = p.at;
        trigger = p.trigger;
        return true;
      }
    }
    return false;
  });
  lock.unlock();
  if (!found) {
    const std::string current = snapshot_.Load() ? snapshot_.Load()->raw : std::string();
    ADD_FAILURE() << name_ << ": step \"" << step << "\": " << Describe(bytes)
                  << " was not published within " << kConvergeBound
                  << ". Published now: " << Describe(current)
                  << ". Status: " << StatusLine(watcher_->Status());
    Note(absl::StrCat(step, ": NOT CONVERGED within ", absl::FormatDuration(kConvergeBound),
                      "; status: ", StatusLine(watcher_->Status())));
    return false;
  }
  const absl::Duration took = at - since;
  Note(absl::StrCat(
      step, ": live ",
      took >= absl::ZeroDuration()
          ? absl::StrCat(Milliseconds(took), " after the writer finished")
          : absl::StrCat("before the writer exited (", Milliseconds(-took), " earlier)"),
      " (", rcu::ReloadTriggerName(trigger), ")"));
  return true;
}

bool Scenario::AwaitFailure(const std::function<bool(const absl::Status&)>& match, absl::Time since,
                            const std::string& step) {
  std::unique_lock<std::mutex> lock(mu_);
  absl::Time at;
  absl::Status status;
  const bool found = cv_.wait_for(lock, absl::ToChronoMilliseconds(kConvergeBound), [&] {
    for (const rcu::ReloadResult& r : failed_) {
      if (r.time >= since && match(r.status)) {
        at = r.time;
        status = r.status;
        return true;
      }
    }
    return false;
  });
  lock.unlock();
  if (!found) {
    ADD_FAILURE() << name_ << ": step \"" << step << "\": the expected failure was not reported"
                  << " within " << kConvergeBound << ". Status: " << StatusLine(watcher_->Status());
    Note(absl::StrCat(step, ": expected failure NOT REPORTED"));
    return false;
  }
  Note(absl::StrCat(step, ": reported after ",
                    Milliseconds(std::max(at - since, absl::ZeroDuration())), ": ",
                    status.ToString()));
  return true;
}

bool Scenario::AwaitStatus(const std::function<bool(const rcu::WatcherStatus&)>& match,
                           const std::string& what) {
  rcu::WatcherStatus last;
  const bool ok = WaitUntil(
      [&] {
        last = watcher_->Status();
        return match(last);
      },
      kConvergeBound);
  if (!ok) {
    ADD_FAILURE() << name_ << ": Status() never showed " << what << ": " << StatusLine(last);
  }
  return ok;
}

bool Scenario::AwaitQuiet(absl::Duration quiet) {
  return AwaitStatus(
      [&](const rcu::WatcherStatus& st) { return absl::Now() - st.last_attempt_time >= quiet; },
      absl::StrCat("no reload attempt for ", absl::FormatDuration(quiet)));
}

int Scenario::failures() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(failed_.size());
}

void Scenario::Finish(const std::string& final_bytes, bool expect_polling) {
  ASSERT_NE(watcher_, nullptr);
  std::uint64_t last_version = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!published_.empty()) last_version = published_.back().version;
  }
  // Settled: the final content live, nothing pending that fails.
  AwaitStatus(
      [&](const rcu::WatcherStatus& s) {
        return s.last_status.ok() && s.version == last_version && s.polling == expect_polling;
      },
      absl::StrCat("OK at version ", last_version, " with polling ",
                   expect_polling ? "on" : "off"));
  EXPECT_EQ(snapshot_.Load()->raw, final_bytes)
      << name_ << ": final content differs: " << Describe(snapshot_.Load()->raw);
  const rcu::WatcherStatus status = watcher_->Status();
  std::vector<std::string> violations;
  std::vector<rcu::ReloadResult> failed;
  std::size_t published;
  {
    std::lock_guard<std::mutex> lock(mu_);
    violations = violations_;
    failed = failed_;
    published = published_.size();
  }
  EXPECT_EQ(status.reloads_published, published) << name_;
  EXPECT_EQ(status.reloads_failed, failed.size()) << name_;
  EXPECT_EQ(status.version, last_version) << name_;
  EXPECT_EQ(status.polling, expect_polling) << name_ << ": " << StatusLine(status);
  if (!expect_polling || setup_.polling) {
    EXPECT_TRUE(status.watch_status.ok()) << name_ << ": " << StatusLine(status);
  }
  for (const std::string& v : violations) ADD_FAILURE() << name_ << ": " << v;
  if (setup_.failure_allowed) {
    for (const rcu::ReloadResult& r : failed) {
      if (!setup_.failure_allowed(r.status)) {
        ADD_FAILURE() << name_ << ": a reload (" << rcu::ReloadTriggerName(r.trigger)
                      << ") failed in a way this scenario rules out: " << r.status;
      }
    }
  }
  if (setup_.no_failures) {
    for (const rcu::ReloadResult& r : failed) {
      ADD_FAILURE() << name_ << ": a reload failed, though the writer never exposed a missing, "
                    << "partial or invalid file: " << r.status;
    }
  }
  watcher_.reset();
  const Resources after = MeasureResources();
  EXPECT_EQ(after, baseline_) << name_ << ": before the watcher " << baseline_.ToString()
                              << ", after it " << after.ToString();
  std::vector<std::string> failures;
  for (const rcu::ReloadResult& r : failed) failures.push_back(r.status.ToString());
  const std::string summary = absl::StrCat(
      name_, ": ", absl::StrJoin(steps_, "; "), " | published ", published, ", failed ",
      failed.size(), violations.empty() ? "" : absl::StrCat(", VIOLATIONS ", violations.size()),
      after == baseline_ ? ", resources back to baseline" : ", RESOURCES LEAKED");
  Note(absl::StrCat("done: published ", published, " versions, ", failed.size(), " reloads failed",
                    failures.empty() ? "" : " (" + absl::StrJoin(failures, "; ") + ")", ", ",
                    violations.size(), " violations; ", after.ToString()));
  std::lock_guard<std::mutex> lock(summary_mu);
  SummaryLines().push_back(summary);
}

std::vector<std::string> Scenario::Summary() {
  std::lock_guard<std::mutex> lock(summary_mu);
  return SummaryLines();
}

}  // namespace rcu_test
