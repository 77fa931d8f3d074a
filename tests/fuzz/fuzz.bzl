"""resdb_fuzz_target: one libFuzzer target and the test that replays its corpus.

For `name` (say "decoder_fuzz") with LLVMFuzzerTestOneInput in `srcs`:
  - :decoder_fuzz              the libFuzzer binary; builds only with
                               --config=fuzz (clang, -fsanitize=fuzzer), so it
                               is tagged manual and `bazel test //...` skips it;
  - :decoder_fuzz_replay_test  a plain test (any compiler, any --config) that
                               runs every file of corpus/decoder and
                               regressions/decoder through the same function.
"""

COPTS = ["-Wall", "-Wextra", "-Werror"]

def resdb_fuzz_target(name, corpus, srcs, deps = [], data = []):
    """Declares the fuzz binary `name` and `name`_replay_test.

    Args:
      name: the fuzz binary, conventionally <parser>_fuzz.
      corpus: folder name under corpus/ and regressions/.
      srcs: sources defining LLVMFuzzerTestOneInput.
      deps: what the sources need.
      data: extra runtime files.
    """
    inputs = native.glob(["corpus/%s/*" % corpus], allow_empty = False)
    inputs += native.glob(["regressions/%s/*" % corpus], allow_empty = True)
    native.cc_library(
        name = name + "_lib",
        testonly = True,
        srcs = srcs,
        copts = COPTS,
        deps = deps + [":fuzz_check"],
        alwayslink = True,
    )
    native.cc_binary(
        name = name,
        testonly = True,
        linkopts = select({
            ":fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        data = data,
        tags = ["manual", "fuzz"],
        deps = [name + "_lib"],
    )
    native.cc_test(
        name = name + "_replay_test",
        size = "small",
        args = ["$(rootpath %s)" % f for f in inputs],
        data = inputs + data,
        deps = [name + "_lib", ":replay_main"],
    )
