"""A second auto-configured C++ toolchain that compiles with clang.

The default toolchain (@local_config_cc) is whatever `cc` is: gcc on Debian.
libFuzzer and clang's sanitizers need clang, but switching @local_config_cc
with --repo_env=CC=clang would re-run its configuration on every switch. This
repository is the same autoconfiguration with the compiler pinned to clang,
so `--config=fuzz` selects it with --crosstool_top and gcc builds never see
it (nothing is configured until a build asks for it).
"""

load("@bazel_tools//tools/cpp:cc_configure.bzl", "cc_autoconf_impl")

def _clang_cc_autoconf_impl(repository_ctx):
    clang = repository_ctx.which(repository_ctx.attr.compiler)
    if clang == None:
        fail("%s not found on PATH: install clang (scripts/setup.sh does)" %
             repository_ctx.attr.compiler)
    cc_autoconf_impl(repository_ctx, overriden_tools = {"gcc": clang})

clang_cc_autoconf = repository_rule(
    implementation = _clang_cc_autoconf_impl,
    attrs = {"compiler": attr.string(default = "clang")},
    environ = ["PATH"],
    configure = True,
)
