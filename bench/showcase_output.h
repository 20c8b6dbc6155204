// bench/showcase_output.h: what //bench:showcase writes besides the console:
// its results folder, the machine it ran on, and gnuplot charts.
//
//   std::string dir = rcu_bench::MakeResultsDir(flag_out);  // "" on failure
//   rcu_bench::WriteFile(dir + "/data/read.dat", table_text);
//   bool drawn = rcu_bench::DrawChart(dir, "read_side", gnuplot_script);
//   std::string machine = rcu_bench::MachineMarkdown();
#ifndef BENCH_SHOWCASE_OUTPUT_H_
#define BENCH_SHOWCASE_OUTPUT_H_

#include <string>

namespace rcu_bench {

// Creates the results folder: `requested` if not empty, else
// bench-results/<date>_<time>/ under the workspace (BUILD_WORKSPACE_DIRECTORY,
// set by `bazel run`) or under the current directory. Returns its path, or
// "" (with a message on stderr) if it could not be created.
std::string MakeResultsDir(const std::string& requested);

// Writes `text` to `path`, creating its parent folder. False on failure.
bool WriteFile(const std::string& path, const std::string& text);

// Whether gnuplot (with the pngcairo terminal) can draw here.
bool HaveGnuplot();

// Runs `script` (gnuplot commands; data paths relative to `dir`) with
// `dir` as the working directory after setting the output to
// `dir`/`name`.png; keeps the script as `dir`/data/`name`.gp. False, with a
// message on stderr, if gnuplot failed or wrote no PNG.
bool DrawChart(const std::string& dir, const std::string& name, const std::string& script);

// Runs `command` through the shell and returns its stdout, trailing
// newlines removed ("" if it could not run). `status` gets its exit status.
std::string RunCommand(const std::string& command, int* status = nullptr);

// A Markdown list of the machine and build: CPU model, cores, kernel, load
// average, compiler and flags, liburcu version, git commit, date.
std::string MachineMarkdown();

// "<CPU model>, <n> cores" and "<commit>" for one-line summaries.
std::string CpuSummary();
std::string GitCommit();

}  // namespace rcu_bench

#endif  // BENCH_SHOWCASE_OUTPUT_H_
