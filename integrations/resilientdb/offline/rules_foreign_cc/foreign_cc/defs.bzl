"""Offline stand-in for rules_foreign_cc: no foreign build, the Debian library.

ResilientDB builds Crypto++ from source with `make(out_static_libs =
["libcryptopp.a"])`; Debian's libcrypto++-dev ships it (headers in
/usr/include/cryptopp). Each macro becomes a cc_library that links the
system library named by out_static_libs / out_shared_libs (libX.a -> -lX).
"""

def _system_library(name, out_static_libs = [], out_shared_libs = [], visibility = None, **_):
    libs = []
    for f in out_static_libs + out_shared_libs:
        base = f.split("/")[-1]
        if base.startswith("lib"):
            base = base[3:]
        base = base.split(".")[0]
        libs.append("-l" + base)
    native.cc_library(name = name, linkopts = libs, visibility = visibility)

def make(**attrs):
    _system_library(**attrs)

def cmake(**attrs):
    _system_library(**attrs)

def configure_make(**attrs):
    _system_library(**attrs)
