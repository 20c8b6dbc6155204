"""Local stand-ins for the repositories that Bazel 4.2.3 itself would download.

Bazel 4's built-in WORKSPACE suffix declares `rules_cc`, `rules_java` and
`remote_coverage_tools` as `http_archive`s. Offline, even a plain `cc_test`
then fails: the generated C++ toolchain loads `@rules_cc//cc:defs.bzl`, the
registered JDK toolchains load `@rules_java//java:defs.bzl`, and `bazel test`
needs `@remote_coverage_tools`. Declaring local repositories with the same
names before the suffix runs makes the build self-contained.

These stand-ins forward to the native rules, which is exactly what the real
rules_cc and rules_java did for Bazel 4. They must never shadow the real
rules on a newer Bazel, so they are only declared when asked for.
"""

_RULES_CC_DEFS = """\
\"\"\"Stand-in for rules_cc: forwards to Bazel's native C++ rules.\"\"\"

def cc_library(**attrs):
    native.cc_library(**attrs)

def cc_binary(**attrs):
    native.cc_binary(**attrs)

def cc_test(**attrs):
    native.cc_test(**attrs)

def cc_import(**attrs):
    native.cc_import(**attrs)

def cc_toolchain(**attrs):
    native.cc_toolchain(**attrs)

def cc_toolchain_suite(**attrs):
    native.cc_toolchain_suite(**attrs)

def objc_library(**attrs):
    native.objc_library(**attrs)
"""

_RULES_JAVA_DEFS = """\
\"\"\"Stand-in for rules_java: forwards to Bazel's native Java rules.\"\"\"

def java_import(**attrs):
    native.java_import(**attrs)

def java_runtime(**attrs):
    native.java_runtime(**attrs)

def java_toolchain(**attrs):
    native.java_toolchain(**attrs)

def java_binary(**attrs):
    native.java_binary(**attrs)

def java_library(**attrs):
    native.java_library(**attrs)

def java_test(**attrs):
    native.java_test(**attrs)
"""

_COVERAGE_TOOLS_BUILD = """\
# Stand-in for remote_coverage_tools. `bazel test` only needs the two labels to
# exist; `bazel coverage` is not supported offline.
package(default_visibility = ["//visibility:public"])

filegroup(name = "coverage_report_generator", srcs = [])

filegroup(name = "lcov_merger", srcs = [])
"""

def _stand_in_impl(ctx):
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    for path, content in ctx.attr.files.items():
        ctx.file(path, content)

_stand_in_repository = repository_rule(
    implementation = _stand_in_impl,
    attrs = {"files": attr.string_dict(mandatory = True)},
    local = True,
)

def bazel4_offline_stand_ins():
    """Declares rules_cc, rules_java and remote_coverage_tools locally.

    Call this first in a WORKSPACE that must build offline with Bazel 4.2.3
    (Debian's bazel-bootstrap). Repositories that already exist are left alone.
    """
    existing = native.existing_rules()
    if "rules_cc" not in existing:
        _stand_in_repository(
            name = "rules_cc",
            files = {"BUILD": "", "cc/BUILD": "", "cc/defs.bzl": _RULES_CC_DEFS},
        )
    if "rules_java" not in existing:
        _stand_in_repository(
            name = "rules_java",
            files = {"BUILD": "", "java/BUILD": "", "java/defs.bzl": _RULES_JAVA_DEFS},
        )
    if "remote_coverage_tools" not in existing:
        _stand_in_repository(
            name = "remote_coverage_tools",
            files = {"BUILD": _COVERAGE_TOOLS_BUILD},
        )
