"""Build helpers for rcu_containers' own tests, stress tests and benchmarks."""

def rcu_cc_test(name, srcs, deps = [], tags = [], **kwargs):
    """A GoogleTest unit test that links the RCU core."""
    native.cc_test(
        name = name,
        srcs = srcs,
        deps = deps + [
            "//rcu",
            "@com_google_googletest//:gtest_main",
        ],
        tags = tags,
        **kwargs
    )
