#include "collector/ingest/libbpf_util.h"

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace resdb_trace::collector {
namespace {

TEST(LibbpfUtilTest, ErrnoTextNamesTheErrorAndItsNumber) {
  EXPECT_EQ(ErrnoText(ENOENT), std::string(strerror(ENOENT)) + " (errno " +
                                   std::to_string(ENOENT) + ")");
}

TEST(LibbpfUtilTest, LoadRefusedForPermissionsNamesTheCapabilities) {
  for (int err : {-EPERM, -EACCES}) {
    absl::Status s = BpfLoadError(err, "hooks", "needs CAP_BPF");
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << err;
    EXPECT_EQ(s.message(),
              "needs CAP_BPF: load failed with " + ErrnoText(-err));
  }
}

TEST(LibbpfUtilTest, OtherLoadFailuresPointAtTheVerifierLog) {
  absl::Status s = BpfLoadError(-EINVAL, "profile", "needs CAP_BPF");
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(s.message(),
            "cannot load the profile BPF program (the libbpf log above has "
            "the verifier output): " +
                ErrnoText(EINVAL));
}

TEST(LibbpfUtilTest, CapabilityCheckNamesWhatIsMissing) {
  absl::Status s = CheckBpfCapabilities("help text");
  if (s.ok()) GTEST_SKIP() << "this process may load BPF programs";
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StartsWith(s.message(), "help text (missing: CAP_"))
      << s.message();
}

TEST(LibbpfUtilTest, PossibleCpusIsPositive) {
  absl::StatusOr<int> cpus = PossibleCpus();
  ASSERT_TRUE(cpus.ok()) << cpus.status();
  EXPECT_GT(*cpus, 0);
}

}  // namespace
}  // namespace resdb_trace::collector
