#!/usr/bin/env bash
# bench/crossbeam/run.sh [SECONDS]: builds bench/crossbeam (crossbeam-epoch's
# pin, nested pin and defer_destroy, measured) offline with Debian's rustc
# and cargo against Debian's packaged crates, then runs it. Prints the
# program's "result" lines; //bench:showcase folds them into its tables.
#
# Exits 3, saying why on stderr, when the Rust toolchain or the crates are
# missing (tools/setup installs rustc, cargo and librust-crossbeam-epoch-dev);
# the showcase then skips the crossbeam-epoch rows. Nothing is downloaded:
# cargo runs --offline with crates.io replaced by /usr/share/cargo/registry.
# The build is cached in ${XDG_CACHE_HOME:-~/.cache}/rcu_containers/crossbeam.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
seconds=${1:-0.2}
# Debian's toolchain, not a rustup one earlier on PATH: the packaged crates
# are vetted against Debian's rustc (1.63).
cargo=/usr/bin/cargo
rustc=/usr/bin/rustc
registry=/usr/share/cargo/registry
missing() { echo "crossbeam: $* (tools/setup installs rustc, cargo and librust-crossbeam-epoch-dev)" >&2; exit 3; }
[[ -x $cargo && -x $rustc ]] || missing "no Debian Rust toolchain ($cargo, $rustc)"
compgen -G "$registry/crossbeam-epoch-*" >/dev/null || missing "no crossbeam-epoch crate in $registry"

cache=${XDG_CACHE_HOME:-$HOME/.cache}/rcu_containers/crossbeam
mkdir -p "$cache/src" "$cache/cargo_home"
# A copy of the sources (the runfiles tree is read-only; cargo writes
# Cargo.lock beside Cargo.toml).
cp "$here/Cargo.toml" "$cache/Cargo.toml"
cp "$here/src/main.rs" "$cache/src/main.rs"
cat >"$cache/cargo_home/config.toml" <<CONFIG
[source.crates-io]
replace-with = "debian"
[source.debian]
directory = "$registry"
[net]
offline = true
CONFIG
echo "crossbeam: building with $($rustc --version) (offline, $registry)" >&2
CARGO_HOME="$cache/cargo_home" RUSTC=$rustc "$cargo" build --release --offline --quiet \
  --manifest-path "$cache/Cargo.toml" --target-dir "$cache/target" >&2 ||
  { echo "crossbeam: cargo build failed" >&2; exit 4; }
"$cache/target/release/crossbeam_showcase" "$seconds"
