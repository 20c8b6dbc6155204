#!/usr/bin/env bash
# tools/setup and tools/bazel with stand-ins for apt-get, dpkg-query and the
# real Bazel (nothing is installed, no network is used): which packages each
# installs, waiting for a held lock, reporting a failed apt-get update, the
# logs per package, optional groups, and `tools/bazel version` working when a
# benchmark peer cannot be installed.
set -uo pipefail
tools=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../tools" && pwd)
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/setup_test.XXXXXX")
failures=0

# --- Stand-ins -------------------------------------------------------------------
# State in $work/state: `installed` (one package a line), `updated` once
# apt-get update succeeded, `calls` (every apt-get command line).
# Behaviour from variables: STUB_UNINSTALLABLE (never installs),
# STUB_NEEDS_UPDATE (installs only after an update), STUB_UPDATE_FAILS,
# STUB_DPKG_LOCKED (install reports the dpkg lock held), and
# $work/state/lists_locked (update reports the lists' lock held that many
# more times).
cat >"$work/dpkg-query" <<'STUB'
#!/usr/bin/env bash
name=${!#}
if grep -qx -- "$name" "$STATE/installed" 2>/dev/null; then
  echo -n "install ok installed"
else
  exit 1
fi
STUB
cat >"$work/apt-get" <<'STUB'
#!/usr/bin/env bash
echo "$*" >>"$STATE/calls"
has() { [[ " $1 " == *" $2 "* ]]; }
case " $* " in
  *" update "*)
    n=$(cat "$STATE/lists_locked" 2>/dev/null || echo 0)
    if [[ $n -gt 0 ]]; then
      echo $((n - 1)) >"$STATE/lists_locked"
      echo "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 42 (apt-get)"
      exit 100
    fi
    if [[ -n ${STUB_UPDATE_FAILS:-} ]]; then
      echo "Err:1 http://deb.debian.org/debian bookworm InRelease"
      echo "  Temporary failure resolving 'deb.debian.org'"
      exit 100
    fi
    touch "$STATE/updated"
    exit 0
    ;;
  *" install "*)
    name=${!#}
    [[ " $* " == *" -o DPkg::Lock::Timeout="* ]] || { echo "no lock timeout given"; exit 99; }
    if [[ -n ${STUB_DPKG_LOCKED:-} ]]; then
      echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 42 (apt-get)"
      echo "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend)"
      exit 100
    fi
    if has "${STUB_UNINSTALLABLE:-}" "$name" ||
        { has "${STUB_NEEDS_UPDATE:-}" "$name" && [[ ! -e $STATE/updated ]]; }; then
      echo "E: Unable to locate package $name"
      exit 100
    fi
    echo "$name" >>"$STATE/installed"
    echo "Setting up $name ..."
    ;;
esac
STUB
cat >"$work/bazel-real" <<'STUB'
#!/usr/bin/env bash
echo "real bazel: $*"
STUB
chmod +x "$work/dpkg-query" "$work/apt-get" "$work/bazel-real"

export RCU_SETUP_APT_GET="$work/apt-get" RCU_SETUP_DPKG_QUERY="$work/dpkg-query"
export BAZEL_REAL="$work/bazel-real"
all_packages=$("$tools/setup" --list | awk '{print $2}')

# A fresh state where everything is installed except "$@".
fresh() {
  export STATE="$work/state.$RANDOM$RANDOM" RCU_SETUP_LOG_DIR="$work/logs.$RANDOM$RANDOM"
  mkdir -p "$STATE"
  unset STUB_UNINSTALLABLE STUB_NEEDS_UPDATE STUB_UPDATE_FAILS STUB_DPKG_LOCKED
  for p in $all_packages; do
    [[ " $* " == *" $p "* ]] || echo "$p" >>"$STATE/installed"
  done
  touch "$STATE/calls"
}

# run NAME EXPECTED_RC COMMAND...: runs it, output in $out.
run() {
  local name=$1 expected=$2
  shift 2
  out=$("$@" 2>&1)
  rc=$?
  current=$name
  if [[ $rc -ne $expected ]]; then fail "exit $rc, expected $expected"; fi
}
fail() {
  echo "FAILED: $current: $*"
  echo "$out" | sed 's/^/    | /'
  failures=$((failures + 1))
}
expect_output() { grep -qF -- "$1" <<<"$out" || fail "output lacks: $1"; }
expect_no_output() { ! grep -qF -- "$1" <<<"$out" || fail "output has: $1"; }
expect_calls() { [[ $(grep -c -- "$1" "$STATE/calls") -eq $2 ]] || fail "$2 apt-get calls matching '$1' expected: $(cat "$STATE/calls")"; }

# Installs only what is missing, one log per package.
fresh liburcu-dev libtbb-dev
run "core installs only core's missing package" 0 "$tools/setup" core
expect_calls "install" 1
expect_calls "install --no-install-recommends liburcu-dev" 1
expect_calls "update" 0
[[ -s $RCU_SETUP_LOG_DIR/liburcu-dev.log ]] || fail "no log $RCU_SETUP_LOG_DIR/liburcu-dev.log"
expect_output "logs in $RCU_SETUP_LOG_DIR"
expect_output "all packages installed"
run "then nothing is missing" 0 "$tools/setup" --quiet core
[[ -z $out ]] || fail "--quiet printed something"

fresh
run "nothing missing: no apt-get at all" 0 "$tools/setup"
expect_calls "." 0

# Stale package lists: update once, then install.
fresh libabsl-dev liburcu-dev
export STUB_NEEDS_UPDATE="libabsl-dev liburcu-dev"
run "stale lists are updated once" 0 "$tools/setup" core
expect_calls "update" 1
expect_calls "install --no-install-recommends liburcu-dev" 2  # before and after the update
expect_calls "install --no-install-recommends libabsl-dev" 1
[[ -e $RCU_SETUP_LOG_DIR/apt-get-update.log ]] || fail "no apt-get-update.log"

# A failed apt-get update is reported, with its error.
fresh libabsl-dev
export STUB_UNINSTALLABLE=libabsl-dev STUB_UPDATE_FAILS=1
run "a failed update is reported" 1 "$tools/setup" core
expect_output "apt-get update FAILED (exit 100)"
expect_output "Temporary failure resolving 'deb.debian.org'"
expect_output "FAILED to install 'libabsl-dev', and apt-get update failed too"
expect_output "not installed: libabsl-dev"

# A package that does not exist, with working lists.
fresh libabsl-dev
export STUB_UNINSTALLABLE=libabsl-dev
run "an uninstallable package is named" 1 "$tools/setup" core
expect_output "FAILED to install Debian package 'libabsl-dev' (see $RCU_SETUP_LOG_DIR/libabsl-dev.log)"
expect_no_output "update FAILED"
grep -q "Unable to locate package libabsl-dev" "$RCU_SETUP_LOG_DIR/libabsl-dev.log" ||
  fail "the package's log lacks apt-get's error"

# A held dpkg lock: waited for (apt-get's DPkg::Lock::Timeout), then named,
# and never taken for a missing package (no update).
fresh g++
export STUB_DPKG_LOCKED=1 RCU_SETUP_LOCK_TIMEOUT=7
run "a held dpkg lock is named, not taken for a missing package" 1 "$tools/setup" core
expect_calls "-o DPkg::Lock::Timeout=7 install --no-install-recommends g++" 1
expect_calls "update" 0
expect_output "another apt-get or dpkg held the dpkg lock for more than 7 s"
unset RCU_SETUP_LOCK_TIMEOUT

# A held lock on the package lists: apt-get update is retried until it is free.
fresh libabsl-dev
export STUB_NEEDS_UPDATE=libabsl-dev
echo 2 >"$STATE/lists_locked"
run "apt-get update waits for the lists' lock" 0 "$tools/setup" core
expect_calls "update" 3
expect_calls "install --no-install-recommends libabsl-dev" 2

# Optional groups: a failure is reported, the rest installed, exit 0.
fresh libtbb-dev valgrind
export STUB_UNINSTALLABLE=libtbb-dev
run "--optional goes on past a failure" 0 "$tools/setup" --optional bench
expect_calls "install --no-install-recommends valgrind" 1
expect_output "not installed (optional): libtbb-dev"
run "without --optional it fails" 1 "$tools/setup" bench

run "an unknown group is refused" 2 "$tools/setup" benchmarks

# --- tools/bazel -------------------------------------------------------------------
fresh libtbb-dev clang-14
export STUB_UNINSTALLABLE=libtbb-dev
run "bazel version installs nothing" 0 "$tools/bazel" version
expect_output "real bazel: version"
expect_calls "." 0
run "bazel shutdown installs nothing" 0 "$tools/bazel" --output_base=/tmp/x shutdown
expect_calls "." 0
run "bazel build //rcu needs core and test only" 0 "$tools/bazel" build //rcu
expect_calls "." 0
expect_output "real bazel: build //rcu"
run "a benchmark with an uninstallable peer still runs Bazel" 0 \
  "$tools/bazel" run -c opt //bench:showcase
expect_calls "install --no-install-recommends libtbb-dev" 2
expect_output "not installed (optional): libtbb-dev"
expect_output "real bazel: run -c opt //bench:showcase"
run "--config=clang installs clang" 0 "$tools/bazel" test --config=clang //...
expect_calls "install --no-install-recommends clang-14" 1
fresh clang-14
run "--config fuzz (two words) installs clang" 0 "$tools/bazel" test --config fuzz //fuzz/...
expect_calls "install --no-install-recommends clang-14" 1
fresh clang-14
run "--config=clang-asan installs clang" 0 "$tools/bazel" test --config=clang-asan //...
expect_calls "install --no-install-recommends clang-14" 1
fresh clang-14
run "--config=tsan does not" 0 "$tools/bazel" test --config=tsan //...
expect_calls "." 0
fresh libtbb-dev
export STUB_UNINSTALLABLE=libtbb-dev
run "bazel test //... covers //bench: its packages, optionally" 0 "$tools/bazel" test //...
expect_calls "install --no-install-recommends libtbb-dev" 2
expect_output "real bazel: test //..."
fresh libtbb-dev
run "a startup option's value, as a separate word, is not the command" 0 \
  "$tools/bazel" --output_base /tmp/ob test //bench:libcds_peer_test
expect_calls "install --no-install-recommends libtbb-dev" 1
expect_output "real bazel: --output_base /tmp/ob test //bench:libcds_peer_test"
fresh libgtest-dev
export STUB_UNINSTALLABLE=libgtest-dev
run "a missing test package fails bazel test" 1 "$tools/bazel" test //...
expect_no_output "real bazel"

if [[ $failures -ne 0 ]]; then
  echo "$failures checks failed"
  exit 1
fi
echo "all checks passed"
