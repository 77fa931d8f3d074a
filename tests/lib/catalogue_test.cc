// lib/catalogue: lookup by id and name, the --hooks and --phase syntaxes.
// (tests/proto:catalog_match_test checks each row against catalog.h and the
// proto.)
#include "lib/catalogue.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "resdb_trace/catalog.h"

namespace resdb_trace::catalogue {
namespace {

bool Contains(absl::string_view text, absl::string_view part) {
  return text.find(part) != absl::string_view::npos;
}

TEST(CatalogueTest, FindHookByIdCoversExactlyTheCatalogue) {
  ASSERT_EQ(Hooks().size(), RESDB_TRACE_ID_END - 1u);
  for (const Hook& hook : Hooks()) EXPECT_EQ(FindHook(hook.id), &hook);
  EXPECT_EQ(FindHook(0), nullptr);
  EXPECT_EQ(FindHook(RESDB_TRACE_ID_END), nullptr);
  EXPECT_EQ(FindHook(0xffffffffu), nullptr);
  EXPECT_EQ(EventTypeForHook(RESDB_TRACE_ID_prepare_received).value(),
            v1::EVENT_TYPE_PREPARE_RECEIVED);
  EXPECT_EQ(EventTypeForHook(RESDB_TRACE_ID_pbft_prepare_state).value(),
            v1::EVENT_TYPE_PREPARED);
  EXPECT_EQ(EventTypeForHook(0).status().code(), absl::StatusCode::kNotFound);
}

TEST(CatalogueTest, FindHookByNameTakesTheNameOrTheSymbol) {
  for (const Hook& hook : Hooks()) {
    EXPECT_EQ(FindHookByName(hook.name).value(), &hook);
    EXPECT_EQ(FindHookByName(hook.symbol).value(), &hook);
  }
  absl::StatusOr<const Hook*> bad = FindHookByName("prepare");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kNotFound);
  // The error lists what is valid.
  EXPECT_TRUE(Contains(bad.status().message(), "'prepare' is not a catalogue"))
      << bad.status();
  EXPECT_TRUE(Contains(bad.status().message(), "prepare_received, prepared"))
      << bad.status();
  EXPECT_EQ(HookNames().substr(0, 30), "consensus_commit, pbft_request");
}

TEST(CatalogueTest, ParseHookTakesIdsAndNames) {
  EXPECT_EQ(ParseHook("15").value()->name, "prepare_received");
  EXPECT_EQ(ParseHook("prepare_received").value()->id, 15u);
  EXPECT_EQ(ParseHook("resdb_trace_user").value()->id, 31u);
  for (absl::string_view bad :
       {"0", "32", "no_such_hook", "", "resdb_trace_"}) {
    absl::StatusOr<const Hook*> h = ParseHook(bad);
    EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(Contains(h.status().message(), "is not a catalogue hook"))
        << h.status();
    EXPECT_TRUE(Contains(h.status().message(), "id (1..31)")) << h.status();
  }
}

TEST(CatalogueTest, PhaseNamesRoundTrip) {
  EXPECT_EQ(PhaseName(0), "none");
  EXPECT_EQ(PhaseName(RESDB_TRACE_ID_commit_received), "commit_received");
  EXPECT_EQ(PhaseName(99), "hook_99");
  for (uint32_t id : {0u, 1u, 15u, 31u, 32u, 99u, 4000000000u}) {
    EXPECT_EQ(ParsePhase(PhaseName(id)).value(), id) << PhaseName(id);
  }
}

TEST(CatalogueTest, ParsePhaseTakesAliasesNamesAndIds) {
  EXPECT_EQ(ParsePhase("prepare").value(), RESDB_TRACE_ID_prepare_received);
  EXPECT_EQ(ParsePhase("commit").value(), RESDB_TRACE_ID_commit_received);
  EXPECT_EQ(ParsePhase("pre_prepare").value(),
            RESDB_TRACE_ID_pre_prepare_received);
  EXPECT_EQ(ParsePhase("pre-prepare").value(),
            RESDB_TRACE_ID_pre_prepare_received);
  EXPECT_EQ(ParsePhase("execute").value(), RESDB_TRACE_ID_execute_start);
  EXPECT_EQ(ParsePhase("request").value(), RESDB_TRACE_ID_request_received);
  EXPECT_EQ(ParsePhase("prepared").value(), RESDB_TRACE_ID_prepared);
  EXPECT_EQ(ParsePhase("21").value(), 21u);
  for (absl::string_view bad : {"voting", "", "hook_", "hook_x", "-1"}) {
    absl::StatusOr<uint32_t> id = ParsePhase(bad);
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(Contains(id.status().message(),
                         absl::StrCat("'", bad, "' is not a phase")))
        << id.status();
    EXPECT_TRUE(Contains(id.status().message(), PhaseSyntax()));
  }
  EXPECT_TRUE(Contains(PhaseSyntax(), "prepare, commit, pre_prepare"));
  EXPECT_TRUE(Contains(PhaseSyntax(), "new_view_installed, user"));
}

TEST(CatalogueTest, ParsePhasesSplitsOnCommasAndSkipsBlanks) {
  EXPECT_EQ(ParsePhases(" prepare, commit,,execute_end ,none").value(),
            (std::vector<uint32_t>{RESDB_TRACE_ID_prepare_received,
                                   RESDB_TRACE_ID_commit_received,
                                   RESDB_TRACE_ID_execute_end, 0}));
  EXPECT_TRUE(ParsePhases("").value().empty());
  absl::StatusOr<std::vector<uint32_t>> bad = ParsePhases("prepare,lunch,x");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(bad.status().message(), "'lunch' is not a phase"))
      << bad.status();
}

}  // namespace
}  // namespace resdb_trace::catalogue
