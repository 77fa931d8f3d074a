// The build's version: the release in VERSION at the repo root plus the git
// commit, stamped at build time (scripts/workspace_status.sh). Every binary's
// --version, GetStats, the MCP serverInfo and resdb_trace_build_info show it.
#ifndef RESDB_TRACE_LIB_FLAGS_VERSION_H_
#define RESDB_TRACE_LIB_FLAGS_VERSION_H_

#include <string>
#include <string_view>

namespace resdb_trace::flags {

// The release in VERSION, e.g. "0.14.0".
std::string_view Version();

// The git commit built (12 hex digits), or "unknown commit" when the build had
// no git checkout or no --workspace_status_command (e.g. as an external
// repository of ResilientDB).
std::string_view Commit();

// "0.14.0 (commit 444b6ee96c55)": what --version prints after the name.
std::string VersionLine();

}  // namespace resdb_trace::flags

#endif  // RESDB_TRACE_LIB_FLAGS_VERSION_H_
