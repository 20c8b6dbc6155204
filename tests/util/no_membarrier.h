// Runs code as a process gets it where membarrier() is missing (an old
// kernel, or a container whose seccomp profile refuses it): liburcu and
// rcu::Domain then fall back to full fences on the read side, a path no
// ordinary run of the tests takes on a modern kernel.
//
//   TEST(FencedTest, Parent) {
//     if (rcu_test::InProcessWithoutMembarrier()) GTEST_SKIP();
//     const rcu_test::ChildOutcome child = rcu_test::RunTestsWithoutMembarrier("FencedChild.*");
//     if (child.filter_refused) GTEST_SKIP() << child.why;
//     EXPECT_TRUE(child.passed) << child.why;
//   }
//   TEST(FencedChild, Something) {
//     if (!rcu_test::InProcessWithoutMembarrier()) GTEST_SKIP();
//     ...
//   }
#ifndef RCU_TESTS_UTIL_NO_MEMBARRIER_H_
#define RCU_TESTS_UTIL_NO_MEMBARRIER_H_

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

namespace rcu_test {

// Set (to "1") in the environment of a process that RunTestsWithoutMembarrier
// started.
inline constexpr const char* kNoMembarrierEnv = "RCU_TEST_NO_MEMBARRIER";

inline bool InProcessWithoutMembarrier() { return std::getenv(kNoMembarrierEnv) != nullptr; }

// From now on, in this process and in every program it executes, the
// membarrier() system call fails with ENOSYS (a seccomp filter, with no new
// privileges). Returns false, errno set, if the kernel refused the filter.
// Only for a process that has not used RCU yet: liburcu decides once.
inline bool RefuseMembarrier() {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_membarrier, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog program = {static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])),
                               filter};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

// What became of the child RunTestsWithoutMembarrier() started.
struct ChildOutcome {
  bool passed = false;          // it ran and every test passed
  bool filter_refused = false;  // the kernel refused the seccomp filter (no
                                // CONFIG_SECCOMP_FILTER, or a sandbox that
                                // forbids filters): nothing could be run
  std::string why;              // for a failure or a refusal
};

// Runs this test binary again with --gtest_filter=`gtest_filter`, in a
// child process where membarrier() is refused and kNoMembarrierEnv is set,
// and says how it ended (its output goes where this process's goes). The
// child does not write this process's result files.
inline ChildOutcome RunTestsWithoutMembarrier(const std::string& gtest_filter) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    if (entry.rfind("TEST_PREMATURE_EXIT_FILE=", 0) == 0 ||
        entry.rfind("XML_OUTPUT_FILE=", 0) == 0 || entry.rfind("GTEST_OUTPUT=", 0) == 0) {
      continue;
    }
    env_strings.push_back(entry);
  }
  env_strings.push_back(std::string(kNoMembarrierEnv) + "=1");
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string filter = "--gtest_filter=" + gtest_filter;
  char exe[] = "/proc/self/exe";
  char* argv[] = {exe, filter.data(), nullptr};
  constexpr int kFilterRefused = 3, kExecFailed = 4;
  ChildOutcome outcome;
  const pid_t pid = fork();
  if (pid < 0) {
    outcome.why = "fork() failed";
    return outcome;
  }
  if (pid == 0) {
    if (!RefuseMembarrier()) _exit(kFilterRefused);
    execve(exe, argv, envp.data());
    _exit(kExecFailed);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) != pid) {
    if (errno != EINTR) {
      outcome.why = "waitpid() failed";
      return outcome;
    }
  }
  if (!WIFEXITED(status)) {
    outcome.why = "the child died: wait status " + std::to_string(status);
  } else if (WEXITSTATUS(status) == kFilterRefused) {
    outcome.filter_refused = true;
    outcome.why =
        "the kernel refused the seccomp filter that refuses membarrier(): the fenced path "
        "cannot be run here";
  } else if (WEXITSTATUS(status) == kExecFailed) {
    outcome.why = "the child could not execute /proc/self/exe";
  } else {
    outcome.passed = WEXITSTATUS(status) == 0;
    outcome.why = "the child failed (its output is above)";
  }
  return outcome;
}

}  // namespace rcu_test

#endif  // RCU_TESTS_UTIL_NO_MEMBARRIER_H_
