#!/usr/bin/env bash
# examples/hot_reload/poke.sh: runs the hot_reload example against a
# Kubernetes-style config directory and changes the config every way the
# watcher handles: an in-place write, ConfigMap `..data` swaps, a broken
# edit, a value the validation rejects, an editor-style save (write a temp
# file, rename it over), delete and re-create, and SIGHUP. Then it stops the
# program with SIGINT and shows its summary.
#
#   bazel run //examples/hot_reload:poke                         # watch it happen
#   examples/hot_reload/poke.sh [--check] path/to/hot_reload     # the same
#
# With --check (the poke_test target), it prints the program's output at the
# end and fails if any expected event does not show up within 30 seconds.
set -euo pipefail

check=0
if [[ "${1:-}" == "--check" ]]; then
  check=1
  shift
fi
binary=${1:?usage: poke.sh [--check] path/to/hot_reload}
binary=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")

work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/hot_reload.XXXXXX")
config_dir=$work/config
config=$config_dir/routes.json
log=$work/output.log
pid=
tail_pid=
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
  if [[ -n "$tail_pid" ]]; then kill "$tail_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n==> %s\n' "$*"; }

fail() {
  echo "poke: FAILED: $*" >&2
  if [[ $check -eq 1 ]]; then
    echo "--- program output ---" >&2
    cat "$log" >&2
  fi
  exit 1
}

# Waits until a line matching the extended regex $1 appears in the output
# after line $2 (default: anywhere).
wait_for() {
  local pattern=$1 after=${2:-0} waited=0
  until tail -n +"$((after + 1))" "$log" | grep -Eq -- "$pattern"; do
    if ! kill -0 "$pid" 2>/dev/null; then fail "program exited while waiting for: $pattern"; fi
    sleep 0.05
    waited=$((waited + 1))
    if [[ $waited -ge 600 ]]; then fail "no line matching: $pattern"; fi
  done
}

lines() { wc -l < "$log"; }

routes() {  # greeting, api backend, max_connections
  printf '{\n  "greeting": "%s",\n  "routes": {"/": "web-1", "/api": "%s", "/static": "cdn-1"},\n  "max_connections": %s\n}\n' "$1" "$2" "$3"
}

# A ConfigMap volume as the kubelet lays it out: routes.json -> ..data/routes.json,
# ..data -> ..<generation>/, a directory holding the real file.
generation=0
configmap_update() {
  local old=..gen_$generation
  generation=$((generation + 1))
  local new=..gen_$generation
  mkdir "$config_dir/$new"
  printf '%s' "$1" > "$config_dir/$new/routes.json"
  ln -s "$new" "$config_dir/..data_tmp"
  mv -T "$config_dir/..data_tmp" "$config_dir/..data"   # rename(2): atomic
  rm -rf "${config_dir:?}/$old"
}

mkdir -p "$config_dir"
mkdir "$config_dir/..gen_0"
routes hello api-1 100 > "$config_dir/..gen_0/routes.json"
ln -s ..gen_0 "$config_dir/..data"
ln -s ..data/routes.json "$config"

say "starting: $binary --readers=2 --report_ms=500 $config"
"$binary" --readers=2 --report_ms=500 "$config" > "$log" 2>&1 &
pid=$!
if [[ $check -eq 0 ]]; then
  tail -n +1 -f "$log" &
  tail_pid=$!
fi
wait_for "serving version 1 from"
wait_for "serving version 1: "

say "in-place write through the symlink (greeting: hi)"
mark=$(lines)
routes hi api-1 100 > "$config"
wait_for "published version 2 .* after the file was written" "$mark"
wait_for "all 2 readers serve version 2, the last of them .* after it was published" "$mark"

say "Kubernetes ConfigMap update: new ..gen_1, ..data swapped (api -> api-2)"
mark=$(lines)
configmap_update "$(routes hi api-2 100)"
wait_for "published version 3" "$mark"
wait_for "serving version 3: .*GET /api/users -> api-2" "$mark"

say "broken edit (a ConfigMap update with a missing brace): rejected"
mark=$(lines)
configmap_update "$(routes hi api-3 100 | head -n 3)"
wait_for "REJECTED, readers keep version 3: config file .*JSON parse error" "$mark"
say "readers go on with version 3"
wait_for "serving version 3: .*GET /api/users -> api-2" "$(lines)"

say "max_connections 0: valid JSON, rejected by the validation hook"
mark=$(lines)
configmap_update "$(routes hi api-3 0)"
wait_for "REJECTED, readers keep version 3: .*rejected by validation: max_connections is 0" "$mark"

say "fixed (api -> api-3)"
mark=$(lines)
configmap_update "$(routes fixed api-3 200)"
wait_for "published version 4" "$mark"
wait_for "serving version 4: .*GET /api/users -> api-3" "$mark"

say "editor-style save: write .routes.json.swp, rename it over routes.json"
mark=$(lines)
routes saved api-4 200 > "$config_dir/.routes.json.swp"
mv "$config_dir/.routes.json.swp" "$config"
wait_for "published version 5" "$mark"

say "delete: rejected (not found), readers keep version 5"
mark=$(lines)
rm "$config"
wait_for "REJECTED, readers keep version 5: .*No such file" "$mark"
say "re-create"
mark=$(lines)
routes recreated api-5 300 > "$config"
wait_for "published version 6" "$mark"

say "SIGHUP: reload by hand"
mark=$(lines)
kill -HUP "$pid"
wait_for "reload \(manual\): file unchanged, still version 6" "$mark"

say "SIGINT: stop"
mark=$(lines)
kill -INT "$pid"
status=0
wait "$pid" || status=$?
pid=
tail -n +"$((mark + 1))" "$log" | grep -Eq "summary: [0-9]+ requests served; versions published 6, reloads rejected 3" ||
  fail "no summary, or not the expected counts"
[[ $status -eq 0 ]] || fail "hot_reload exited with status $status"
if [[ $check -eq 1 ]]; then
  echo "--- program output ---"
  cat "$log"
fi
say "done: every change was picked up, every bad one rejected, readers never stopped"
