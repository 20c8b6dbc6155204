"""The one file a consumer WORKSPACE loads to depend on rcu_containers.

    local_repository(name = "rcu_containers", path = "/path/to/rcu_containers")

    load("@rcu_containers//bazel:deps.bzl", "rcu_containers_dependencies")

    rcu_containers_dependencies(bazel4_offline = True)

`rcu_containers_dependencies` declares liburcu, Abseil, GoogleTest, Google
Benchmark, nlohmann-json and toml++ from Debian's -dev packages under their
upstream repository names, and the benchmark peers oneTBB (`@tbb`),
libcuckoo (`@libcuckoo`) and libcds (`@libcds`). Repository rules run only
when a target needs them, so a consumer who builds no benchmark needs none of
the peers installed.
A repository that the WORKSPACE already declared (say, Abseil built from
source) is left alone, so declare your own versions before calling it.

`bazel4_offline = True` also declares local stand-ins for the `rules_cc`,
`rules_java` and `remote_coverage_tools` repositories that Bazel 4.2.3 would
otherwise try to download. Leave it False on a Bazel that has the real rules.
"""

load(
    "//bazel/internal:bazel4_offline.bzl",
    _bazel4_offline_stand_ins = "bazel4_offline_stand_ins",
)
load(
    "//bazel/internal:system_libs.bzl",
    "system_abseil",
    "system_benchmark",
    "system_googletest",
    "system_liburcu",
    "system_nlohmann_json",
    "system_tomlplusplus",
    "system_tbb",
    "system_libcuckoo",
    "system_libcds",
)

def _maybe(rule, name):
    if name not in native.existing_rules():
        rule(name = name)

def rcu_containers_dependencies(bazel4_offline = False):
    """Declares every external repository rcu_containers builds against.

    Args:
      bazel4_offline: also declare local stand-ins for the repositories that
        Bazel 4.2.3's built-in WORKSPACE suffix downloads.
    """
    if bazel4_offline:
        _bazel4_offline_stand_ins()
    _maybe(system_liburcu, "liburcu")
    _maybe(system_abseil, "com_google_absl")
    _maybe(system_googletest, "com_google_googletest")
    _maybe(system_benchmark, "com_github_google_benchmark")
    _maybe(system_nlohmann_json, "nlohmann_json")
    _maybe(system_tomlplusplus, "tomlplusplus")
    _maybe(system_tbb, "tbb")
    _maybe(system_libcuckoo, "libcuckoo")
    _maybe(system_libcds, "libcds")
