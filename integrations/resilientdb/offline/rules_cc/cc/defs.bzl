"""Offline stand-in for @rules_cc//cc:defs.bzl (Debian's bazel-rules-cc does
not load on Bazel 4.2.3): forwards to Bazel's native rules. ResilientDB loads
cc_proto_library from it; @bazel_tools//tools/cpp loads the toolchain rules."""

def cc_binary(**attrs):
    native.cc_binary(**attrs)

def cc_import(**attrs):
    native.cc_import(**attrs)

def cc_library(**attrs):
    native.cc_library(**attrs)

def cc_proto_library(**attrs):
    native.cc_proto_library(**attrs)

def cc_test(**attrs):
    native.cc_test(**attrs)

def cc_toolchain(**attrs):
    native.cc_toolchain(**attrs)

def cc_toolchain_suite(**attrs):
    native.cc_toolchain_suite(**attrs)
