"""Offline stand-in for @rules_proto_grpc//python:defs.bzl.

ResilientDB's BUILD files load python_proto_library next to the C++ protos;
no C++ target depends on it. Here it is a target that fails if built, so a
build never silently lacks the Python modules.
"""

def python_proto_library(name, visibility = None, **_):
    native.genrule(
        name = name,
        outs = [name + ".unavailable"],
        cmd = "echo 'python_proto_library is not available in the offline build (integrations/resilientdb/offline)' >&2; exit 1",
        visibility = visibility,
    )
