// bench/showcase_output.cc: the showcase's results folder, machine
// description and charts; see showcase_output.h.
#include "bench/showcase_output.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/utsname.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace rcu_bench {
namespace {

bool MakeDirs(const std::string& path) {
  for (std::size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string prefix = path.substr(0, slash);
    if (!prefix.empty() && mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) return false;
    if (slash == std::string::npos) return true;
  }
}

std::string Quote(const std::string& s) {
  std::string quoted = "'";
  for (char c : s) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string WorkspaceDir() {
  const char* dir = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  return dir != nullptr ? dir : "";
}

std::string FirstCpuinfo(const char* key) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      const std::size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

}  // namespace

std::string MakeResultsDir(const std::string& requested) {
  std::string dir = requested;
  if (dir.empty()) {
    char stamp[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(stamp, sizeof(stamp), "%Y-%m-%d_%H%M%S", std::localtime(&now));
    const std::string base = WorkspaceDir().empty() ? "." : WorkspaceDir();
    dir = base + "/bench-results/" + stamp;
  }
  if (!MakeDirs(dir + "/data") || !MakeDirs(dir + "/raw")) {
    std::fprintf(stderr, "showcase: cannot create the results folder %s\n", dir.c_str());
    return "";
  }
  return dir;
}

bool WriteFile(const std::string& path, const std::string& text) {
  const std::size_t slash = path.rfind('/');
  if (slash != std::string::npos && !MakeDirs(path.substr(0, slash))) return false;
  std::ofstream out(path);
  out << text;
  return static_cast<bool>(out);
}

std::string RunCommand(const std::string& command, int* status) {
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    if (status != nullptr) *status = -1;
    return output;
  }
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  const int rc = pclose(pipe);
  if (status != nullptr) *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  while (!output.empty() && output.back() == '\n') output.pop_back();
  return output;
}

bool HaveGnuplot() {
  int status = 0;
  const std::string terminals =
      RunCommand("echo 'set terminal' | gnuplot 2>&1 | grep -c pngcairo", &status);
  return status == 0 && terminals != "0" && !terminals.empty();
}

bool DrawChart(const std::string& dir, const std::string& name, const std::string& script) {
  const std::string script_path = dir + "/data/" + name + ".gp";
  const std::string full =
      "set terminal pngcairo size 900,540 font 'sans,11'\nset output '" + name + ".png'\n" + script;
  if (!WriteFile(script_path, full)) return false;
  std::remove((dir + "/" + name + ".png").c_str());
  int status = 0;
  const std::string errors = RunCommand(
      "cd " + Quote(dir) + " && gnuplot " + Quote("data/" + name + ".gp") + " 2>&1", &status);
  struct stat st;
  if (status != 0 || stat((dir + "/" + name + ".png").c_str(), &st) != 0 || st.st_size == 0) {
    std::fprintf(stderr, "showcase: gnuplot failed on %s: %s\n", script_path.c_str(),
                 errors.c_str());
    return false;
  }
  return true;
}

std::string CpuSummary() {
  return FirstCpuinfo("model name") + ", " + std::to_string(std::thread::hardware_concurrency()) +
         " cores";
}

std::string GitCommit() {
  const std::string dir = WorkspaceDir().empty() ? "." : WorkspaceDir();
  int status = 0;
  std::string commit =
      RunCommand("git -C " + Quote(dir) + " rev-parse --short=10 HEAD 2>/dev/null", &status);
  if (status != 0 || commit.empty()) return "unknown (not run from a git checkout)";
  const std::string dirty = RunCommand(
      "git -C " + Quote(dir) + " status --porcelain --untracked-files=no 2>/dev/null | head -1");
  return dirty.empty() ? commit : commit + " (with uncommitted changes)";
}

std::string MachineMarkdown() {
  std::ostringstream out;
  utsname name;
  const std::string kernel =
      uname(&name) == 0 ? std::string(name.sysname) + " " + name.release : "unknown";
  std::string urcu = RunCommand("pkg-config --modversion liburcu 2>/dev/null");
  if (urcu.empty()) {
    urcu = RunCommand("dpkg-query -W -f='${Version}' liburcu-dev 2>/dev/null");
  }
  std::ifstream loadavg_file("/proc/loadavg");
  std::string loadavg;
  std::getline(loadavg_file, loadavg);
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S %Z", std::localtime(&now));
  out << "- CPU: " << FirstCpuinfo("model name") << "\n"
      << "- cores (online): " << std::thread::hardware_concurrency() << "\n"
      << "- kernel: " << kernel << "\n"
      << "- load average at the end (1, 5, 15 min): " << loadavg << "\n"
      << "- compiler: "
#if defined(__clang__)
      << "clang "
#elif defined(__GNUC__)
      << "g++ "
#endif
      << __VERSION__ << "\n"
      << "- build: "
#if defined(__OPTIMIZE__) && defined(NDEBUG)
      << "optimized (-c opt: -O2 -DNDEBUG)"
#else
      << "NOT optimized (run with -c opt; these figures are not meaningful)"
#endif
      << "; the benchmark loops add -falign-loops=64 (bench/BUILD)"
      << "\n"
      << "- liburcu: " << (urcu.empty() ? "unknown" : urcu) << "\n"
      << "- git commit: " << GitCommit() << "\n"
      << "- date: " << date << "\n";
  return out.str();
}

}  // namespace rcu_bench
