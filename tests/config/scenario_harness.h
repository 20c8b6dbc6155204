// The harness of the watcher scenarios (watch_scenarios_test.cc): runs one
// rcu::ConfigWatcher over a private directory while a scenario changes files
// in it, and checks what the watcher did.
//
//   Scenario s("sed -i", {FileFormat::kJson, /*validator=*/true});
//   const std::string path = s.Path("etc/app.json");
//   ...create the file: s.NextFile() returns a new self-checking file and
//   records it as written...
//   ASSERT_TRUE(s.Watch(path));
//   const std::string next = s.NextFile();
//   const absl::Time done = ...run the writer, then absl::Now()...
//   s.AwaitPublished(next, done, "edit 1");      // prints time to converge
//   s.Finish(next);
//
// Checks, with messages that say what went wrong:
//  - every published version is byte for byte a complete file that the
//    scenario wrote (recorded before writing), self-consistent
//    (scenario_files.h), and newer than the one before;
//  - each step's content is published within kConvergeBound, and the time
//    it took is printed (and listed again at the end of the run);
//  - Status() agrees: the last status OK once settled, the version, the
//    counters, polling as expected;
//  - with no_failures, no reload ever failed (no partial file was read);
//  - descriptors, inotify watches and threads are back to what they were
//    before the watcher was made.
#ifndef TESTS_CONFIG_SCENARIO_HARNESS_H_
#define TESTS_CONFIG_SCENARIO_HARNESS_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "containers/config/config_watcher.h"
#include "containers/snapshot.h"
#include "gtest/gtest.h"
#include "tests/config/scenario_files.h"
#include "tests/config/watch_test_util.h"

namespace rcu_test {

// How long any one step may take to be published. Generous: a loaded
// 2-core machine, sanitizers. Reached only when something is broken.
inline constexpr absl::Duration kConvergeBound = absl::Seconds(30);

// What scenarios publish: the file's bytes, once its format parsed them.
struct ScenarioConfig {
  std::string raw;
};

struct ScenarioSetup {
  FileFormat format = FileFormat::kJson;
  // Run the self-check (CheckSelfConsistent) as the validation hook. Without
  // it, anything that parses is published, as with the one-line set-ups.
  bool validator = false;
  // WatchOptions::force_polling, with this poll interval.
  bool polling = false;
  absl::Duration poll_interval = absl::Milliseconds(100);
  // No reload may fail: the writer never exposes a missing, partial or
  // invalid file, so a failure means the watcher read one.
  bool no_failures = false;
  // If set, the only failures allowed: any other is reported.
  std::function<bool(const absl::Status&)> failure_allowed;
  // WatchOptions::require_initial_load.
  bool require_initial_load = true;
  // Lines of body per file (about 52 bytes each).
  std::size_t body_lines = 8;
};

// Open descriptors, inotify watches and threads of this process.
struct Resources {
  int descriptors = 0;
  int inotify_watches = 0;
  int threads = 0;
  std::string ToString() const;
  friend bool operator==(const Resources& a, const Resources& b) {
    return a.descriptors == b.descriptors && a.inotify_watches == b.inotify_watches &&
           a.threads == b.threads;
  }
};
Resources MeasureResources();

// A test fixture for scenarios that run with and without a validation hook:
//
//   class MyScenario : public ValidatorParameterized {};
//   INSTANTIATE_TEST_SUITE_P(Validator, MyScenario, ::testing::Bool(), ValidatorName);
class ValidatorParameterized : public ::testing::TestWithParam<bool> {
 protected:
  ScenarioSetup Configured(FileFormat format = FileFormat::kJson) const {
    ScenarioSetup setup;
    setup.format = format;
    setup.validator = GetParam();
    return setup;
  }
};
std::string ValidatorName(const ::testing::TestParamInfo<bool>& info);

class Scenario {
 public:
  using Watcher = rcu::ConfigWatcher<ScenarioConfig>;

  Scenario(std::string name, ScenarioSetup setup);
  ~Scenario();
  Scenario(const Scenario&) = delete;
  Scenario& operator=(const Scenario&) = delete;

  // Paths inside the scenario's private directory (free of symlinks).
  std::string Path(const std::string& relative) const { return root_ + "/" + relative; }
  const ScenarioSetup& setup() const { return setup_; }

  // A new self-checking file (the next sequence number), recorded as
  // written.
  std::string NextFile();
  // Records `bytes` as a complete file that a step writes. Call it before
  // the step.
  void RecordWritten(const std::string& bytes);

  // Creates the watcher on `path` with `customize` applied to the options.
  // Measures the resource baseline first. False (and a test failure) if
  // Create() fails.
  bool Watch(const std::string& path,
             const std::function<void(Watcher::Options&)>& customize = nullptr);
  Watcher& watcher() { return *watcher_; }

  // The usual start: makes the directories of `relative` (as mkdir -p),
  // writes a first file there, and watches it. Returns its absolute path,
  // or "" (and a test failure) if the watcher could not be made.
  std::string StartWatching(const std::string& relative,
                            const std::function<void(Watcher::Options&)>& customize = nullptr);
  // The usual edit: writes the next file into `path` in place and waits for
  // it to be published. Returns its bytes, or "" if it was not published.
  std::string EditInPlace(const std::string& path, const std::string& step);
  // The same, writing a temporary file and renaming it over `path`.
  std::string EditByRename(const std::string& path, const std::string& step);

  // Waits until `bytes` is the published content; prints the time from
  // `since` (normally: when the writer finished) to its publication, under
  // `step`. False (and a test failure) if it is not published within
  // kConvergeBound.
  bool AwaitPublished(const std::string& bytes, absl::Time since, const std::string& step);

  // Waits until a reload fails with a status for which `match` is true
  // (after `since`), and prints how long that took. For steps whose point
  // is a failure: the file deleted, unreadable, not a regular file.
  bool AwaitFailure(const std::function<bool(const absl::Status&)>& match, absl::Time since,
                    const std::string& step);

  // Waits until the watcher has made no reload attempt for `quiet`: nothing
  // it scheduled is still pending. For steps that must be seen by the events
  // they cause alone.
  bool AwaitQuiet(absl::Duration quiet);

  // Waits until Status() satisfies `match`.
  bool AwaitStatus(const std::function<bool(const rcu::WatcherStatus&)>& match,
                   const std::string& what);

  // Checks that the watcher settles with `final_bytes` published, checks
  // Status(), destroys the watcher, checks resources, and prints a summary.
  // `expect_polling` is what Status().polling must say.
  void Finish(const std::string& final_bytes, bool expect_polling = false);

  // How many reloads failed so far.
  int failures() const;

  // The test released resources of its own that were counted in the
  // baseline (say, inotify instances it held to use up a limit).
  void ReleasedFromBaseline(int descriptors, int inotify_watches) {
    baseline_.descriptors -= descriptors;
    baseline_.inotify_watches -= inotify_watches;
  }

  // Every step's time to converge, for the summary printed at exit.
  static std::vector<std::string> Summary();

 private:
  struct Publication {
    std::uint64_t version;
    std::string raw;
    absl::Time at;
    rcu::ReloadTrigger trigger;
  };
  void OnReload(const rcu::ReloadResult& result);
  void Note(const std::string& line);

  const std::string name_;
  const ScenarioSetup setup_;
  TempDir dir_;
  const std::string root_;
  int next_seq_ = 1;
  Resources baseline_;
  rcu::Snapshot<ScenarioConfig> snapshot_;
  std::unique_ptr<Watcher> watcher_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> written_;          // guarded by mu_
  std::vector<Publication> published_;     // guarded by mu_
  std::vector<rcu::ReloadResult> failed_;  // guarded by mu_
  std::vector<std::string> violations_;    // guarded by mu_
  int last_seq_ = -1;                      // guarded by mu_
  std::vector<std::string> steps_;         // this scenario's timings
};

}  // namespace rcu_test

#endif  // TESTS_CONFIG_SCENARIO_HARNESS_H_
