// bench/showcase.cc: the RCU core and rcu::HashMap against their peers, in
// about a minute, written up as a report with charts.
//
// Suites (--suites=a,b,...; all by default):
//  read       read side at 1 and 2 threads: rcu::ReadGuard enter+exit, and
//             with one RcuPtr::Dereference, against raw inlined liburcu,
//             std::shared_mutex and a textbook RCU whose readers share one
//             counter (bench/naive_rcu_peer.h); CPU ns per section, median
//             of 3 runs
//  sync       rcu::Synchronize() latency with 2 idle registered readers
//             against raw synchronize_rcu()
//  retire     rcu::Retire() throughput from one thread against raw call_rcu()
//             and delete
//  storm      a retire storm while a slow reader holds up grace periods:
//             memory over time, against raw call_rcu()
//  maps       lookups per second by map and table size, and one reader kept
//             beside a writer (bench/showcase_maps.h)
//  crossbeam  Rust's crossbeam-epoch: pin()+unpin at 1 and 2 threads, a
//             nested pin, defer_destroy throughput (bench/crossbeam/run.sh,
//             built offline with Debian's rustc; skipped, saying why, when
//             the toolchain is missing)
//
// Writes a results folder, named at the end: report.md (the tables and the
// machine), PNG charts drawn by gnuplot, data/ (the charts' data and
// scripts) and raw/ (Google Benchmark's JSON, one file per suite). Every
// number is measured in this run; ratios compare peers that ran moments
// apart, which is what holds up on a busy 2-core machine.
//
//   tools/bazel run -c opt //bench:showcase
//   tools/bazel run -c opt //bench:showcase -- --suites=read,maps --out=/tmp/r
//   tools/bazel run -c opt //bench:showcase -- --smoke   # seconds; checks it runs
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bench/core_benchmarks.h"
#include "bench/median_reporter.h"
#include "bench/libcds_peer.h"
#include "bench/showcase_maps.h"
#include "bench/showcase_output.h"
#include "benchmark/benchmark.h"

namespace {

using Run = benchmark::BenchmarkReporter::Run;
using rcu_bench::CounterValue;
using rcu_bench::CpuNsPerIteration;

// --- Flags ---------------------------------------------------------------------

struct Flags {
  std::string out;
  bool smoke = false;
  std::vector<std::string> suites = {"read", "sync", "retire", "storm", "maps", "crossbeam"};
  bool Has(const std::string& suite) const {
    for (const std::string& s : suites) {
      if (s == suite) return true;
    }
    return false;
  }
};

std::vector<std::string> Split(const std::string& list) {
  std::vector<std::string> parts;
  std::stringstream in(list);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

// Takes the showcase's own flags out of argv; leaves Google Benchmark's.
bool ParseFlags(int* argc, char** argv, Flags* flags) {
  int kept = 1;
  for (int i = 1; i < *argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--out=", 0) == 0) {
      flags->out = arg.substr(6);
    } else if (arg == "--smoke") {
      flags->smoke = true;
    } else if (arg.rfind("--suites=", 0) == 0) {
      flags->suites = Split(arg.substr(9));
      for (const std::string& s : flags->suites) {
        if (s != "read" && s != "sync" && s != "retire" && s != "storm" && s != "maps" &&
            s != "crossbeam") {
          std::fprintf(stderr, "showcase: unknown suite '%s'\n", s.c_str());
          return false;
        }
      }
    } else if (arg == "--help") {
      std::printf(
          "showcase [--suites=read,sync,retire,storm,maps,crossbeam] [--out=DIR] [--smoke]\n"
          "         [Google Benchmark flags]\n");
      return false;
    } else {
      argv[kept++] = argv[i];
    }
  }
  *argc = kept;
  return true;
}

// --- Progress, results and raw JSON --------------------------------------------

// Keeps every result (medians of repetitions) in a quiet MedianReporter,
// passes each to a JSON reporter writing the suite's raw file, and prints a
// progress line per benchmark: "[suite k/n] j/m measured NAME".
class ShowcaseReporter : public benchmark::BenchmarkReporter {
 public:
  void StartSuite(const std::string& label, int index, int count, int benchmarks,
                  std::ostream* json) {
    label_ = label;
    index_ = index;
    count_ = count;
    expected_ = benchmarks;
    done_ = 0;
    json_ = std::make_unique<benchmark::JSONReporter>();
    json_->SetOutputStream(json);
    json_->SetErrorStream(&std::cerr);
    std::fprintf(stderr, "[%d/%d] %s: %d benchmarks\n", index_, count_, label_.c_str(), expected_);
  }
  void EndSuite() {
    if (json_ != nullptr) json_->Finalize();
    json_.reset();
  }

  bool ReportContext(const Context& context) override {
    if (json_ != nullptr) json_->ReportContext(context);
    return true;
  }
  void ReportRuns(const std::vector<Run>& runs) override {
    results_.ReportRuns(runs);
    if (json_ != nullptr) json_->ReportRuns(runs);
    if (runs.empty()) return;
    ++done_;
    std::fprintf(stderr, "[%d/%d] %s: %d of %d measured %s%s\n", index_, count_, label_.c_str(),
                 done_, expected_, runs.front().run_name.str().c_str(),
                 runs.front().error_occurred ? " (error)" : "");
  }

  const rcu_bench::MedianReporter& results() const { return results_; }

 private:
  rcu_bench::MedianReporter results_;
  std::unique_ptr<benchmark::JSONReporter> json_;
  std::string label_;
  int index_ = 0, count_ = 0, expected_ = 0, done_ = 0;
};

// --- Tables ----------------------------------------------------------------------

std::string Fixed(double value, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", digits, value);
  return buffer;
}

// "12.34", or "n/a" when missing.
std::string Cell(const Run* run, double (*value)(const Run&), int digits) {
  return run == nullptr ? "n/a" : Fixed(value(*run), digits);
}

double MedianUs(const Run& run) { return CounterValue(run, "median_us"); }
double P99Us(const Run& run) { return CounterValue(run, "p99_us"); }
double MPerSecond(const Run& run) { return CounterValue(run, "items_per_second") / 1e6; }
double PeakRssGrowthMiB(const Run& run) { return CounterValue(run, "peak_rss_growth_MiB"); }
double MaxPending(const Run& run) { return CounterValue(run, "max_pending"); }
double Seconds(const Run& run) { return run.real_accumulated_time; }

// The one ratio convention of every table: how many times faster rcu is
// than the peer: peer cost / rcu cost, or rcu rate / peer rate. Above 1:
// rcu is faster; below 1: the peer is.
std::string Advantage(double ratio) {
  return ratio > 0 ? Fixed(ratio, ratio < 10 ? 2 : 1) + "x" : "n/a";
}

// crossbeam-epoch's figures: name -> threads -> value.
using CrossbeamResults = std::map<std::string, std::map<int, double>>;

const double* CrossbeamValue(const CrossbeamResults& results, const std::string& name,
                             int threads) {
  auto it = results.find(name);
  if (it == results.end()) return nullptr;
  auto jt = it->second.find(threads);
  return jt == it->second.end() ? nullptr : &jt->second;
}

struct Report {
  std::string markdown;  // tables, in report order
  std::string summary;   // the summary table alone
};

// A Markdown table row.
std::string Row(const std::vector<std::string>& cells) {
  std::string row = "|";
  for (const std::string& cell : cells) row += " " + cell + " |";
  return row + "\n";
}

struct ReadRow {
  const char* label;
  const char* name;
};

const ReadRow kEnterExitRows[] = {
    {"`rcu::ReadGuard`", rcu_bench::kEnterExitReadGuard},
    {"raw liburcu, inlined", rcu_bench::kEnterExitRawUrcu},
    {"`std::shared_mutex` (shared)", rcu_bench::kEnterExitSharedMutex},
    {"textbook RCU, one shared counter", rcu_bench::kEnterExitNaive},
};
const ReadRow kDerefRows[] = {
    {"`ReadGuard` + `Dereference`", rcu_bench::kDerefReadGuard},
    {"raw lock + `rcu_dereference`", rcu_bench::kDerefRawUrcu},
    {"`shared_mutex` + load", rcu_bench::kDerefSharedMutex},
};

void ReadTables(const rcu_bench::MedianReporter& r, const CrossbeamResults& crossbeam,
                const std::string& crossbeam_note, std::string* out) {
  *out +=
      "## Read side\n\nCPU ns per read-side section, per thread (median of 3 runs; lower is "
      "better). Faster: how many times cheaper `rcu::ReadGuard` is than the row "
      "(row cost / ReadGuard cost).\n\n";
  *out += Row({"enter + exit", "1 thread", "2 threads", "ReadGuard faster (1 / 2 threads)"});
  *out += "|---|---|---|---|\n";
  auto ratio = [&](const Run* ours, double peer) {
    return ours == nullptr || peer <= 0 ? std::string("n/a")
                                        : Advantage(peer / CpuNsPerIteration(*ours));
  };
  for (const ReadRow& row : kEnterExitRows) {
    const Run* one = r.Find(row.name, 1);
    const Run* two = r.Find(row.name, 2);
    *out += Row(
        {row.label, Cell(one, &CpuNsPerIteration, 2), Cell(two, &CpuNsPerIteration, 2),
         ratio(r.Find(rcu_bench::kEnterExitReadGuard, 1), one ? CpuNsPerIteration(*one) : 0) +
             " / " +
             ratio(r.Find(rcu_bench::kEnterExitReadGuard, 2), two ? CpuNsPerIteration(*two) : 0)});
  }
  const double* pin1 = CrossbeamValue(crossbeam, "pin_unpin", 1);
  const double* pin2 = CrossbeamValue(crossbeam, "pin_unpin", 2);
  const double* nested = CrossbeamValue(crossbeam, "nested_pin", 1);
  if (pin1 != nullptr && pin2 != nullptr) {
    *out += Row({"crossbeam-epoch `pin()` + unpin (wall ns)", Fixed(*pin1, 2), Fixed(*pin2, 2),
                 ratio(r.Find(rcu_bench::kEnterExitReadGuard, 1), *pin1) + " / " +
                     ratio(r.Find(rcu_bench::kEnterExitReadGuard, 2), *pin2)});
  }
  if (nested != nullptr) {
    *out += Row({"crossbeam-epoch nested `pin()` (already pinned)", Fixed(*nested, 2), "", ""});
  }
  if (!crossbeam_note.empty()) *out += "\n" + crossbeam_note + "\n";
  *out += "\n";
  *out += Row(
      {"enter + dereference + exit", "1 thread", "2 threads", "ReadGuard faster (1 / 2 threads)"});
  *out += "|---|---|---|---|\n";
  for (const ReadRow& row : kDerefRows) {
    const Run* one = r.Find(row.name, 1);
    const Run* two = r.Find(row.name, 2);
    *out += Row(
        {row.label, Cell(one, &CpuNsPerIteration, 2), Cell(two, &CpuNsPerIteration, 2),
         ratio(r.Find(rcu_bench::kDerefReadGuard, 1), one ? CpuNsPerIteration(*one) : 0) + " / " +
             ratio(r.Find(rcu_bench::kDerefReadGuard, 2), two ? CpuNsPerIteration(*two) : 0)});
  }
  *out += "\n";
}

void UpdateTables(const rcu_bench::MedianReporter& r, const CrossbeamResults& crossbeam,
                  const rcu_bench::SuiteOptions& options, std::string* out) {
  const Run* sync_ours = r.Find(rcu_bench::kSynchronizeRcu);
  const Run* sync_raw = r.Find(rcu_bench::kSynchronizeRaw);
  if (sync_ours != nullptr || sync_raw != nullptr) {
    *out += "## Grace period\n\n`Synchronize()` with " + std::to_string(options.idle_readers) +
            " idle registered readers, per call.\n\n";
    *out += Row({"", "median us", "p99 us"}) + "|---|---|---|\n";
    *out +=
        Row({"`rcu::Synchronize()`", Cell(sync_ours, &MedianUs, 2), Cell(sync_ours, &P99Us, 2)});
    *out +=
        Row({"raw `synchronize_rcu()`", Cell(sync_raw, &MedianUs, 2), Cell(sync_raw, &P99Us, 2)});
    *out += "\n";
  }
  const Run* retire = r.Find(rcu_bench::kRetireRcu);
  if (retire != nullptr || CrossbeamValue(crossbeam, "defer_destroy", 1) != nullptr) {
    *out +=
        "## Reclamation\n\n64-byte objects retired from one thread, sustained (the "
        "reclaimer's pace and any backpressure included); M objects per second, higher is "
        "better. Faster: `rcu::Retire` rate / row rate.\n\n";
    *out += Row({"", "M objects/s", "Retire faster"}) + "|---|---|---|\n";
    const std::pair<const char*, const char*> rows[] = {
        {"`rcu::Retire(new T)`", rcu_bench::kRetireRcu},
        {"`rcu::Retire`, `RcuObjBase`", rcu_bench::kRetireRcuObj},
        {"raw `call_rcu()`", rcu_bench::kRetireRaw},
        {"`delete` (no grace period)", rcu_bench::kRetireDelete},
    };
    for (const auto& [label, name] : rows) {
      const Run* run = r.Find(name);
      *out += Row({label, Cell(run, &MPerSecond, 2),
                   run && retire ? Advantage(MPerSecond(*retire) / MPerSecond(*run)) : "n/a"});
    }
    if (const double* rate = CrossbeamValue(crossbeam, "defer_destroy", 1)) {
      *out += Row({"crossbeam-epoch `defer_destroy`", Fixed(*rate, 2),
                   retire ? Advantage(MPerSecond(*retire) / *rate) : "n/a"});
    }
    *out += "\n";
  }
  const Run* storm_ours = r.Find(rcu_bench::kSlowStormRcu);
  const Run* storm_raw = r.Find(rcu_bench::kSlowStormRaw);
  if (storm_ours != nullptr || storm_raw != nullptr) {
    *out += "## Retire storm\n\n" + std::to_string(options.slow_reader_storm_objects) +
            " objects retired from one thread while a reader holds each section " +
            std::to_string(options.slow_reader_hold_ms) +
            " ms; memory is sampled every 2 ms (chart: `retire_storm_memory.png`).\n\n";
    *out += Row({"", "peak RSS growth MiB", "max pending", "seconds"}) + "|---|---|---|---|\n";
    *out += Row({"`rcu::Retire`", Cell(storm_ours, &PeakRssGrowthMiB, 1),
                 Cell(storm_ours, &MaxPending, 0), Cell(storm_ours, &Seconds, 2)});
    *out += Row({"raw `call_rcu()`", Cell(storm_raw, &PeakRssGrowthMiB, 1),
                 Cell(storm_raw, &MaxPending, 0), Cell(storm_raw, &Seconds, 2)});
    *out += "\n";
  }
}

void MapTables(const rcu_bench::MedianReporter& r, const rcu_bench::MapSuiteOptions& options,
               std::string* out) {
  const std::string ours = rcu_bench::ShowcaseMapNames().front();
  if (r.Find(rcu_bench::MapLookupName(ours, options.log2_sizes.front())) == nullptr) return;
  *out +=
      "## Hash-map lookups\n\nOne reader, uniform hits, M lookups per second (wall clock; "
      "higher is better). Faster: `rcu::HashMap` rate / row rate.\n\n";
  std::vector<std::string> header = {"map"};
  for (int log2 : options.log2_sizes) header.push_back("2^" + std::to_string(log2) + " keys");
  for (int log2 : options.log2_sizes) header.push_back("HashMap faster, 2^" + std::to_string(log2));
  *out += Row(header) + "|---";
  for (std::size_t i = 0; i < 2 * options.log2_sizes.size(); ++i) *out += "|---";
  *out += "|\n";
  for (const std::string& map : rcu_bench::ShowcaseMapNames()) {
    std::vector<std::string> cells = {"`" + map + "`"};
    for (int log2 : options.log2_sizes) {
      cells.push_back(Cell(r.Find(rcu_bench::MapLookupName(map, log2)), &MPerSecond, 2));
    }
    for (int log2 : options.log2_sizes) {
      const Run* run = r.Find(rcu_bench::MapLookupName(map, log2));
      const Run* base = r.Find(rcu_bench::MapLookupName(ours, log2));
      cells.push_back(run && base ? Advantage(MPerSecond(*base) / MPerSecond(*run)) : "n/a");
    }
    *out += Row(cells);
  }
  *out += "\n";
  if (r.Find(rcu_bench::MapBesideWriterName(ours)) == nullptr) return;
  *out += "## A reader beside a writer\n\nThe same reader on the 2^" +
          std::to_string(options.log2_sizes.back()) +
          "-key map, alone and then while one thread assigns new values to random keys "
          "nonstop; M lookups per second. Kept: beside-writer / alone.\n\n";
  *out += Row({"map", "alone", "beside writer", "kept", "writer M updates/s",
               "HashMap faster, beside writer"}) +
          "|---|---|---|---|---|---|\n";
  const Run* ours_writer = r.Find(rcu_bench::MapBesideWriterName(ours));
  for (const std::string& map : rcu_bench::ShowcaseMapNames()) {
    const Run* alone = r.Find(rcu_bench::MapBaselineName(map));
    const Run* writer = r.Find(rcu_bench::MapBesideWriterName(map));
    *out += Row({"`" + map + "`", Cell(alone, &MPerSecond, 2), Cell(writer, &MPerSecond, 2),
                 alone && writer ? Fixed(MPerSecond(*writer) / MPerSecond(*alone), 2) + "x" : "n/a",
                 writer ? Fixed(CounterValue(*writer, "writer_ops_per_s") / 1e6, 2) : "n/a",
                 writer && ours_writer ? Advantage(MPerSecond(*ours_writer) / MPerSecond(*writer))
                                       : "n/a"});
  }
  *out += "\n";
}

// The summary: one line per question, rcu against its closest peer, in the
// one convention (how many times faster rcu is).
std::string SummaryTable(const rcu_bench::MedianReporter& r, const CrossbeamResults& crossbeam,
                         const rcu_bench::MapSuiteOptions& map_options) {
  std::string out = Row({"measure", "rcu_containers", "peer", "peer's figure",
                         "rcu faster by (peer cost / rcu cost, >1: rcu faster)"}) +
                    "|---|---|---|---|---|\n";
  auto read_line = [&](const char* what, const char* ours_name, int threads, const char* peer_label,
                       const char* peer_name) {
    const Run* ours = r.Find(ours_name, threads);
    const Run* peer = r.Find(peer_name, threads);
    if (ours == nullptr || peer == nullptr) return;
    out += Row(
        {std::string(what) + ", " + std::to_string(threads) + " thread" + (threads == 1 ? "" : "s"),
         Fixed(CpuNsPerIteration(*ours), 2) + " ns", peer_label,
         Fixed(CpuNsPerIteration(*peer), 2) + " ns",
         Advantage(CpuNsPerIteration(*peer) / CpuNsPerIteration(*ours))});
  };
  for (int threads : {1, 2}) {
    read_line("read enter+exit", rcu_bench::kEnterExitReadGuard, threads, "raw inlined liburcu",
              rcu_bench::kEnterExitRawUrcu);
    read_line("read enter+exit", rcu_bench::kEnterExitReadGuard, threads, "`std::shared_mutex`",
              rcu_bench::kEnterExitSharedMutex);
    read_line("read enter+exit", rcu_bench::kEnterExitReadGuard, threads,
              "textbook RCU, one counter", rcu_bench::kEnterExitNaive);
    const Run* ours = r.Find(rcu_bench::kEnterExitReadGuard, threads);
    const double* pin = CrossbeamValue(crossbeam, "pin_unpin", threads);
    if (ours != nullptr && pin != nullptr) {
      out += Row(
          {"read enter+exit, " + std::to_string(threads) + " thread" + (threads == 1 ? "" : "s"),
           Fixed(CpuNsPerIteration(*ours), 2) + " ns", "crossbeam-epoch `pin()`",
           Fixed(*pin, 2) + " ns", Advantage(*pin / CpuNsPerIteration(*ours))});
    }
  }
  const Run* sync_ours = r.Find(rcu_bench::kSynchronizeRcu);
  const Run* sync_raw = r.Find(rcu_bench::kSynchronizeRaw);
  if (sync_ours != nullptr && sync_raw != nullptr) {
    out += Row({"`Synchronize()`, idle readers (median)", Fixed(MedianUs(*sync_ours), 2) + " us",
                "raw `synchronize_rcu()`", Fixed(MedianUs(*sync_raw), 2) + " us",
                Advantage(MedianUs(*sync_raw) / MedianUs(*sync_ours))});
  }
  const Run* retire = r.Find(rcu_bench::kRetireRcu);
  const Run* retire_raw = r.Find(rcu_bench::kRetireRaw);
  if (retire != nullptr && retire_raw != nullptr) {
    out += Row({"`Retire`, one thread, 64-byte objects", Fixed(MPerSecond(*retire), 2) + " M/s",
                "raw `call_rcu()`", Fixed(MPerSecond(*retire_raw), 2) + " M/s",
                Advantage(MPerSecond(*retire) / MPerSecond(*retire_raw))});
  }
  if (const double* rate = CrossbeamValue(crossbeam, "defer_destroy", 1); rate && retire) {
    out += Row({"`Retire`, one thread, 64-byte objects", Fixed(MPerSecond(*retire), 2) + " M/s",
                "crossbeam-epoch `defer_destroy`", Fixed(*rate, 2) + " M/s",
                Advantage(MPerSecond(*retire) / *rate)});
  }
  const Run* storm = r.Find(rcu_bench::kSlowStormRcu);
  const Run* storm_raw = r.Find(rcu_bench::kSlowStormRaw);
  if (storm != nullptr && storm_raw != nullptr) {
    out += Row({"retire storm, peak RSS growth (slow reader)",
                "+" + Fixed(PeakRssGrowthMiB(*storm), 1) + " MiB", "raw `call_rcu()`",
                "+" + Fixed(PeakRssGrowthMiB(*storm_raw), 1) + " MiB",
                Advantage(PeakRssGrowthMiB(*storm_raw) / PeakRssGrowthMiB(*storm)) + ""});
  }
  const std::string ours_map = rcu_bench::ShowcaseMapNames().front();
  for (int log2 : map_options.log2_sizes) {
    const Run* ours = r.Find(rcu_bench::MapLookupName(ours_map, log2));
    for (std::size_t i = 1; i < rcu_bench::ShowcaseMapNames().size(); ++i) {
      const std::string& peer_name = rcu_bench::ShowcaseMapNames()[i];
      const Run* peer = r.Find(rcu_bench::MapLookupName(peer_name, log2));
      if (ours == nullptr || peer == nullptr) continue;
      out += Row({"map lookups, 2^" + std::to_string(log2) + " keys",
                  Fixed(MPerSecond(*ours), 2) + " M/s", "`" + peer_name + "`",
                  Fixed(MPerSecond(*peer), 2) + " M/s",
                  Advantage(MPerSecond(*ours) / MPerSecond(*peer))});
    }
  }
  const Run* ours_writer = r.Find(rcu_bench::MapBesideWriterName(ours_map));
  for (std::size_t i = 1; i < rcu_bench::ShowcaseMapNames().size(); ++i) {
    const std::string& peer_name = rcu_bench::ShowcaseMapNames()[i];
    const Run* peer = r.Find(rcu_bench::MapBesideWriterName(peer_name));
    if (ours_writer == nullptr || peer == nullptr) continue;
    out += Row({"map lookups beside a writer", Fixed(MPerSecond(*ours_writer), 2) + " M/s",
                "`" + peer_name + "`", Fixed(MPerSecond(*peer), 2) + " M/s",
                Advantage(MPerSecond(*ours_writer) / MPerSecond(*peer))});
  }
  return out;
}

// --- Charts ----------------------------------------------------------------------

// A clustered bar chart: `data` has a header line and one row per bar group.
std::string BarChart(const std::string& title, const std::string& ylabel,
                     const std::string& data_file, int columns, bool log_scale) {
  std::string script = "set title '" + title + "' noenhanced\nset ylabel '" + ylabel +
                       "' noenhanced\nset style data histograms\n"
                       "set style histogram clustered gap 1\nset style fill solid 0.85 border -1\n"
                       "set key top left noenhanced\nset grid ytics\nset xtics noenhanced "
                       "rotate by -20\nset yrange [" +
                       std::string(log_scale ? "0.1" : "0") + ":*]\n";
  if (log_scale) script += "set logscale y\n";
  script += "plot '" + data_file + "' using 2:xtic(1) title columnheader(2)";
  for (int c = 3; c <= columns; ++c) {
    script += ", '' using " + std::to_string(c) + " title columnheader(" + std::to_string(c) + ")";
  }
  return script + "\n";
}

std::string Quoted(const std::string& s) { return "\"" + s + "\""; }

// Draws the charts whose data ran; returns the Markdown that embeds them.
std::string DrawCharts(const std::string& dir, const rcu_bench::MedianReporter& r,
                       const CrossbeamResults& crossbeam,
                       const rcu_bench::MapSuiteOptions& map_options) {
  if (!rcu_bench::HaveGnuplot()) {
    std::fprintf(stderr,
                 "showcase: no charts: gnuplot (with pngcairo) is missing; tools/setup "
                 "installs gnuplot-nox\n");
    return "No charts: gnuplot is not installed (tools/setup installs gnuplot-nox).\n\n";
  }
  std::string md = "## Charts\n\n";
  auto draw = [&](const std::string& name, const std::string& caption, const std::string& script) {
    std::fprintf(stderr, "showcase: drawing %s.png\n", name.c_str());
    if (rcu_bench::DrawChart(dir, name, script)) {
      md += "![" + caption + "](" + name + ".png)\n\n";
    } else {
      md += "(" + name + ".png: gnuplot failed)\n\n";
    }
  };
  // Read side, 1 and 2 threads.
  {
    std::string data = "primitive \"1 thread\" \"2 threads\"\n";
    bool any = false;
    auto add = [&](const std::string& label, double one, double two) {
      data += Quoted(label) + " " + Fixed(one, 3) + " " + Fixed(two, 3) + "\n";
      any = true;
    };
    for (const ReadRow& row : kEnterExitRows) {
      const Run* one = r.Find(row.name, 1);
      const Run* two = r.Find(row.name, 2);
      if (one && two) {
        std::string label = row.label;
        label.erase(std::remove(label.begin(), label.end(), '`'), label.end());
        add(label, CpuNsPerIteration(*one), CpuNsPerIteration(*two));
      }
    }
    const double* pin1 = CrossbeamValue(crossbeam, "pin_unpin", 1);
    const double* pin2 = CrossbeamValue(crossbeam, "pin_unpin", 2);
    if (pin1 && pin2) add("crossbeam-epoch pin()", *pin1, *pin2);
    if (any && rcu_bench::WriteFile(dir + "/data/read_side.dat", data)) {
      draw("read_side", "Read-side cost per primitive, 1 and 2 threads",
           BarChart("Read-side section (enter + exit): ns per section per thread, lower is better",
                    "ns (log scale)", "data/read_side.dat", 3, true));
    }
  }
  // Map lookups by map and size; the reader beside a writer.
  {
    std::string data = "map";
    for (int log2 : map_options.log2_sizes) data += " \"2^" + std::to_string(log2) + " keys\"";
    data += "\n";
    std::string writer = "map alone \"beside a writer\"\n";
    bool any = false, any_writer = false;
    for (const std::string& map : rcu_bench::ShowcaseMapNames()) {
      std::string line = Quoted(map);
      bool complete = true;
      for (int log2 : map_options.log2_sizes) {
        const Run* run = r.Find(rcu_bench::MapLookupName(map, log2));
        complete = complete && run != nullptr;
        line += " " + (run ? Fixed(MPerSecond(*run), 3) : std::string("0"));
      }
      if (complete) {
        data += line + "\n";
        any = true;
      }
      const Run* alone = r.Find(rcu_bench::MapBaselineName(map));
      const Run* beside = r.Find(rcu_bench::MapBesideWriterName(map));
      if (alone && beside) {
        writer += Quoted(map) + " " + Fixed(MPerSecond(*alone), 3) + " " +
                  Fixed(MPerSecond(*beside), 3) + "\n";
        any_writer = true;
      }
    }
    if (any && rcu_bench::WriteFile(dir + "/data/map_lookups.dat", data)) {
      draw("map_lookups", "Map lookups per second by map and table size",
           BarChart("Hash-map lookups, one reader: M lookups/s, higher is better", "M lookups/s",
                    "data/map_lookups.dat", 1 + static_cast<int>(map_options.log2_sizes.size()),
                    false));
    }
    if (any_writer && rcu_bench::WriteFile(dir + "/data/beside_writer.dat", writer)) {
      draw("beside_writer", "A reader alone and beside a writer",
           BarChart("One reader on 2^" + std::to_string(map_options.log2_sizes.back()) +
                        " keys, alone and beside a nonstop writer: M lookups/s",
                    "M lookups/s", "data/beside_writer.dat", 3, false));
    }
  }
  // Retire storm: memory over time.
  {
    const std::pair<const char*, const char*> storms[] = {
        {"rcu::Retire", rcu_bench::kSlowStormRcu},
        {"raw call_rcu()", rcu_bench::kSlowStormRaw},
    };
    std::string plot;
    for (const auto& [label, name] : storms) {
      const auto* series = rcu_bench::StormSeries(name);
      if (series == nullptr || series->empty()) continue;
      std::string data = "# ms rss_growth_MiB pending_thousands\n";
      for (const rcu_bench::MemorySample& s : *series) {
        data += Fixed(s.ms, 1) + " " + Fixed(rcu_bench::KiBToMiB(s.rss_growth_kib), 3) + " " +
                Fixed(static_cast<double>(s.pending) / 1e3, 3) + "\n";
      }
      const std::string file = std::string("data/storm_") +
                               (std::strcmp(name, rcu_bench::kSlowStormRcu) == 0 ? "rcu" : "raw") +
                               ".dat";
      if (!rcu_bench::WriteFile(dir + "/" + file, data)) continue;
      if (!plot.empty()) plot += ", ";
      plot += "'" + file + "' using 1:2 with lines lw 2 title '" + label +
              ": RSS growth (MiB)', '" + file + "' using 1:3 axes x1y2 with lines dt 2 title '" +
              label + ": pending (thousands)'";
    }
    if (!plot.empty()) {
      draw("retire_storm_memory", "Reclamation memory over time during a retire storm",
           "set title 'Retire storm with a slow reader: memory over time' noenhanced\n"
           "set xlabel 'ms since the storm began'\nset ylabel 'RSS growth, MiB'\n"
           "set y2label 'callbacks pending, thousands'\nset ytics nomirror\nset y2tics\n"
           "set key top right noenhanced\nset grid\nplot " +
               plot + "\n");
    }
  }
  return md;
}

// --- crossbeam-epoch -----------------------------------------------------------

// Finds bench/crossbeam/run.sh: in the runfiles (bazel run, bazel test), or
// in the workspace.
std::string CrossbeamScript() {
  std::vector<std::string> candidates = {"bench/crossbeam/run.sh"};
  if (const char* runfiles = std::getenv("RUNFILES_DIR")) {
    candidates.push_back(std::string(runfiles) + "/rcu_containers/bench/crossbeam/run.sh");
  }
  if (const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY")) {
    candidates.push_back(std::string(ws) + "/bench/crossbeam/run.sh");
  }
  for (const std::string& path : candidates) {
    if (std::ifstream(path).good()) return path;
  }
  return "";
}

// Runs the crossbeam-epoch program; fills `results`, and returns "" or a
// note saying why the rows are missing. Never fails the showcase.
std::string RunCrossbeam(double seconds, const std::string& dir, CrossbeamResults* results) {
  const std::string script = CrossbeamScript();
  if (script.empty()) return "crossbeam-epoch: skipped (bench/crossbeam/run.sh not found).";
  int status = 0;
  const std::string output = rcu_bench::RunCommand(
      "'" + script + "' " + Fixed(seconds, 3) + " 2>" + dir + "/raw/crossbeam.log", &status);
  rcu_bench::WriteFile(dir + "/raw/crossbeam.tsv", output + "\n");
  std::stringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    std::stringstream fields(line);
    std::string tag, name;
    int threads = 0;
    double value = 0;
    if (fields >> tag >> name >> threads >> value && tag == "result") {
      (*results)[name][threads] = value;
    }
  }
  if (status == 0 && !results->empty()) return "";
  std::ifstream log(dir + "/raw/crossbeam.log");
  std::string why, last;
  while (std::getline(log, last)) why = last;
  return "crossbeam-epoch: skipped (" + (why.empty() ? "exit " + std::to_string(status) : why) +
         ").";
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(&argc, argv, &flags)) return 2;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
#ifndef NDEBUG
  std::fprintf(stderr,
               "showcase: built without -c opt (NDEBUG is not defined), so the "
               "numbers are not meaningful: tools/bazel run -c opt //bench:showcase\n");
#endif
  if (std::string(rcu_bench::ReadSideMode()) != "inline") {
    std::fprintf(stderr,
                 "showcase: rcu::ReadGuard calls into liburcu in this build "
                 "(--define=rcu_lgpl_inline=false or a sanitizer); the default build "
                 "inlines it\n");
  }
  const std::string dir = rcu_bench::MakeResultsDir(flags.out);
  if (dir.empty()) return 1;
  // The libcds map peer's library, initialized until the end of main()
  // (after DropShowcaseMapFixture()).
  rcu_bench::LibcdsRuntime libcds_runtime;

  rcu_bench::SuiteOptions options;
  options.min_time = flags.smoke ? 0.005 : 0.1;
  options.retire_min_time = flags.smoke ? 0.005 : 0.3;
  options.repetitions = flags.smoke ? 1 : 3;
  options.idle_readers = 2;
  options.storm_objects = 0;  // the plain storm is rcu_core_bench's
  options.slow_reader_storm_objects = flags.smoke ? 20'000 : 2'000'000;
  options.slow_reader_hold_ms = flags.smoke ? 5 : 50;
  options.below_limit_bursts = false;
  rcu_bench::MapSuiteOptions map_options;
  map_options.log2_sizes = flags.smoke ? std::vector<int>{8, 10} : std::vector<int>{11, 16, 20};
  map_options.min_time = flags.smoke ? 0.005 : 0.1;
  map_options.repetitions = flags.smoke ? 1 : 3;
  const int maps = static_cast<int>(rcu_bench::ShowcaseMapNames().size());

  struct Suite {
    std::string key, label;
    int benchmarks;
    void (*register_fn)(const rcu_bench::SuiteOptions&);
  };
  std::vector<Suite> suites;
  if (flags.Has("read")) {
    suites.push_back(
        {"read", "read side, 1 and 2 threads", 14, &rcu_bench::RegisterReadSideBenchmarks});
  }
  if (flags.Has("sync")) {
    suites.push_back(
        {"sync", "grace-period latency", 2, &rcu_bench::RegisterSynchronizeBenchmarks});
  }
  if (flags.Has("retire")) {
    suites.push_back({"retire", "reclamation throughput", 4, &rcu_bench::RegisterRetireBenchmarks});
  }
  if (flags.Has("storm")) {
    suites.push_back(
        {"storm", "retire storm, memory over time", 2, &rcu_bench::RegisterRetireStormBenchmarks});
  }
  if (flags.Has("maps")) {
    suites.push_back({"maps", "hash-map lookups, and a reader beside a writer",
                      maps * (static_cast<int>(map_options.log2_sizes.size()) + 2), nullptr});
  }
  const bool crossbeam = flags.Has("crossbeam") && !flags.smoke;
  const int total = static_cast<int>(suites.size()) + (crossbeam ? 1 : 0);
  std::fprintf(stderr, "showcase: %d suites, %s; results go to %s\n", total,
               flags.smoke ? "smoke pass (seconds; the figures mean nothing)"
                           : "about a minute (plus a first Rust build)",
               dir.c_str());

  ShowcaseReporter reporter;
  int index = 0;
  for (const Suite& suite : suites) {
    benchmark::ClearRegisteredBenchmarks();
    if (suite.register_fn != nullptr) {
      suite.register_fn(options);
    } else {
      rcu_bench::RegisterShowcaseMapBenchmarks(map_options);
    }
    std::ofstream json(dir + "/raw/" + suite.key + ".json");
    reporter.StartSuite(suite.label, ++index, total, suite.benchmarks, &json);
    benchmark::RunSpecifiedBenchmarks(&reporter);
    reporter.EndSuite();
    if (suite.key == "maps") rcu_bench::DropShowcaseMapFixture();
  }
  CrossbeamResults crossbeam_results;
  std::string crossbeam_note;
  if (crossbeam) {
    std::fprintf(stderr,
                 "[%d/%d] crossbeam-epoch (Rust): pin, nested pin, defer_destroy "
                 "(builds bench/crossbeam first; cached afterwards)\n",
                 ++index, total);
    crossbeam_note = RunCrossbeam(0.2, dir, &crossbeam_results);
    std::fprintf(stderr, "[%d/%d] %s\n", index, total,
                 crossbeam_note.empty() ? "crossbeam-epoch: measured" : crossbeam_note.c_str());
  } else if (flags.Has("crossbeam")) {
    crossbeam_note = "crossbeam-epoch: not run in --smoke (it compiles a Rust program).";
  }

  const rcu_bench::MedianReporter& results = reporter.results();
  std::string tables;
  ReadTables(results, crossbeam_results, crossbeam_note, &tables);
  UpdateTables(results, crossbeam_results, options, &tables);
  MapTables(results, map_options, &tables);
  const std::string summary = SummaryTable(results, crossbeam_results, map_options);
  const std::string charts = DrawCharts(dir, results, crossbeam_results, map_options);
  const std::string machine = rcu_bench::MachineMarkdown();

  std::string report = "# rcu_containers showcase\n\n";
  report +=
      std::string("Command: `tools/bazel run -c opt //bench:showcase") +
      (flags.smoke ? " -- --smoke" : "") + "`" +
      (flags.smoke ? " (a smoke pass: a few iterations each; the figures mean nothing)" : "") +
      ". Every figure below was measured in this run; ratios compare peers that ran "
      "moments apart.\n\n## Machine\n\n" +
      machine +
      "\n## Summary\n\nOne ratio convention throughout: how many times faster "
      "rcu_containers is than the peer (the peer's cost / ours, or our rate / "
      "the peer's); above 1 rcu_containers is faster, below 1 the peer is.\n\n" +
      summary + "\n" + tables + charts +
      "Raw Google Benchmark JSON: `raw/*.json`; chart data and gnuplot scripts: `data/`.\n";
  if (!rcu_bench::WriteFile(dir + "/report.md", report)) {
    std::fprintf(stderr, "showcase: could not write %s/report.md\n", dir.c_str());
    return 1;
  }
  std::printf("\n%s\n## Summary\n\n%s\n", tables.c_str(), summary.c_str());
  std::printf("Report: %s/report.md (charts and raw JSON beside it)\n", dir.c_str());
  benchmark::Shutdown();
  return 0;
}
