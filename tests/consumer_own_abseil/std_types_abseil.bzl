"""A stand-in for Abseil built from upstream's source, for compiling only.

Abseil's upstream source ships `absl/base/options.h` with
ABSL_OPTION_USE_STD_STRING_VIEW (and _ANY, _OPTIONAL, _VARIANT) set to 2:
under C++17, absl::string_view *is* std::string_view. Debian builds its
libabsl with them set to 0, so absl::string_view is a class of its own, and
code that overloads on both types compiles against Debian's Abseil but not
against a consumer's own.

This repository is Debian's Abseil headers with upstream's options.h
settings: every header is a symlink to /usr/include/absl, except
absl/base/options.h, which is copied with those four options set to 2. Its
BUILD files have Abseil's package and target names, all header-only.

Only compiling against it is sound. Debian's compiled libabsl was built with
the other options.h: a type that holds an absl::string_view (absl::AlphaNum,
taken by absl::StrCat) has another layout on each side (libstdc++'s
std::string_view keeps its length first), so a program linked from the two
would pass garbage without a linker error. Build with
`--output_groups=compilation_outputs`: the object files, no linking.
"""

# Abseil's Bazel packages and the targets rcu_containers, its tests and
# benchmarks use (and a few more); all of them are the same headers.
_PACKAGES = {
    "algorithm": ["algorithm", "container"],
    "base": ["base", "config", "core_headers", "dynamic_annotations", "log_severity"],
    "cleanup": ["cleanup"],
    "container": ["btree", "fixed_array", "flat_hash_map", "flat_hash_set", "inlined_vector", "node_hash_map"],
    "debugging": ["stacktrace", "symbolize"],
    "functional": ["any_invocable", "bind_front", "function_ref"],
    "hash": ["hash"],
    "memory": ["memory"],
    "meta": ["type_traits"],
    "numeric": ["bits", "int128"],
    "status": ["status", "statusor"],
    "strings": ["cord", "str_format", "strings"],
    "synchronization": ["synchronization"],
    "time": ["time"],
    "types": ["any", "optional", "span", "variant"],
    "utility": ["utility"],
}

_STD_OPTIONS = ["ANY", "OPTIONAL", "STRING_VIEW", "VARIANT"]

def _std_types_abseil_impl(ctx):
    source = ctx.path("/usr/include/absl")
    if not source.get_child("base").get_child("options.h").exists:
        fail("Debian package libabsl-dev is not installed (/usr/include/absl/base/options.h)")

    # Everything but absl/base/options.h is Debian's, through symlinks.
    for entry in source.readdir():
        if entry.basename != "base":
            ctx.symlink(entry, "include/absl/" + entry.basename)
    for entry in source.get_child("base").readdir():
        if entry.basename != "options.h":
            ctx.symlink(entry, "include/absl/base/" + entry.basename)

    options = ctx.read(source.get_child("base").get_child("options.h"))
    for name in _STD_OPTIONS:
        debian = "#define ABSL_OPTION_USE_STD_%s 0" % name
        if debian not in options:
            fail("absl/base/options.h has no line '%s'; this stand-in needs updating" % debian)
        options = options.replace(debian, "#define ABSL_OPTION_USE_STD_%s 2" % name)
    ctx.file("include/absl/base/options.h", options)

    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    ctx.file("BUILD", "\n".join([
        "package(default_visibility = [\"//visibility:public\"])",
        "",
        "# Debian's Abseil headers with upstream's options.h; compile only.",
        "cc_library(",
        "    name = \"headers\",",
        "    hdrs = glob([\"include/absl/**/*.h\", \"include/absl/**/*.inc\"]),",
        "    includes = [\"include\"],",
        ")",
        "",
    ]))
    for package, targets in _PACKAGES.items():
        lines = ["package(default_visibility = [\"//visibility:public\"])", ""]
        for target in targets:
            lines.append("alias(name = \"%s\", actual = \"//:headers\")" % target)
        ctx.file("absl/%s/BUILD" % package, "\n".join(lines) + "\n")

std_types_abseil = repository_rule(implementation = _std_types_abseil_impl, local = True)
