"""System-library repositories for resdb_trace (Debian -dev packages).

A consumer (e.g. ResilientDB) that already defines a repository of the same name
keeps its own: each one is only added when missing.
"""

_SYSTEM_REPOS = [
    "com_google_absl",
    "com_google_protobuf",
    "com_github_grpc_grpc",
    "com_google_googletest",
    "com_github_google_benchmark",
    "com_github_fmtlib_fmt",
    "com_github_nlohmann_json",
    "com_github_cliutils_cli11",
    "com_github_libbpf_libbpf",
    "org_sourceware_elfutils",
    "zlib",
]

def resdb_trace_system_deps(prefix = "third_party"):
    """Declares the Debian-backed repositories that are not yet defined.

    Args:
      prefix: path of this repository's third_party folder, relative to the
        consumer's workspace root (e.g. "external/resdb_trace/third_party" is not
        usable; pass the path where the consumer checked resdb_trace out).
    """
    for name in _SYSTEM_REPOS:
        if name not in native.existing_rules():
            native.local_repository(name = name, path = prefix + "/" + name)
