#!/usr/bin/env bash
# bench/callgrind_read_side.sh: instructions per read-side critical section,
# rcu::ReadGuard against raw inlined liburcu, counted by callgrind.
#
# Runs bench/read_side_loop (N sections in a non-inlined loop function) under
# `valgrind --tool=callgrind --toggle-collect=<loop function>`, so only the
# loop is counted, and prints instructions per iteration for:
#   guard        rcu::ReadGuard enter+exit
#   raw          urcu_memb_read_lock() + urcu_memb_read_unlock(), inlined
#   guard_deref  the same plus one RcuPtr::Dereference and a load through it
#   raw_deref    the same plus one rcu_dereference() and a load through it
#   empty        the loop alone (subtracted for the "net" columns)
# and the ratios guard/raw. The library's target is within 1.2x of raw.
# Instruction counts are repeatable, unlike times on a shared 2-core machine.
#
# Run (builds optimized, like every benchmark):
#   tools/bazel run -c opt //bench:callgrind_read_side
#   tools/bazel run -c opt //bench:callgrind_read_side -- --iterations=1000000 --disassemble
# or directly from the workspace root, which builds first:
#   bench/callgrind_read_side.sh [--iterations=N] [--disassemble]
#   (BAZEL=... and BAZEL_STARTUP_OPTS="--output_base=..." pick the Bazel used)
#
# Exit status: 0 when guard/raw (net of the loop) is within the target,
# 3 when it is above, 1 on errors.
set -euo pipefail

iterations=1000000
disassemble=0
target=1.2
for arg in "$@"; do
  case "$arg" in
    --iterations=*) iterations=${arg#*=} ;;
    --disassemble) disassemble=1 ;;
    --target=*) target=${arg#*=} ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "callgrind_read_side: unknown argument $arg" >&2; exit 1 ;;
  esac
done

die() { echo "callgrind_read_side: $*" >&2; exit 1; }
command -v valgrind >/dev/null || die "valgrind is not installed (apt-get install valgrind; tools/setup installs it)"

# bench_binary() comes from bench/bench_binary.sh, next to this script or in
# its Bazel runfiles.
for dir in "${RUNFILES_DIR:-/nonexistent}/rcu_containers/bench" "$0.runfiles/rcu_containers/bench" \
    "$(dirname "$0")"; do
  # shellcheck source=bench/bench_binary.sh
  [[ -f "$dir/bench_binary.sh" ]] && { source "$dir/bench_binary.sh"; break; }
done
declare -F bench_binary >/dev/null || die "bench/bench_binary.sh not found"
binary=$(bench_binary read_side_loop)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Instructions executed inside `function` while running `mode`.
count() {
  local mode=$1 function=$2 out="$work/callgrind.$1.out"
  valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect="$function" \
    "$binary" "$mode" "$iterations" >"$work/valgrind.$mode.log" 2>&1 ||
    { cat "$work/valgrind.$mode.log" >&2; die "valgrind failed for $mode"; }
  local total
  total=$(awk '/^(summary|totals):/ { print $2; exit }' "$out")
  [[ -n "$total" ]] || die "no instruction total for $mode in $out"
  echo "$total"
}

declare -A function_of=(
  [guard]=rcu_bench_guard_loop
  [raw]=rcu_bench_raw_read_loop
  [guard_deref]=rcu_bench_guard_deref_loop
  [raw_deref]=rcu_bench_raw_read_deref_loop
  [empty]=rcu_bench_empty_loop
)
declare -A total
for mode in guard raw guard_deref raw_deref empty; do
  total[$mode]=$(count "$mode" "${function_of[$mode]}")
done

echo "callgrind: instructions per iteration, $iterations iterations ($binary)"
awk -v n="$iterations" -v target="$target" \
    -v g="${total[guard]}" -v r="${total[raw]}" \
    -v gd="${total[guard_deref]}" -v rd="${total[raw_deref]}" -v e="${total[empty]}" '
  BEGIN {
    pe = e / n
    printf "  %-34s %10s %10s\n", "", "gross", "net of loop"
    printf "  %-34s %10.2f %10.2f\n", "empty loop", pe, 0
    printf "  %-34s %10.2f %10.2f\n", "rcu::ReadGuard enter+exit", g / n, g / n - pe
    printf "  %-34s %10.2f %10.2f\n", "raw liburcu lock+unlock", r / n, r / n - pe
    printf "  %-34s %10.2f %10.2f\n", "ReadGuard + Dereference", gd / n, gd / n - pe
    printf "  %-34s %10.2f %10.2f\n", "raw lock + rcu_dereference", rd / n, rd / n - pe
    ratio = (g / n - pe) / (r / n - pe)
    ratio_deref = (gd / n - pe) / (rd / n - pe)
    printf "  ratio ReadGuard/raw: enter+exit %.3fx (gross %.3fx), with dereference %.3fx (gross %.3fx)\n",
           ratio, g / r, ratio_deref, gd / rd
    if (ratio <= target) {
      printf "  within the %.2fx target\n", target
    } else {
      printf "  ABOVE the %.2fx target: see --disassemble for the extra instructions\n", target
    }
    exit ratio <= target ? 0 : 3
  }' && status=0 || status=$?

if [[ $disassemble == 1 ]]; then
  for function in rcu_bench_guard_loop rcu_bench_raw_read_loop; do
    echo
    echo "objdump -d: $function"
    objdump -d --no-show-raw-insn -C "$binary" |
      awk -v f="<$function>:" '$2 == f { on = 1 } on && /^$/ { on = 0 } on { print }'
  done
fi
exit "$status"
