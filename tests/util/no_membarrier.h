// Runs code as a process gets it where membarrier() is missing (an old
// kernel, or a container whose seccomp profile refuses it): liburcu and
// rcu::Domain then fall back to full fences on the read side, a path no
// ordinary run of the tests takes on a modern kernel.
//
//   TEST(FencedTest, Parent) {
//     if (rcu_test::InProcessWithoutMembarrier()) GTEST_SKIP();
//     const int status = rcu_test::RunTestsWithoutMembarrier("FencedChild.*");
//     EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
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

// Runs this test binary again with --gtest_filter=`gtest_filter`, in a
// child process where membarrier() is refused and kNoMembarrierEnv is set,
// and returns the child's wait status once it has ended (its output goes
// where this process's goes). The child does not write this process's
// result files. Exit status kFilterRefused: the kernel refused the seccomp
// filter (no CONFIG_SECCOMP_FILTER, or a sandbox that forbids filters), so
// the fenced path cannot be run here; 4: exec failed.
inline constexpr int kFilterRefused = 3;
inline int RunTestsWithoutMembarrier(const std::string& gtest_filter) {
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
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (!RefuseMembarrier()) _exit(kFilterRefused);
    execve(exe, argv, envp.data());
    _exit(4);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) != pid) {
    if (errno != EINTR) return -1;
  }
  return status;
}

}  // namespace rcu_test

#endif  // RCU_TESTS_UTIL_NO_MEMBARRIER_H_
