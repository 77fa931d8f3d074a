#include "lib/catalogue.h"

#include <iterator>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "resdb_trace/catalog.h"

namespace resdb_trace::catalogue {
namespace {

constexpr Hook kHooks[] = {
#define RESDB_TRACE_X_ROW(id, name, Name, abi, type, event, where, seq_arg, \
                          aux_arg)                                          \
  {id,      #name,  "resdb_trace_" #name,   #Name,                          \
   abi,     type,   v1::EVENT_TYPE_##event, where,                          \
   seq_arg, aux_arg},
    RESDB_TRACE_HOOKS(RESDB_TRACE_X_ROW)
#undef RESDB_TRACE_X_ROW
};

constexpr size_t kHookCount = std::size(kHooks);

// FindHook indexes by id - 1.
constexpr bool IdsAreDense() {
  for (size_t i = 0; i < kHookCount; ++i) {
    if (kHooks[i].id != i + 1) return false;
  }
  return kHookCount + 1 == RESDB_TRACE_ID_END;
}
static_assert(IdsAreDense(), "catalog.h: hook ids must run 1, 2, 3, ...");

// The user-facing stage names; each stands for the hook after which a
// thread works on that stage.
struct PhaseAlias {
  absl::string_view alias;
  uint32_t hook_id;
};
constexpr PhaseAlias kPhaseAliases[] = {
    {"prepare", RESDB_TRACE_ID_prepare_received},
    {"commit", RESDB_TRACE_ID_commit_received},
    {"pre_prepare", RESDB_TRACE_ID_pre_prepare_received},
    {"pre-prepare", RESDB_TRACE_ID_pre_prepare_received},
    {"execute", RESDB_TRACE_ID_execute_start},
    {"request", RESDB_TRACE_ID_request_received},
};

constexpr absl::string_view kPhaseNone = "none";
constexpr absl::string_view kUnknownPhasePrefix = "hook_";

}  // namespace

absl::Span<const Hook> Hooks() { return absl::MakeConstSpan(kHooks); }

const Hook* FindHook(uint32_t id) {
  if (id == 0 || id > kHookCount) return nullptr;
  return &kHooks[id - 1];
}

absl::StatusOr<v1::EventType> EventTypeForHook(uint32_t id) {
  const Hook* hook = FindHook(id);
  if (hook == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "hook id ", id, " is not in the catalogue (1..", kHookCount, ")"));
  }
  return hook->event_type;
}

absl::StatusOr<const Hook*> FindHookByName(absl::string_view name) {
  absl::string_view bare = name;
  absl::ConsumePrefix(&bare, kSymbolPrefix);
  for (const Hook& hook : kHooks) {
    if (hook.name == bare) return &hook;
  }
  return absl::NotFoundError(absl::StrCat("'", name,
                                          "' is not a catalogue hook: the "
                                          "hooks are ",
                                          HookNames()));
}

absl::StatusOr<const Hook*> ParseHook(absl::string_view token) {
  uint32_t id = 0;
  if (absl::SimpleAtoi(token, &id)) {
    if (const Hook* hook = FindHook(id)) return hook;
  } else if (absl::StatusOr<const Hook*> hook = FindHookByName(token);
             hook.ok()) {
    return hook;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'", token, "' is not a catalogue hook: give an id (1..",
                   kHookCount, ") or a name: ", HookNames()));
}

std::string HookNames() {
  std::string out;
  for (const Hook& hook : kHooks) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", hook.name);
  }
  return out;
}

std::string PhaseName(uint32_t hook_id) {
  if (hook_id == 0) return std::string(kPhaseNone);
  if (const Hook* hook = FindHook(hook_id)) return std::string(hook->name);
  return absl::StrCat(kUnknownPhasePrefix, hook_id);
}

absl::StatusOr<uint32_t> ParsePhase(absl::string_view token) {
  if (token == kPhaseNone) return 0;
  for (const PhaseAlias& a : kPhaseAliases) {
    if (token == a.alias) return a.hook_id;
  }
  for (const Hook& hook : kHooks) {
    if (token == hook.name) return hook.id;
  }
  // Ids outside the catalogue stay valid: a profile shows them as hook_<id>.
  absl::string_view digits = token;
  absl::ConsumePrefix(&digits, kUnknownPhasePrefix);
  uint32_t id = 0;
  if (!digits.empty() && absl::SimpleAtoi(digits, &id)) return id;
  return absl::InvalidArgumentError(
      absl::StrCat("'", token, "' is not a phase: give ", PhaseSyntax()));
}

absl::StatusOr<std::vector<uint32_t>> ParsePhases(absl::string_view list) {
  std::vector<uint32_t> ids;
  for (absl::string_view token : absl::StrSplit(list, ',')) {
    token = absl::StripAsciiWhitespace(token);
    if (token.empty()) continue;
    absl::StatusOr<uint32_t> id = ParsePhase(token);
    if (!id.ok()) return id.status();
    ids.push_back(*id);
  }
  return ids;
}

std::string PhaseSyntax() {
  std::string aliases;
  for (const PhaseAlias& a : kPhaseAliases) {
    absl::StrAppend(&aliases, a.alias, ", ");
  }
  return absl::StrCat("a phase (", aliases, kPhaseNone, "), a hook name (",
                      HookNames(), ") or a hook id");
}

}  // namespace resdb_trace::catalogue
