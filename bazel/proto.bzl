"""C++ protobuf/gRPC code from the system protoc, offline.

Bazel 4's proto_library/cc_proto_library want to build protoc from source;
the offline workspace uses Debian's protoc and grpc_cpp_plugin instead, so
these macros run them in a genrule and wrap the output in a cc_library that
depends on the system protobuf/gRPC libraries.

Generated headers are included by their import path, for example
`#include "resdb_trace/v1/events.pb.h"` for `proto/resdb_trace/v1/events.proto`.
The import root is the package that calls the macro.
"""

PROTOC = "/usr/bin/protoc"
GRPC_CPP_PLUGIN = "/usr/bin/grpc_cpp_plugin"

# Where Debian installs the well-known types (google/protobuf/*.proto).
_SYSTEM_PROTO_INCLUDE = "/usr/include"

def _import_root():
    """Exec-root path of the calling package: the -I for its .proto files."""
    repo = native.repository_name()
    pkg = native.package_name()
    if repo in ("@", ""):
        return pkg or "."
    return "external/%s/%s" % (repo.lstrip("@"), pkg) if pkg else "external/%s" % repo.lstrip("@")

def _relative(src):
    """Path of a package-local .proto source relative to the package."""
    if src.startswith(":"):
        src = src[1:]
    if src.startswith("//") or src.startswith("@"):
        fail("srcs must be files of the calling package, got %s" % src)
    if not src.endswith(".proto"):
        fail("expected a .proto file, got %s" % src)
    return src

def _protoc_cmd(root, out_flags, srcs):
    return " ".join([
        PROTOC,
        "-I" + _SYSTEM_PROTO_INCLUDE,
        "-I" + root,
    ] + out_flags + ["$(location %s)" % s for s in srcs])

def resdb_cc_proto_library(
        name,
        srcs,
        import_srcs = [],
        deps = [],
        visibility = None,
        **kwargs):
    """C++ messages (.pb.h/.pb.cc) for `srcs`.

    Args:
      name: the cc_library.
      srcs: .proto files of this package to generate code for.
      import_srcs: further .proto files of this package that `srcs` import
        but whose code lives in a library in `deps`.
      deps: cc_library targets of imported protos.
      visibility: of the cc_library.
      **kwargs: passed to the cc_library (tags, testonly, ...).
    """
    srcs = [_relative(s) for s in srcs]
    bases = [s[:-len(".proto")] for s in srcs]
    hdrs = [b + ".pb.h" for b in bases]
    ccs = [b + ".pb.cc" for b in bases]
    root = _import_root()
    native.genrule(
        name = name + "_protoc",
        srcs = srcs + import_srcs,
        outs = hdrs + ccs,
        cmd = _protoc_cmd(root, ["--cpp_out=$(RULEDIR)"], srcs),
        message = "protoc (system) %s" % name,
        visibility = ["//visibility:private"],
    )
    native.cc_library(
        name = name,
        srcs = ccs,
        hdrs = hdrs,
        includes = ["."],
        deps = deps + ["@com_google_protobuf//:protobuf"],
        visibility = visibility,
        **kwargs
    )

def resdb_cc_grpc_library(
        name,
        srcs,
        import_srcs = [],
        deps = [],
        visibility = None,
        **kwargs):
    """C++ gRPC service stubs (.grpc.pb.h/.grpc.pb.cc) for `srcs`.

    The messages of `srcs` are not generated here: put the
    resdb_cc_proto_library that generates them in `deps`.

    Args:
      name: the cc_library.
      srcs: .proto files of this package with services.
      import_srcs: further .proto files of this package that `srcs` import.
      deps: the message library of `srcs` (and of their imports).
      visibility: of the cc_library.
      **kwargs: passed to the cc_library.
    """
    srcs = [_relative(s) for s in srcs]
    bases = [s[:-len(".proto")] for s in srcs]
    hdrs = [b + ".grpc.pb.h" for b in bases]
    ccs = [b + ".grpc.pb.cc" for b in bases]
    root = _import_root()
    native.genrule(
        name = name + "_protoc",
        srcs = srcs + import_srcs,
        outs = hdrs + ccs,
        cmd = _protoc_cmd(root, [
            "--plugin=protoc-gen-grpc=" + GRPC_CPP_PLUGIN,
            "--grpc_out=$(RULEDIR)",
        ], srcs),
        message = "protoc grpc_cpp_plugin (system) %s" % name,
        visibility = ["//visibility:private"],
    )
    native.cc_library(
        name = name,
        srcs = ccs,
        hdrs = hdrs,
        includes = ["."],
        deps = deps + ["@com_github_grpc_grpc//:grpc++"],
        visibility = visibility,
        **kwargs
    )

def resdb_proto_descriptor_set(name, srcs, out = None, visibility = None):
    """A FileDescriptorSet of `srcs` with imports and source comments.

    Args:
      name: the genrule.
      srcs: .proto files of this package (all of them the set should hold).
      out: output file name; defaults to <name>.binpb.
      visibility: of the genrule.
    """
    srcs = [_relative(s) for s in srcs]
    out = out or name + ".binpb"
    native.genrule(
        name = name,
        srcs = srcs,
        outs = [out],
        cmd = _protoc_cmd(_import_root(), [
            "--include_imports",
            "--include_source_info",
            "--descriptor_set_out=$@",
        ], srcs),
        message = "protoc descriptor set %s" % name,
        visibility = visibility,
    )
