#!/usr/bin/env bash
# bench/callgrind_hash_map.sh: instructions and memory reads per lookup,
# rcu::HashMap against unsynchronized std::unordered_map and
# absl::flat_hash_map, counted by callgrind.
#
# Runs bench/hash_map_lookup_loop (N random hits in a non-inlined loop per
# map) under `valgrind --tool=callgrind --cache-sim=yes
# --toggle-collect=<loop function>`, so only the loop is counted, and prints
# per lookup: instructions (Ir), data reads (Dr) and writes (Dw), for
#   rcu          rcu::ReadGuard + find(guard, key)
#   rcu_get      get(key) (a guard inside)
#   rcu_1guard   one guard for the whole loop, find(guard, key): the map alone
#   unordered    std::unordered_map::find, unsynchronized
#   flat         absl::flat_hash_map::find, unsynchronized
#   empty        the loop alone
# and per operation, for the other paths (see hash_map_lookup_loop.cc):
#   rcu_find     find(key), an iterator that owns its section
#   rcu_stdhash  guard + find(guard, key) with std::hash (mixed by the map)
#   rcu_update   insert_or_assign() of a present key (publish + retire)
#   rcu_churn    erase(key) + try_emplace(key)
# Counts are repeatable, unlike times on a shared 2-core machine. Reads
# matter beyond their count: in a DRAM-bound loop every load holds a
# load-queue entry until the lookup's cache misses retire, so loads per
# lookup bound how many lookups overlap.
#
#   tools/bazel run -c opt //bench:callgrind_hash_map
#   tools/bazel run -c opt //bench:callgrind_hash_map -- --log2_size=20 --disassemble
# or from the workspace root, which builds first:
#   bench/callgrind_hash_map.sh [--iterations=N] [--log2_size=K] [--disassemble]
#   (BAZEL=... and BAZEL_STARTUP_OPTS="--output_base=..." pick the Bazel used)
set -euo pipefail

iterations=200000
log2_size=11
disassemble=0
for arg in "$@"; do
  case "$arg" in
    --iterations=*) iterations=${arg#*=} ;;
    --log2_size=*) log2_size=${arg#*=} ;;
    --disassemble) disassemble=1 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "callgrind_hash_map: unknown argument $arg" >&2; exit 1 ;;
  esac
done

die() { echo "callgrind_hash_map: $*" >&2; exit 1; }
command -v valgrind >/dev/null || die "valgrind is not installed (apt-get install valgrind; tools/setup installs it)"

# bench_binary() comes from bench/bench_binary.sh, next to this script or in
# its Bazel runfiles.
for dir in "${RUNFILES_DIR:-/nonexistent}/rcu_containers/bench" "$0.runfiles/rcu_containers/bench" \
    "$(dirname "$0")"; do
  # shellcheck source=bench/bench_binary.sh
  [[ -f "$dir/bench_binary.sh" ]] && { source "$dir/bench_binary.sh"; break; }
done
declare -F bench_binary >/dev/null || die "bench/bench_binary.sh not found"
binary=$(bench_binary hash_map_lookup_loop)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

declare -A function_of=(
  [rcu]=rcu_bench_map_rcu_loop
  [rcu_get]=rcu_bench_map_rcu_get_loop
  [rcu_1guard]=rcu_bench_map_rcu_1guard_loop
  [unordered]=rcu_bench_map_unordered_loop
  [flat]=rcu_bench_map_flat_loop
  [empty]=rcu_bench_map_empty_loop
  [rcu_find]=rcu_bench_map_rcu_find_loop
  [rcu_stdhash]=rcu_bench_map_rcu_stdhash_loop
  [rcu_update]=rcu_bench_map_rcu_update_loop
  [rcu_churn]=rcu_bench_map_rcu_churn_loop
)
modes=(rcu rcu_get rcu_1guard unordered flat empty rcu_find rcu_stdhash rcu_update rcu_churn)

declare -A ir dr dw
for mode in "${modes[@]}"; do
  out="$work/callgrind.$mode.out"
  valgrind --tool=callgrind --cache-sim=yes --callgrind-out-file="$out" \
    --toggle-collect="${function_of[$mode]}" \
    "$binary" "$mode" "$log2_size" "$iterations" >"$work/valgrind.$mode.log" 2>&1 ||
    { cat "$work/valgrind.$mode.log" >&2; die "valgrind failed for $mode"; }
  line=$(awk '/^summary:/ { print; exit }' "$out")
  [[ -n "$line" ]] || die "no summary for $mode in $out"
  read -r _ ir[$mode] dr[$mode] dw[$mode] _ <<<"$line"
done

echo "callgrind: per lookup (per operation for the last four), 2^$log2_size entries, $iterations uniform random hits ($binary)"
printf "  %-12s %8s %8s %8s %14s\n" mode Ir Dr Dw "Ir/unordered"
for mode in "${modes[@]}"; do
  awk -v m="$mode" -v n="$iterations" -v i="${ir[$mode]}" -v r="${dr[$mode]}" \
    -v w="${dw[$mode]}" -v u="${ir[unordered]}" \
    'BEGIN { printf "  %-12s %8.1f %8.1f %8.1f %13.2fx\n", m, i / n, r / n, w / n, i / u }'
done
awk -v n="$iterations" -v r="${ir[rcu]}" -v g="${ir[rcu_1guard]}" -v u="${ir[unordered]}" \
  -v e="${ir[empty]}" -v rr="${dr[rcu]}" -v gr="${dr[rcu_1guard]}" -v ur="${dr[unordered]}" \
  -v er="${dr[empty]}" 'BEGIN {
    printf "  net of the loop: rcu %.1f Ir / %.1f Dr, rcu_1guard %.1f / %.1f, unordered %.1f / %.1f\n",
           (r - e) / n, (rr - er) / n, (g - e) / n, (gr - er) / n, (u - e) / n, (ur - er) / n
    printf "  the read guard adds %.1f instructions and %.1f reads per lookup (rcu - rcu_1guard)\n",
           (r - g) / n, (rr - gr) / n
  }'

if [[ $disassemble == 1 ]]; then
  for function in rcu_bench_map_rcu_loop rcu_bench_map_unordered_loop; do
    echo
    echo "objdump -d: $function"
    objdump -d --no-show-raw-insn -C "$binary" |
      awk -v f="<$function>:" '$2 == f { on = 1 } on && /^$/ { on = 0 } on { print }'
  done
fi
