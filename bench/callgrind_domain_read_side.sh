#!/usr/bin/env bash
# bench/callgrind_domain_read_side.sh: instructions per read-side section of
# rcu::Domain against rcu::ReadGuard and the naive shared-counter RCU,
# counted by callgrind.
#
# Runs bench/domain_read_loop (N sections in a non-inlined loop function,
# each dereferencing one pointer) under
# `valgrind --tool=callgrind --toggle-collect=<loop function>`, so only the
# loop is counted, and prints instructions per section for:
#   guard         rcu::ReadGuard (the default domain)
#   domain_guard  rcu::Domain::ReadGuard
#   domain_token  rcu::Domain::BeginRead() + ReadToken::End()
#   naive         NaiveRcu (bench/naive_rcu_peer.h), one shared counter
#   empty         the loop alone (subtracted for the "net" column)
# and the ratios to guard. Issue 13's target: a Domain section within 3x a
# ReadGuard. Callgrind counts instructions, on one thread: the naive RCU's
# real cost, a contended cache line and two locked instructions, does not
# show here (bench/domain_bench.cc times it at 2 threads).
#
# Run (builds optimized, like every benchmark):
#   tools/bazel run -c opt //bench:callgrind_domain_read_side
#   tools/bazel run -c opt //bench:callgrind_domain_read_side -- --iterations=1000000 --disassemble
# or directly from the workspace root, which builds first:
#   bench/callgrind_domain_read_side.sh [--iterations=N] [--disassemble] [--target=X]
#   (BAZEL=... and BAZEL_STARTUP_OPTS="--output_base=..." pick the Bazel used)
#
# Exit status: 0 when both Domain sections (net of the loop) are within the
# target, 3 when one is above, 1 on errors.
set -euo pipefail

iterations=1000000
disassemble=0
target=3
for arg in "$@"; do
  case "$arg" in
    --iterations=*) iterations=${arg#*=} ;;
    --disassemble) disassemble=1 ;;
    --target=*) target=${arg#*=} ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "callgrind_domain_read_side: unknown argument $arg" >&2; exit 1 ;;
  esac
done

die() { echo "callgrind_domain_read_side: $*" >&2; exit 1; }
command -v valgrind >/dev/null || die "valgrind is not installed (apt-get install valgrind; tools/setup installs it)"

# bench_binary() comes from bench/bench_binary.sh, next to this script or in
# its Bazel runfiles.
for dir in "${RUNFILES_DIR:-/nonexistent}/rcu_containers/bench" "$0.runfiles/rcu_containers/bench" \
    "$(dirname "$0")"; do
  # shellcheck source=bench/bench_binary.sh
  [[ -f "$dir/bench_binary.sh" ]] && { source "$dir/bench_binary.sh"; break; }
done
declare -F bench_binary >/dev/null || die "bench/bench_binary.sh not found"
binary=$(bench_binary domain_read_loop)

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
  [guard]=rcu_bench_default_guard_deref_loop
  [domain_guard]=rcu_bench_domain_guard_deref_loop
  [domain_token]=rcu_bench_domain_token_deref_loop
  [naive]=rcu_bench_naive_deref_loop
  [empty]=rcu_bench_empty_loop
)
declare -A total
for mode in guard domain_guard domain_token naive empty; do
  total[$mode]=$(count "$mode" "${function_of[$mode]}")
done

echo "callgrind: instructions per section (enter, dereference one pointer, leave),"
echo "$iterations iterations ($binary)"
awk -v n="$iterations" -v target="$target" \
    -v g="${total[guard]}" -v dg="${total[domain_guard]}" -v dt="${total[domain_token]}" \
    -v nv="${total[naive]}" -v e="${total[empty]}" '
  function net(x) { return x / n - e / n }
  BEGIN {
    printf "  %-36s %10s %10s %12s\n", "", "gross", "net of loop", "net / guard"
    printf "  %-36s %10.2f %10.2f\n", "empty loop", e / n, 0
    printf "  %-36s %10.2f %10.2f %11.2fx\n", "rcu::ReadGuard (default domain)", g / n, net(g), 1
    printf "  %-36s %10.2f %10.2f %11.2fx\n", "rcu::Domain::ReadGuard", dg / n, net(dg), net(dg) / net(g)
    printf "  %-36s %10.2f %10.2f %11.2fx\n", "Domain BeginRead() + End()", dt / n, net(dt), net(dt) / net(g)
    printf "  %-36s %10.2f %10.2f %11.2fx\n", "naive RCU (one shared counter)", nv / n, net(nv), net(nv) / net(g)
    ok = net(dg) / net(g) <= target && net(dt) / net(g) <= target
    if (ok) {
      printf "  Domain sections within the %.2fx target\n", target
    } else {
      printf "  a Domain section is ABOVE the %.2fx target: see --disassemble\n", target
    }
    exit ok ? 0 : 3
  }' && status=0 || status=$?

if [[ $disassemble == 1 ]]; then
  for function in rcu_bench_default_guard_deref_loop rcu_bench_domain_guard_deref_loop \
      rcu_bench_domain_token_deref_loop rcu_bench_naive_deref_loop; do
    echo
    echo "objdump -d: $function"
    objdump -d --no-show-raw-insn -C "$binary" |
      awk -v f="<$function>:" '$2 == f { on = 1 } on && /^$/ { on = 0 } on { print }'
  done
fi
exit "$status"
