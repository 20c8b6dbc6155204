#include "tests/config/watch_test_util.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace rcu_test {
namespace {

std::string Dirname(const std::string& path) { return path.substr(0, path.rfind('/')); }
std::string Basename(const std::string& path) { return path.substr(path.rfind('/') + 1); }

}  // namespace

void SetupOrDie(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "test setup failed: %s: %s\n", what.c_str(), std::strerror(errno));
    std::abort();
  }
}

void WriteAll(int fd, const std::string& contents, const std::string& what) {
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    SetupOrDie(n > 0, "write " + what);
    done += static_cast<std::size_t>(n);
  }
}

TempDir::TempDir()
    : TempDir([] {
        const char* base = std::getenv("TEST_TMPDIR");
        return std::string(base != nullptr ? base : "/tmp");
      }()) {}

TempDir::TempDir(const std::string& base) {
  std::string pattern = absl::StrCat(base, "/config_test.XXXXXX");
  SetupOrDie(::mkdtemp(pattern.data()) != nullptr, "mkdtemp " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() { RemoveTree(path_); }

void WriteInPlace(const std::string& path, const std::string& contents) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  SetupOrDie(fd >= 0, "open " + path);
  WriteAll(fd, contents, path);
  SetupOrDie(::close(fd) == 0, "close " + path);
}

void WriteAndRename(const std::string& path, const std::string& contents) {
  const std::string temp = Dirname(path) + "/." + Basename(path) + ".tmp";
  WriteInPlace(temp, contents);
  SetupOrDie(::rename(temp.c_str(), path.c_str()) == 0, "rename " + temp);
}

std::string ReadWholeFile(const std::string& path) {
  std::string bytes;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return bytes;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    bytes.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return bytes;
}

void MakeDirectory(const std::string& path) {
  SetupOrDie(::mkdir(path.c_str(), 0755) == 0, "mkdir " + path);
}

void MakeSymlink(const std::string& target, const std::string& link) {
  SetupOrDie(::symlink(target.c_str(), link.c_str()) == 0, "symlink " + link);
}

void RemoveFile(const std::string& path) {
  SetupOrDie(::unlink(path.c_str()) == 0, "unlink " + path);
}

void RemoveTree(const std::string& path) {
  // Test directories are shallow; a shell keeps this short and handles
  // modes that forbid listing.
  const std::string command =
      absl::StrCat("chmod -R u+rwx '", path, "' 2>/dev/null; rm -rf '", path, "'");
  if (std::system(command.c_str()) != 0)
    std::fprintf(stderr, "could not remove %s\n", path.c_str());
}

ConfigMapVolume::ConfigMapVolume(std::string dir, std::string name, const std::string& contents)
    : dir_(std::move(dir)), name_(std::move(name)) {
  const std::string data_dir = absl::StrCat("..gen_", ++generation_);
  MakeDirectory(dir_ + "/" + data_dir);
  WriteInPlace(dir_ + "/" + data_dir + "/" + name_, contents);
  MakeSymlink(data_dir, dir_ + "/..data");
  MakeSymlink("..data/" + name_, dir_ + "/" + name_);
}

void ConfigMapVolume::Update(const std::string& contents) {
  const std::string old_dir = absl::StrCat(dir_, "/..gen_", generation_);
  const std::string data_dir = absl::StrCat("..gen_", ++generation_);
  MakeDirectory(dir_ + "/" + data_dir);
  WriteInPlace(dir_ + "/" + data_dir + "/" + name_, contents);
  MakeSymlink(data_dir, dir_ + "/..data_tmp");
  SetupOrDie(::rename((dir_ + "/..data_tmp").c_str(), (dir_ + "/..data").c_str()) == 0,
             "rename ..data_tmp");
  RemoveTree(old_dir);
}

std::function<void(const rcu::ReloadResult&)> ReloadLog::Listener() {
  return [this](const rcu::ReloadResult& result) {
    std::lock_guard<std::mutex> lock(mu_);
    results_.push_back(result);
    cv_.notify_all();
  };
}

int ReloadLog::WaitFor(const std::function<bool(const rcu::ReloadResult&)>& match, int from) {
  std::unique_lock<std::mutex> lock(mu_);
  int found = -1;
  cv_.wait_for(lock, absl::ToChronoSeconds(kTimeout), [&] {
    for (int i = from; i < static_cast<int>(results_.size()); ++i) {
      if (match(results_[i])) {
        found = i;
        return true;
      }
    }
    return false;
  });
  return found;
}

std::vector<rcu::ReloadResult> ReloadLog::results() const {
  std::lock_guard<std::mutex> lock(mu_);
  return results_;
}

int ReloadLog::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(results_.size());
}

bool RunWithoutFilePermissionOverride(const std::function<void()>& fn) {
  bool dropped = false;
  std::thread thread([&] {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {};
    if (::syscall(SYS_capget, &header, data) != 0) return;
    // Raw syscalls: glibc's wrappers would apply the change to every thread.
    data[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH));
    if (::syscall(SYS_capset, &header, data) != 0) return;
    dropped = true;
    fn();
  });
  thread.join();
  return dropped;
}

bool WaitUntil(const std::function<bool()>& condition, absl::Duration bound) {
  const absl::Time deadline = absl::Now() + bound;
  absl::Duration backoff = absl::Microseconds(200);
  for (;;) {
    if (condition()) return true;
    if (absl::Now() > deadline) return false;
    absl::SleepFor(backoff);  // then look again: a bounded wait for the condition
    backoff = std::min(backoff * 2, absl::Milliseconds(10));
  }
}

bool CannotRead(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;
  ::close(fd);
  return false;
}

}  // namespace rcu_test
