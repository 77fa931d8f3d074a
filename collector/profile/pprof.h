// pprof encoding of a ProfileData (proto/pprof/profile.proto), gzipped as
// the format requires, and a reader that parses such a file back (used by
// tests and tools).
//
// Written: sample types samples/count and cpu/nanoseconds (period 1e9 /
// frequency ns of cpu), one Mapping per module (the kernel is
// "[kernel.kallsyms]"), one Location per frame (markers have no mapping,
// unknown frames have no line), labels pid, tid, phase, phase_id, replica,
// comm, and the completeness counters as "resdb_trace:<name>=<n>" comments.
#ifndef RESDB_TRACE_COLLECTOR_PROFILE_PPROF_H_
#define RESDB_TRACE_COLLECTOR_PROFILE_PPROF_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "collector/profile/profile_data.h"
#include "pprof/profile.pb.h"

namespace resdb_trace::collector::profile {

// The profile as a pprof message.
perftools::profiles::Profile ToPprof(const ProfileData& data);

// ToPprof, serialized and gzipped: the bytes of a .pb.gz file.
absl::StatusOr<std::string> EncodePprofGzip(const ProfileData& data);

// Parses a pprof profile (gzipped or not) and checks its references (string
// indices, location, function and mapping ids, value counts). Each location
// becomes one frame per line (inlined functions expanded, innermost first);
// labels and resdb_trace comments are read back. InvalidArgument with what
// is wrong.
absl::StatusOr<ProfileData> ParsePprof(std::string_view bytes);
// The same for an already parsed message.
absl::StatusOr<ProfileData> FromPprof(
    const perftools::profiles::Profile& profile);

// gzip (RFC 1952) compression and decompression with zlib. Gunzip also
// accepts zlib-wrapped data and refuses output beyond `max_bytes`.
absl::StatusOr<std::string> Gzip(std::string_view data);
absl::StatusOr<std::string> Gunzip(std::string_view data,
                                   size_t max_bytes = size_t{1} << 30);

}  // namespace resdb_trace::collector::profile

#endif  // RESDB_TRACE_COLLECTOR_PROFILE_PPROF_H_
