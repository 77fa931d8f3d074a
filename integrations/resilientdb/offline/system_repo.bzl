"""A repository made of one BUILD file, for a library Debian installs.

The targets link the system library by name (-lX) and find its headers in
/usr/include; nothing is downloaded.
"""

def _system_repo_impl(ctx):
    ctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % ctx.name)
    ctx.file("BUILD.bazel", "package(default_visibility = [\"//visibility:public\"])\n\n" + ctx.attr.build)

system_repo = repository_rule(
    implementation = _system_repo_impl,
    attrs = {"build": attr.string(mandatory = True)},
    local = True,
)
