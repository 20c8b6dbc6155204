"""Repository rules that expose Debian's -dev packages to Bazel.

Every rule checks that its package is installed and fails with the package
name and the command to run when it is not, instead of a compiler error deep
inside a build. The benchmarks' packages (Google Benchmark, oneTBB, libcuckoo, libcds)
are optional: when one is missing, its repository's targets fail to build,
naming it, and nothing else needs it. Repositories keep their upstream names (`com_google_absl`,
`com_google_googletest`, `com_github_google_benchmark`), so a consumer who
builds those from source can declare them first and ours are skipped.
"""

_SETUP_HINT = ("Run tools/setup in the rcu_containers checkout, " +
               "or install it with: apt-get install %s")

def _multiarch(ctx):
    result = ctx.execute(["cc", "-print-multiarch"])
    triple = result.stdout.strip() if result.return_code == 0 else ""
    return triple or "x86_64-linux-gnu"

def _fail_missing(package, what):
    fail(("Debian package %s is not installed (%s not found). " + _SETUP_HINT) %
         (package, what, package))

def _find_file(ctx, candidates):
    for candidate in candidates:
        if ctx.path(candidate).exists:
            return ctx.path(candidate)
    return None

def _require_header(ctx, header, package):
    triple = _multiarch(ctx)
    found = _find_file(ctx, [
        "/usr/include/%s/%s" % (triple, header),
        "/usr/include/" + header,
        "/usr/local/include/" + header,
    ])
    if not found:
        _fail_missing(package, "header <%s>" % header)
    return found

def _has_header(ctx, header):
    triple = _multiarch(ctx)
    return _find_file(ctx, [
        "/usr/include/%s/%s" % (triple, header),
        "/usr/include/" + header,
        "/usr/local/include/" + header,
    ]) != None

def _has_library(ctx, lib):
    triple = _multiarch(ctx)
    for directory in ["/usr/lib/" + triple, "/usr/lib", "/usr/local/lib"]:
        for suffix in [".so", ".a"]:
            if ctx.path("%s/lib%s%s" % (directory, lib, suffix)).exists:
                return True
    return False

def _optional_package(ctx, package, group, targets, header, libs = []):
    """For a package only the benchmarks need: if it is not installed, its
    targets exist but fail to build, naming the package, so that nothing
    else (a `bazel test //...` that only loads the benchmarks) needs it.
    Returns True if it is installed."""
    if _has_header(ctx, header) and all([_has_library(ctx, lib) for lib in libs]):
        return True
    message = ("rcu_containers: Debian package %s is not installed. " +
               "Run tools/setup %s in the rcu_containers checkout, or apt-get install %s") % (
        package,
        group,
        package,
    )
    lines = [
        "package(default_visibility = [\"//visibility:public\"])",
        "",
        "# %s is not installed: every target here fails to build, naming it." % package,
        "genrule(",
        "    name = \"not_installed\",",
        "    outs = [\"not_installed.h\"],",
        "    cmd = \"echo '%s' >&2; exit 1\"," % message,
        ")",
    ]
    for target in targets:
        lines.append("cc_library(name = \"%s\", hdrs = [\":not_installed.h\"])" % target)
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    ctx.file("BUILD", "\n".join(lines) + "\n")
    return False

def _require_library(ctx, lib, package):
    triple = _multiarch(ctx)
    candidates = []
    for directory in ["/usr/lib/" + triple, "/usr/lib", "/usr/local/lib"]:
        candidates += ["%s/lib%s.so" % (directory, lib), "%s/lib%s.a" % (directory, lib)]
    if not _find_file(ctx, candidates):
        _fail_missing(package, "library lib%s" % lib)

# --- liburcu -----------------------------------------------------------------

_LIBURCU_BUILD = """\
package(default_visibility = ["//visibility:public"])

# Headers live in the compiler's multiarch system include directory.
# liburcu-memb is the flavor the RCU core wraps; liburcu-cds holds rculfhash,
# used by the benchmarks as a peer.
cc_library(
    name = "liburcu",
    # <liburcu_config/version.h>: the installed version, from its pkg-config
    # file (0.0.0 if there is none), and whether the inline read side was
    # checked against it (rcu/internal/urcu.h).
    hdrs = ["version.h"],
    include_prefix = "liburcu_config",
    linkopts = ["-lurcu-memb", "-lurcu-common", "-lpthread"],
)

cc_library(
    name = "liburcu_cds",
    linkopts = ["-lurcu-cds"],
    deps = [":liburcu"],
)
"""

def _liburcu_version(ctx):
    """Returns [major, minor, patch] from liburcu's pkg-config file, or zeros."""
    pc = _find_file(ctx, [
        "/usr/lib/%s/pkgconfig/liburcu-memb.pc" % _multiarch(ctx),
        "/usr/lib/pkgconfig/liburcu-memb.pc",
        "/usr/local/lib/pkgconfig/liburcu-memb.pc",
    ])
    if pc:
        for line in ctx.read(pc).splitlines():
            if line.startswith("Version:"):
                parts = line[len("Version:"):].strip().split(".")
                if len(parts) >= 2 and all([p.isdigit() for p in parts[:3]]):
                    return [int(p) for p in (parts + ["0"])[:3]]
    return [0, 0, 0]

# The liburcu versions the inline read side was checked against (one
# MAJOR.MINOR.PATCH per line); the CMake build reads the same file.
_LIBURCU_CHECKED_VERSIONS = Label("//rcu:internal/liburcu_checked_versions.txt")

def _liburcu_checked_versions(ctx):
    versions = []
    for line in ctx.read(ctx.path(_LIBURCU_CHECKED_VERSIONS)).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            versions.append(line)
    return versions

def _liburcu_impl(ctx):
    _require_header(ctx, "urcu/urcu-memb.h", "liburcu-dev")
    for lib in ["urcu-memb", "urcu-common", "urcu-cds"]:
        _require_library(ctx, lib, "liburcu-dev")
    major, minor, patch = _liburcu_version(ctx)
    version = "%d.%d.%d" % (major, minor, patch)
    checked_versions = _liburcu_checked_versions(ctx)
    checked = version in checked_versions
    if not checked:
        # buildifier: disable=print
        print(("WARNING: liburcu %s has not been checked against rcu_containers' inline " +
               "read side (checked: %s). The read side falls back to call mode " +
               "(as with --define=rcu_lgpl_inline=false): correct, but slower. " +
               "See rcu/internal/urcu.h.") %
              (version if major or minor or patch else "(version unknown)",
               ", ".join(checked_versions) or "none"))
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    ctx.file("BUILD", _LIBURCU_BUILD)
    ctx.file("version.h", "\n".join([
        "// Generated by rcu_containers' system_liburcu rule.",
        "#define RCU_LIBURCU_VERSION_MAJOR %d" % major,
        "#define RCU_LIBURCU_VERSION_MINOR %d" % minor,
        "#define RCU_LIBURCU_VERSION_PATCH %d" % patch,
        "// 1: rcu/internal/liburcu_checked_versions.txt lists this version, and",
        "// the inline read side may use its layouts; 0: call mode.",
        "#define RCU_LIBURCU_LAYOUT_CHECKED %d" % (1 if checked else 0),
        "",
    ]))

system_liburcu = repository_rule(implementation = _liburcu_impl, local = True)

# --- Abseil ------------------------------------------------------------------

# Abseil's pkg-config module names are its Bazel target names with an `absl_`
# prefix; this table gives the Bazel package of each public one. Modules not
# listed stay reachable as dependencies of the ones that are.
_ABSL_PACKAGES = {
    "algorithm": ["algorithm"],
    "base": [
        "atomic_hook",
        "base",
        "base_internal",
        "config",
        "core_headers",
        "dynamic_annotations",
        "endian",
        "errno_saver",
        "fast_type_id",
        "log_severity",
        "malloc_internal",
        "prefetch",
        "pretty_function",
        "raw_logging_internal",
        "spinlock_wait",
        "strerror",
        "throw_delegate",
    ],
    "cleanup": ["cleanup"],
    "container": [
        "btree",
        "fixed_array",
        "flat_hash_map",
        "flat_hash_set",
        "hash_function_defaults",
        "inlined_vector",
        "layout",
        "node_hash_map",
        "node_hash_set",
        "raw_hash_set",
    ],
    "debugging": [
        "debugging",
        "failure_signal_handler",
        "leak_check",
        "stacktrace",
        "symbolize",
    ],
    "functional": ["any_invocable", "bind_front", "function_ref"],
    "hash": ["city", "hash", "low_level_hash"],
    "memory": ["memory"],
    "meta": ["type_traits"],
    "numeric": ["bits", "int128"],
    "status": ["status", "statusor"],
    "strings": ["cord", "str_format", "strings"],
    "synchronization": ["synchronization"],
    "time": ["civil_time", "time", "time_zone"],
    "types": [
        "any",
        "bad_any_cast",
        "bad_optional_access",
        "bad_variant_access",
        "compare",
        "optional",
        "span",
        "variant",
    ],
    "utility": ["utility"],
}

# Targets whose Bazel name differs from the pkg-config module name.
_ABSL_RENAMED = {
    "algorithm:container": "algorithm_container",
    "random:random": "random_random",
    "random:distributions": "random_distributions",
    "random:bit_gen_ref": "random_bit_gen_ref",
    "random:seed_sequences": "random_seed_sequences",
    "flags:flag": "flags",
    "flags:parse": "flags_parse",
    "flags:usage": "flags_usage",
}

def _parse_pc(text):
    """Returns (libs, requires) of one pkg-config file."""
    libs = []
    requires = []
    for line in text.splitlines():
        if line.startswith("Libs:"):
            for token in line[len("Libs:"):].split(" "):
                if token.startswith("-l"):
                    libs.append(token)
        elif line.startswith("Requires:"):
            for item in line[len("Requires:"):].split(","):
                name = item.strip().split(" ")[0]
                if name:
                    requires.append(name)
    return libs, requires

def _abseil_impl(ctx):
    _require_header(ctx, "absl/base/config.h", "libabsl-dev")
    pc_dir = ctx.path("/usr/lib/%s/pkgconfig" % _multiarch(ctx))
    modules = {}
    if pc_dir.exists:
        for entry in pc_dir.readdir():
            if entry.basename.startswith("absl_") and entry.basename.endswith(".pc"):
                modules[entry.basename[:-len(".pc")]] = _parse_pc(ctx.read(entry))
    if "absl_base" not in modules:
        _fail_missing("libabsl-dev", "pkg-config file absl_base.pc")

    root = ["package(default_visibility = [\"//visibility:public\"])", ""]
    for module in sorted(modules.keys()):
        libs, requires = modules[module]
        deps = ["\":%s\"" % r for r in requires if r in modules]
        root.append("cc_library(name = \"%s\", linkopts = %s, deps = [%s])" %
                    (module, repr(libs), ", ".join(deps)))
    ctx.file("BUILD", "\n".join(root) + "\n")

    packages = {}
    for package, targets in _ABSL_PACKAGES.items():
        for target in targets:
            packages.setdefault(package, {})[target] = "absl_" + target
    for label, module in _ABSL_RENAMED.items():
        package, target = label.split(":")
        packages.setdefault(package, {})[target] = module
    for package, targets in packages.items():
        lines = ["package(default_visibility = [\"//visibility:public\"])", ""]
        for target in sorted(targets.keys()):
            module = targets[target]
            if module in modules:
                lines.append("alias(name = \"%s\", actual = \"//:%s\")" % (target, module))
            else:
                # Header-only in this Abseil release.
                lines.append("cc_library(name = \"%s\")" % target)
        ctx.file("absl/%s/BUILD" % package, "\n".join(lines) + "\n")
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)

system_abseil = repository_rule(implementation = _abseil_impl, local = True)

# --- GoogleTest, built from Debian's sources ---------------------------------

# Built from /usr/src/googletest rather than linked from libgtest.a so that the
# sanitizer configurations instrument it like the code under test.
_GOOGLETEST_BUILD = """\
package(default_visibility = ["//visibility:public"])

cc_library(
    name = "gtest",
    srcs = glob(
        [
            "googletest/src/*.cc",
            "googletest/src/*.h",
            "googlemock/src/*.cc",
        ],
        exclude = [
            "googletest/src/gtest-all.cc",
            "googletest/src/gtest_main.cc",
            "googlemock/src/gmock-all.cc",
            "googlemock/src/gmock_main.cc",
        ],
    ),
    hdrs = glob([
        "googletest/include/**/*.h",
        "googlemock/include/**/*.h",
    ]),
    includes = [
        "googlemock",
        "googlemock/include",
        "googletest",
        "googletest/include",
    ],
    linkopts = ["-pthread"],
)

cc_library(
    name = "gtest_main",
    srcs = ["googlemock/src/gmock_main.cc"],
    deps = [":gtest"],
)
"""

def _googletest_impl(ctx):
    source = ctx.path("/usr/src/googletest")
    if not source.get_child("googletest").get_child("src").exists:
        _fail_missing("googletest", "/usr/src/googletest")
    ctx.symlink(source.get_child("googletest"), "googletest")
    ctx.symlink(source.get_child("googlemock"), "googlemock")
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    ctx.file("BUILD", _GOOGLETEST_BUILD)

system_googletest = repository_rule(implementation = _googletest_impl, local = True)

# --- Google Benchmark --------------------------------------------------------

_BENCHMARK_BUILD = """\
package(default_visibility = ["//visibility:public"])

cc_library(name = "benchmark", linkopts = ["-lbenchmark", "-lpthread"])

cc_library(
    name = "benchmark_main",
    linkopts = ["-lbenchmark_main"],
    deps = [":benchmark"],
)
"""

def _benchmark_impl(ctx):
    if not _optional_package(ctx, "libbenchmark-dev", "bench", ["benchmark", "benchmark_main"],
                             "benchmark/benchmark.h", ["benchmark", "benchmark_main"]):
        return
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    ctx.file("BUILD", _BENCHMARK_BUILD)

system_benchmark = repository_rule(implementation = _benchmark_impl, local = True)

# --- nlohmann-json (header-only) ---------------------------------------------

_NLOHMANN_JSON_BUILD = """\
package(default_visibility = ["//visibility:public"])

# Header-only; <nlohmann/json.hpp> is on the compiler's default include path.
cc_library(name = "json")
"""

def _nlohmann_json_impl(ctx):
    _require_header(ctx, "nlohmann/json.hpp", "nlohmann-json3-dev")
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    ctx.file("BUILD", _NLOHMANN_JSON_BUILD)

system_nlohmann_json = repository_rule(implementation = _nlohmann_json_impl, local = True)

# --- toml++ (header-only) ----------------------------------------------------

_TOMLPLUSPLUS_BUILD = """\
package(default_visibility = ["//visibility:public"])

# Header-only (TOML_HEADER_ONLY defaults to 1); <toml++/toml.h> is on the
# compiler's default include path.
cc_library(name = "tomlplusplus")
"""

def _tomlplusplus_impl(ctx):
    _require_header(ctx, "toml++/toml.h", "libtomlplusplus-dev")
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    ctx.file("BUILD", _TOMLPLUSPLUS_BUILD)

system_tomlplusplus = repository_rule(implementation = _tomlplusplus_impl, local = True)

# --- oneTBB (benchmark peer) ---------------------------------------------------

_TBB_BUILD = """\
package(default_visibility = ["//visibility:public"])

# tbb::concurrent_hash_map, a peer of rcu::HashMap in bench/hash_map_bench.cc.
# Headers are on the compiler's default include path.
cc_library(name = "tbb", linkopts = ["-ltbb", "-lpthread"])
"""

def _tbb_impl(ctx):
    if not _optional_package(ctx, "libtbb-dev", "bench", ["tbb"], "tbb/concurrent_hash_map.h",
                             ["tbb"]):
        return
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    ctx.file("BUILD", _TBB_BUILD)

system_tbb = repository_rule(implementation = _tbb_impl, local = True)

# --- libcuckoo (header-only, benchmark peer) -----------------------------------

_LIBCUCKOO_BUILD = """\
package(default_visibility = ["//visibility:public"])

# Header-only; <libcuckoo/cuckoohash_map.hh> is on the compiler's default
# include path. A peer of rcu::HashMap in bench/hash_map_bench.cc.
cc_library(name = "libcuckoo", linkopts = ["-lpthread"])
"""

def _libcuckoo_impl(ctx):
    if not _optional_package(ctx, "libcuckoo-dev", "bench", ["libcuckoo"],
                             "libcuckoo/cuckoohash_map.hh"):
        return
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    ctx.file("BUILD", _LIBCUCKOO_BUILD)

system_libcuckoo = repository_rule(implementation = _libcuckoo_impl, local = True)

# --- libcds (benchmark peer) ---------------------------------------------------

_LIBCDS_BUILD = """\
package(default_visibility = ["//visibility:public"])

# cds::container::SplitListMap over libcds's own URCU, a peer of rcu::HashMap
# in bench/hash_map_bench.cc. Headers (<cds/...>) are on the compiler's default
# include path. Debian builds libcds with -mcx16; code that includes its
# headers should be compiled with -mcx16 too (copts do not propagate, so the
# including target sets it, see bench/BUILD's libcds_peer).
cc_library(name = "libcds", linkopts = ["-lcds", "-lpthread"])
"""

def _libcds_impl(ctx):
    if not _optional_package(ctx, "libcds-dev", "bench", ["libcds"],
                             "cds/container/split_list_map_rcu.h", ["cds"]):
        return
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    ctx.file("BUILD", _LIBCDS_BUILD)

system_libcds = repository_rule(implementation = _libcds_impl, local = True)
