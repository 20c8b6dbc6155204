// Shared helpers for the reviewer's reproductions.
#ifndef TESTS_ATTACKS_UTIL_H_
#define TESTS_ATTACKS_UTIL_H_

#include <signal.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace review {

inline pid_t Gettid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

inline void DumpStacks(pid_t pid) {
  const std::string command = "command -v gdb >/dev/null && timeout 60 gdb -p " +
                              std::to_string(pid) +
                              " -batch -nx -ex 'thread apply all bt' 2>/dev/null 1>&2";
  if (std::system(command.c_str()) != 0) std::fprintf(stderr, "(no gdb stacks)\n");
}

// Waits for `pid` up to `seconds`; on timeout dumps stacks (if `dump`), kills
// it and returns -1. Otherwise returns the wait status.
inline int WaitChild(pid_t pid, int seconds, bool dump = true) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -2;
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "HANG: pid %d still running after %d s\n", (int)pid, seconds);
      if (dump) DumpStacks(pid);
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

inline std::string DescribeStatus(int status) {
  if (status == -1) return "HANG";
  if (status == -2) return "waitpid error";
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "?";
}

inline int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

}  // namespace review

#endif  // TESTS_ATTACKS_UTIL_H_
