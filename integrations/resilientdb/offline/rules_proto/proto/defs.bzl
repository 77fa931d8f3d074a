"""Offline stand-in for @rules_proto//proto:defs.bzl: Bazel's native rule.

The compiler and C++ runtime come from @com_google_protobuf (Debian's protoc
and libprotobuf, see ../com_google_protobuf/BUILD.bazel).
"""

def proto_library(**attrs):
    native.proto_library(**attrs)
