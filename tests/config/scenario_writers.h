// The writers the watcher scenarios drive: real programs (vim, sed, cp, mv,
// rsync, ln, a shell) run as child processes, and exact replays of the
// syscall sequences of writers that are not installed (emacs) or that are
// not programs (Kubernetes' AtomicWriter).
//
// Pauses inside a writer (a slow `render > f`, a line-by-line writer) are
// the writer's own pace: they make the writer slower than the watcher's
// debounce delay, as real ones are. No test waits for the watcher by
// sleeping.
#ifndef TESTS_CONFIG_SCENARIO_WRITERS_H_
#define TESTS_CONFIG_SCENARIO_WRITERS_H_

#include <map>
#include <string>
#include <vector>

namespace rcu_test {

// The full path of `name` found in $PATH, or "" if there is none.
std::string FindProgram(const std::string& name);

// Runs `argv` (argv[0] looked up in $PATH) with stdin from /dev/null and
// waits for it. Returns its exit status, or -1 if it could not run or was
// killed (and says so on stderr).
int RunProgram(const std::vector<std::string>& argv);

// Runs `script` with /bin/sh -c; `args` become $1, $2...
int RunShell(const std::string& script, const std::vector<std::string>& args = {});

// Writes `contents` to `path` (open O_TRUNC, write, close): for staging
// source files outside the watched directories.
void StageFile(const std::string& path, const std::string& contents);

// Real vim (vim.tiny, else vim), headless: opens `path`, replaces the whole
// buffer with the contents of `source`, and writes with 'backupcopy' set to
// `backupcopy` ("yes", "no" or "auto"). 'backupskip' is cleared so that the
// backup is made wherever the file lives ($TMPDIR is skipped by default).
// Returns false if vim failed.
bool VimSave(const std::string& vim, const std::string& path, const std::string& source,
             const std::string& backupcopy);

// GNU Emacs 28's save, replayed (emacs is not installed: about 100 MB). Its
// lock file `.#name` (a symlink) is made when the buffer is modified and
// removed after the save. The first save of a session backs the file up by
// renaming it to `name~` and writes a new file (then restores its mode);
// later saves truncate and rewrite the file in place. Each write is
// followed by fsync.
void EmacsSave(const std::string& path, const std::string& contents, bool first_save);

// Kubernetes' AtomicWriter (pkg/volume/util/atomic_writer.go, as of 1.27),
// replayed step by step on a volume directory. Each Write():
//   1. reads `..data` to find the current timestamped directory;
//   2. if there is one, lists the paths to remove and compares contents, and
//      does nothing if nothing changed;
//   3. makes `..YYYY_MM_DD_HH_MM_SS.NNNNNNNNN` (mode 0755) and writes every
//      file into it (open O_TRUNC, write, close, chmod);
//   4. makes the symlink `..data_tmp` to it and renames it over `..data`;
//   5. makes the user-visible symlink `key -> ..data/key` for every key
//      that has none;
//   6. removes the user-visible symlinks of keys no longer in the payload;
//   7. removes the old timestamped directory.
class AtomicWriter {
 public:
  explicit AtomicWriter(std::string dir) : dir_(std::move(dir)) {}
  void Write(const std::map<std::string, std::string>& payload);

 private:
  std::string dir_;
};

}  // namespace rcu_test

#endif  // TESTS_CONFIG_SCENARIO_WRITERS_H_
