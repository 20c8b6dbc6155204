"""rcu_fuzzer: a libFuzzer target, its corpus replay test and its fuzzing run."""

def _fuzzer_binary(name, srcs, deps, local_defines = [], tags = []):
    """A fuzz target: libFuzzer's under --config=fuzz, else replay_main.cc's."""
    native.cc_binary(
        name = name,
        testonly = True,
        srcs = srcs + select({
            ":libfuzzer": [],
            "//conditions:default": ["replay_main.cc"],
        }),
        linkopts = select({
            ":libfuzzer": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        local_defines = local_defines,
        tags = tags,
        deps = deps,
    )

def rcu_fuzzer(name, srcs, corpus, deps = [], negative_controls = {}):
    """Declares a fuzz target and the tests that run it.

    Targets:
      name: the fuzzer. Under --config=fuzz (clang 14, -fsanitize=fuzzer,address)
        it is a libFuzzer binary; otherwise it links replay_main.cc and runs the
        inputs named on its command line.
      name + "_corpus_test": replays the seed corpus (and the saved reproducers
        in it) in every ordinary config: unit, tsan, asan, clang.
      name + "_run": fuzzes for $RCU_FUZZ_SECONDS seconds from the corpus
        (tag "fuzz": only `bazel test --config=fuzz //fuzz/...` runs it).

    Args:
      name: the fuzzer's name.
      srcs: the sources defining LLVMFuzzerTestOneInput.
      corpus: the seed files.
      deps: libraries.
      negative_controls: {suffix: (local_defines, extra srcs, pattern, inputs)}:
        a build of the fuzzer with the defines (breaking the container under
        test) that must fail on the inputs (corpus files) with a report
        matching the pattern; name + "_" + suffix + "_negative_control"
        checks it under --config=fuzz (tag "fuzz").
    """
    common_srcs = srcs + ["hooks.cc", "hooks.h", "fuzz_input.h"]
    _fuzzer_binary(name, common_srcs, deps)
    native.filegroup(
        name = name + "_corpus",
        srcs = corpus,
    )
    native.cc_test(
        name = name + "_corpus_test",
        size = "medium",
        srcs = common_srcs + ["replay_main.cc"],
        args = ["$(locations :%s_corpus)" % name],
        data = [":" + name + "_corpus"],
        deps = deps,
    )
    native.sh_test(
        name = name + "_run",
        size = "large",
        srcs = ["run_fuzzer.sh"],
        args = [
            "$(location :%s)" % name,
            "$(locations :%s_corpus)" % name,
        ],
        data = [
            ":" + name,
            ":" + name + "_corpus",
        ],
        tags = ["fuzz"],
    )

    for suffix, (defines, extra_srcs, pattern, inputs) in negative_controls.items():
        broken = name + "_" + suffix
        _fuzzer_binary(broken, common_srcs + extra_srcs, deps, defines, ["manual"])
        native.sh_test(
            name = broken + "_negative_control",
            size = "medium",
            srcs = ["expect_fuzzer_failure.sh"],
            args = [
                "$(location :%s)" % broken,
                "'%s'" % pattern,
            ] + ["$(location %s)" % f for f in inputs],
            data = [":" + broken] + inputs,
            tags = ["fuzz"],
        )
