// The hooks object records the ring-buffer layout version it was built with,
// and the loader refuses an object whose version is not the collector's.
// Unprivileged: the object is opened, never loaded.
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bpf/hooks.skel.h"
#include "bpf/trace_record.h"
#include "collector/ingest/bpf_tracer.h"
#include "gtest/gtest.h"

namespace resdb_trace::collector {
namespace {

struct SkeletonDeleter {
  void operator()(hooks_bpf* skel) const { hooks_bpf__destroy(skel); }
};
using Skeleton = std::unique_ptr<hooks_bpf, SkeletonDeleter>;

Skeleton Open() {
  Skeleton skel(hooks_bpf__open());
  EXPECT_NE(skel, nullptr) << "hooks_bpf__open: " << std::strerror(errno);
  return skel;
}

TEST(RecordVersionTest, BuiltObjectCarriesTheCollectorsVersion) {
  Skeleton skel = Open();
  ASSERT_NE(skel, nullptr);
  EXPECT_EQ(skel->rodata->record_version, RESDB_TRACE_RECORD_VERSION);
  EXPECT_TRUE(CheckRecordVersion(*skel).ok());
}

TEST(RecordVersionTest, AnotherVersionIsRefusedNamingBoth) {
  Skeleton skel = Open();
  ASSERT_NE(skel, nullptr);
  const uint32_t other = RESDB_TRACE_RECORD_VERSION + 1;
  skel->rodata->record_version = other;
  const absl::Status s = CheckRecordVersion(*skel);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  const std::string message(s.message());
  EXPECT_NE(message.find(absl::StrCat("layout version ", other)),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(
                absl::StrCat("decodes version ", RESDB_TRACE_RECORD_VERSION)),
            std::string::npos)
      << message;
}

}  // namespace
}  // namespace resdb_trace::collector
