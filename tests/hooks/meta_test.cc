// Unit tests for the hook header's pure parts: meta packing (DeepObserve's
// layout), digest prefixes, the wall clock, the catalogue's stability, and
// the is-enabled semaphores.
#include <chrono>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "resdb_trace/hooks.h"

namespace {

struct Row {
  int id;
  std::string name;
  int abi;
};

std::vector<Row> Catalogue() {
  std::vector<Row> rows;
#define X(id, name, Name, abi, type, event, where, seq_arg, aux_arg) \
  rows.push_back(Row{id, #name, abi});
  RESDB_TRACE_HOOKS(X)
#undef X
  return rows;
}

// ---------------------------------------------------------------------------
// Meta packing.

TEST(MetaTest, LayoutBitPositionsAreDeepObservesLiterally) {
  // type bits 0-31, sender bits 32-47, self bits 48-63.
  EXPECT_EQ(ResdbTracePackMeta(0x12345678u, 0xabcdu, 0x4321u),
            0x4321abcd12345678ULL);
  EXPECT_EQ(ResdbTracePackMeta(1, 0, 0), 0x0000000000000001ULL);
  EXPECT_EQ(ResdbTracePackMeta(0, 1, 0), 0x0000000100000000ULL);
  EXPECT_EQ(ResdbTracePackMeta(0, 0, 1), 0x0001000000000000ULL);
  EXPECT_EQ(ResdbTracePackMeta(RESDB_TRACE_TYPE_COMMIT, 3, 2),
            0x0002000300000005ULL);
}

TEST(MetaTest, RoundTripEdgeValues) {
  const uint32_t types[] = {0u, 1u, RESDB_TRACE_TYPE_STATUS_SYNC, 0x7fffffffu,
                            0xffffffffu};
  const uint32_t ids[] = {0u, 1u, 3u, 0x7fffu, 0xfffeu, 0xffffu};
  for (uint32_t type : types) {
    for (uint32_t sender : ids) {
      for (uint32_t self : ids) {
        const uint64_t meta = ResdbTracePackMeta(type, sender, self);
        EXPECT_EQ(ResdbTraceMetaType(meta), type);
        EXPECT_EQ(ResdbTraceMetaSender(meta), sender);
        EXPECT_EQ(ResdbTraceMetaSelf(meta), self);
      }
    }
  }
}

TEST(MetaTest, ZeroAndMax) {
  EXPECT_EQ(ResdbTracePackMeta(0, 0, 0), 0ULL);
  EXPECT_EQ(ResdbTracePackMeta(0xffffffffu, 0xffffu, 0xffffu),
            0xffffffffffffffffULL);
  EXPECT_EQ(ResdbTracePackMeta(0xffffffffu, 0, 0), 0x00000000ffffffffULL);
  EXPECT_EQ(ResdbTraceMetaType(~0ULL), 0xffffffffu);
  EXPECT_EQ(ResdbTraceMetaSender(~0ULL), 0xffffu);
  EXPECT_EQ(ResdbTraceMetaSelf(~0ULL), 0xffffu);
}

TEST(MetaTest, IdsWiderThan16BitsAreMaskedNotSpilled) {
  // A sender id above 16 bits must not leak into the self field (and a self
  // id must not be shifted out into nothing silently different).
  EXPECT_EQ(ResdbTracePackMeta(0, 0x1abcdu, 0), 0x0000abcd00000000ULL);
  EXPECT_EQ(ResdbTracePackMeta(0, 0, 0x12345u), 0x2345000000000000ULL);
  EXPECT_EQ(ResdbTracePackMeta(7, 0xffffffffu, 0xffffffffu),
            0xffffffff00000007ULL);
  const uint64_t meta = ResdbTracePackMeta(9, 0x10002u, 0x30004u);
  EXPECT_EQ(ResdbTraceMetaType(meta), 9u);
  EXPECT_EQ(ResdbTraceMetaSender(meta), 2u);
  EXPECT_EQ(ResdbTraceMetaSelf(meta), 4u);
}

// ---------------------------------------------------------------------------
// Digest prefix and clock.

TEST(DigestPrefixTest, ShortIsZeroPadded) {
  EXPECT_EQ(ResdbTraceDigestPrefix("ab", 2), 0x6261ULL);
  const unsigned char one[] = {0xff};
  EXPECT_EQ(ResdbTraceDigestPrefix(one, 1), 0xffULL);
  EXPECT_EQ(ResdbTraceDigestPrefix("abc", 0), 0ULL);
}

TEST(DigestPrefixTest, ExactlyEightBytesIsLittleEndian) {
  EXPECT_EQ(ResdbTraceDigestPrefix("abcdefgh", 8), 0x6867666564636261ULL);
  const unsigned char bytes[8] = {0x01, 0x02, 0x03, 0x04,
                                  0x05, 0x06, 0x07, 0x88};
  EXPECT_EQ(ResdbTraceDigestPrefix(bytes, 8), 0x8807060504030201ULL);
}

TEST(DigestPrefixTest, LongerUsesOnlyTheFirstEight) {
  EXPECT_EQ(ResdbTraceDigestPrefix("abcdefghijklmnop", 16),
            0x6867666564636261ULL);
  unsigned char sha[32];
  for (int i = 0; i < 32; ++i) sha[i] = static_cast<unsigned char>(0xa0 + i);
  EXPECT_EQ(ResdbTraceDigestPrefix(sha, sizeof(sha)), 0xa7a6a5a4a3a2a1a0ULL);
}

TEST(DigestPrefixTest, NullIsZero) {
  EXPECT_EQ(ResdbTraceDigestPrefix(nullptr, 0), 0ULL);
  EXPECT_EQ(ResdbTraceDigestPrefix(nullptr, 32), 0ULL);
}

TEST(EpochNsTest, MatchesSystemClock) {
  const int64_t before =
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count();
  const int64_t ours = ResdbTraceEpochNs();
  const int64_t after = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  // Same clock (CLOCK_REALTIME): ours lies between the two reads, with a
  // little slack for system_clock's own rounding.
  EXPECT_GE(ours, before - 1000000);
  EXPECT_LE(ours, after + 1000000);
  EXPECT_GT(ours, int64_t{1600000000} * 1000000000);  // after 2020-09
}

// ---------------------------------------------------------------------------
// Catalogue.

// The attach cookie of every hook is its id, recorded in traces and in
// collectors' configs: ids are append-only. Renumbering or renaming a hook
// must fail here; adding one means appending a row to this list.
const std::pair<int, const char*> kGoldenCatalogue[] = {
    {1, "consensus_commit"},
    {2, "pbft_request"},
    {3, "pbft_pre_prepare"},
    {4, "pbft_prepare_recv"},
    {5, "pbft_prepare_state"},
    {6, "pbft_commit_recv"},
    {7, "pbft_commit_state"},
    {8, "pbft_execute_start"},
    {9, "pbft_execute_end"},
    {10, "client_batch_sent"},
    {11, "request_received"},
    {12, "pre_prepare_sent"},
    {13, "pre_prepare_received"},
    {14, "prepare_sent"},
    {15, "prepare_received"},
    {16, "prepared"},
    {17, "commit_sent"},
    {18, "commit_received"},
    {19, "committed"},
    {20, "execute_start"},
    {21, "execute_end"},
    {22, "reply_sent"},
    {23, "reply_to_client"},
    {24, "checkpoint_sent"},
    {25, "checkpoint_received"},
    {26, "checkpoint_stable"},
    {27, "view_change_started"},
    {28, "view_change_received"},
    {29, "new_view_sent"},
    {30, "new_view_installed"},
    {31, "user"},
};

TEST(CatalogueTest, MatchesGoldenIdsAndNames) {
  const std::vector<Row> rows = Catalogue();
  const size_t golden = sizeof(kGoldenCatalogue) / sizeof(kGoldenCatalogue[0]);
  ASSERT_EQ(rows.size(), golden)
      << "hooks were added or removed: append new ones to kGoldenCatalogue "
         "(ids are never reused)";
  for (size_t i = 0; i < golden; ++i) {
    EXPECT_EQ(rows[i].id, kGoldenCatalogue[i].first) << "row " << i;
    EXPECT_EQ(rows[i].name, kGoldenCatalogue[i].second) << "row " << i;
  }
}

TEST(CatalogueTest, IdsUniqueAndInSemaphoreRange) {
  std::set<int> ids;
  for (const Row& row : Catalogue()) {
    EXPECT_GE(row.id, 1) << row.name;
    EXPECT_LE(row.id, 63) << row.name;
    EXPECT_LT(row.id, RESDB_TRACE_SEMAPHORE_SLOTS) << row.name;
    EXPECT_TRUE(ids.insert(row.id).second) << "duplicate id " << row.id;
  }
  EXPECT_LE(static_cast<int>(RESDB_TRACE_ID_END), RESDB_TRACE_SEMAPHORE_SLOTS);
}

TEST(CatalogueTest, NamesUnique) {
  std::set<std::string> names;
  for (const Row& row : Catalogue()) {
    EXPECT_TRUE(names.insert(row.name).second) << "duplicate " << row.name;
  }
}

TEST(CatalogueTest, AbiIsKnownAndEnumMatchesIds) {
  for (const Row& row : Catalogue()) {
    EXPECT_TRUE(row.abi == RESDB_TRACE_ABI_COMPAT ||
                row.abi == RESDB_TRACE_ABI_DISPATCH ||
                row.abi == RESDB_TRACE_ABI_V1)
        << row.name;
  }
  EXPECT_EQ(RESDB_TRACE_ID_consensus_commit, 1);
  EXPECT_EQ(RESDB_TRACE_ID_prepare_received, 15);
  EXPECT_EQ(RESDB_TRACE_ID_user, 31);
}

// ---------------------------------------------------------------------------
// Semaphore gating.

class SemaphoreTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (int i = 0; i < RESDB_TRACE_SEMAPHORE_SLOTS; ++i) {
      resdb_trace_semaphores[i] = 0;
    }
  }
};

TEST_F(SemaphoreTest, TableHasSixtyFourSixteenBitSlots) {
  EXPECT_EQ(sizeof(resdb_trace_semaphores), 128u);
  EXPECT_EQ(sizeof(resdb_trace_semaphores[0]), 2u);
}

TEST_F(SemaphoreTest, DetachedByDefault) {
  for (int i = 0; i < RESDB_TRACE_SEMAPHORE_SLOTS; ++i) {
    EXPECT_EQ(resdb_trace_semaphores[i], 0) << "slot " << i;
    EXPECT_FALSE(ResdbTraceEnabled(i)) << "slot " << i;
  }
  EXPECT_FALSE(RESDB_TRACE_ENABLED(prepare_received));
}

TEST_F(SemaphoreTest, RaisingASlotEnablesExactlyThatHook) {
  resdb_trace_semaphores[RESDB_TRACE_ID_prepare_received] = 1;
  EXPECT_TRUE(RESDB_TRACE_ENABLED(prepare_received));
  EXPECT_TRUE(ResdbTraceEnabled(RESDB_TRACE_ID_prepare_received));
  EXPECT_TRUE(ResdbTraceEnabled(15));
  EXPECT_FALSE(RESDB_TRACE_ENABLED(commit_received));
  EXPECT_FALSE(ResdbTraceEnabled(RESDB_TRACE_ID_commit_received));
  // The kernel counts attached uprobes; any non-zero count means enabled.
  resdb_trace_semaphores[RESDB_TRACE_ID_prepare_received] = 3;
  EXPECT_TRUE(RESDB_TRACE_ENABLED(prepare_received));
  resdb_trace_semaphores[RESDB_TRACE_ID_prepare_received] = 0;
  EXPECT_FALSE(RESDB_TRACE_ENABLED(prepare_received));
}

TEST_F(SemaphoreTest, OutOfRangeIdsAreNeverEnabled) {
  resdb_trace_semaphores[0] = 1;
  EXPECT_FALSE(ResdbTraceEnabled(0));
  EXPECT_FALSE(ResdbTraceEnabled(-1));
  EXPECT_FALSE(ResdbTraceEnabled(RESDB_TRACE_SEMAPHORE_SLOTS));
  EXPECT_FALSE(ResdbTraceEnabled(1 << 20));
}

TEST_F(SemaphoreTest, MacroEvaluatesArgumentsOnlyWhileEnabled) {
  int evaluated = 0;
  RESDB_TRACE_V1(user, ++evaluated, 1, 0, 0, 0, 0, 0, 0);
  EXPECT_EQ(evaluated, 0);
  resdb_trace_semaphores[RESDB_TRACE_ID_user] = 1;
  RESDB_TRACE_V1(user, ++evaluated, 1, 0, 0, 0, 0, 0, 0);
  EXPECT_EQ(evaluated, 1);
}

TEST_F(SemaphoreTest, EveryHookIsCallableEnabledOrNot) {
  // The hooks are `nop5; ret`: calling each one (through its wrapper, gated
  // both ways, and directly) must simply return.
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 1; i < RESDB_TRACE_SEMAPHORE_SLOTS; ++i) {
      resdb_trace_semaphores[i] = static_cast<uint16_t>(pass);
    }
    ResdbTraceConsensusCommit(1, 2, RESDB_TRACE_TYPE_PREPARE, 3, 4);
    ResdbTracePbftCommitState(1, 2, RESDB_TRACE_TYPE_COMMIT, 3, 0, 4);
    ResdbTracePrepareReceived(1, 2, RESDB_TRACE_TYPE_PREPARE, 3, 0, 4, 5, 6);
    ResdbTraceUser(1, 2, 0, 0, 0, 0, 0, 0);
  }
  resdb_trace_consensus_commit(1, 2, 3, 4, 5);
  resdb_trace_pbft_request(1, 2, ResdbTracePackMeta(14, 0, 1), 4,
                           ResdbTraceEpochNs());
  resdb_trace_prepare_received(1, 2, ResdbTracePackMeta(4, 2, 1), 4, 0, 6);
  SUCCEED();
}

}  // namespace
