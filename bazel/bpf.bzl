"""Builds a CO-RE BPF object and its libbpf skeleton.

bpf_skeleton(name = "hooks", src = "hooks.bpf.c", hdrs = [...]) produces
  :hooks_bpf_obj   the BPF object `hooks.bpf.o` (BTF and .BTF.ext kept: CO-RE
                   relocations need them),
  :hooks_skel_gen  `hooks.skel.h` from `bpftool gen skeleton`,
  :hooks           a cc_library exposing the skeleton, so C++ includes
                   "<package>/hooks.skel.h"; the object is embedded in it, so
                   nothing has to be found at run time.
The skeleton is generated, never checked in.
"""

# Debian installs bpftool in /usr/sbin, which the strict action environment
# leaves out of PATH.
_TOOL_PATH = "PATH=/usr/bin:/bin:/usr/sbin:/sbin"

def bpf_skeleton(
        name,
        src,
        hdrs = [],
        vmlinux = "//third_party/vmlinux:vmlinux_x86_64",
        copts = [],
        visibility = None):
    """Compiles `src` with clang -target bpf and wraps its skeleton.

    Args:
      name: base name; the object is `<name>.bpf.o`, the skeleton
        `<name>.skel.h`, and the cc_library `:<name>`.
      src: the BPF C source.
      hdrs: headers `src` includes (workspace-relative includes work).
      vmlinux: label of the vmlinux.h filegroup for the target architecture.
      copts: extra clang flags.
      visibility: visibility of the cc_library.
    """
    obj = name + ".bpf.o"
    skel = name + ".skel.h"
    native.genrule(
        name = name + "_bpf_obj",
        srcs = [src] + hdrs + [vmlinux],
        outs = [obj],
        cmd = " ".join([
            _TOOL_PATH,
            "clang -target bpf -O2 -g -D__TARGET_ARCH_x86",
            "-Wall -Werror",
            "-I$$(dirname $(location %s))" % vmlinux,
            "-I. -I$(GENDIR)",
            "-I/usr/include/x86_64-linux-gnu",
        ] + copts + [
            "-c $(location %s) -o $@" % src,
        ]),
        visibility = visibility,
    )
    native.genrule(
        name = name + "_skel_gen",
        srcs = [":" + obj],
        outs = [skel],
        cmd = "%s bpftool gen skeleton $(location :%s) > $@" % (_TOOL_PATH, obj),
    )
    native.cc_library(
        name = name,
        hdrs = [skel],
        deps = ["@com_github_libbpf_libbpf//:libbpf"],
        visibility = visibility,
    )
