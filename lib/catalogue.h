// The one C++ view of the hook catalogue (include/resdb_trace/catalog.h):
// every row with its EventType, lookup by id and by name, and the phase names
// users pass to `--phase`. The daemon and every client read the catalogue
// through here, so no other file expands RESDB_TRACE_HOOKS into a table.
#ifndef RESDB_TRACE_LIB_CATALOGUE_H_
#define RESDB_TRACE_LIB_CATALOGUE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "resdb_trace/v1/events.pb.h"

namespace resdb_trace::catalogue {

// Every hook symbol is this prefix plus the hook's name.
inline constexpr absl::string_view kSymbolPrefix = "resdb_trace_";

// One catalogue row.
struct Hook {
  uint32_t id;                   // stable id, the uprobe's attach cookie
  absl::string_view name;        // symbol suffix, e.g. "prepare_received"
  absl::string_view symbol;      // the hook function, kSymbolPrefix + name
  absl::string_view camel_name;  // the gated wrapper is ResdbTrace<camel_name>
  int abi;                       // RESDB_TRACE_ABI_*: what the registers mean
  uint32_t msg_type;             // usual ResilientDB Request::Type; 0 = varies
  v1::EventType event_type;      // the Event.event member it decodes into
  absl::string_view where;       // where ResilientDB calls it
  absl::string_view seq_arg;     // what the `seq` argument means
  absl::string_view aux_arg;     // what the `aux` argument means (v1 only)
};

// Every hook, in ascending id order (ids are dense from 1).
absl::Span<const Hook> Hooks();

// The row of hook `id`, or nullptr when `id` is not in the catalogue.
const Hook* FindHook(uint32_t id);

// The event type hook `id` decodes into; NotFound for an unknown id.
absl::StatusOr<v1::EventType> EventTypeForHook(uint32_t id);

// The row named `name` ("prepare_received" or "resdb_trace_prepare_received");
// NotFound, listing every valid name, otherwise.
absl::StatusOr<const Hook*> FindHookByName(absl::string_view name);

// A hook as a user writes it (`--hooks`): its id or its name, as
// FindHookByName takes it. InvalidArgument, listing the valid names and ids,
// for anything else.
absl::StatusOr<const Hook*> ParseHook(absl::string_view token);

// Every hook name, comma-separated in id order, for help and error texts.
std::string HookNames();

// Phases: a CPU sample's phase is the id of the last hook its thread passed
// (0 = none yet).

// "none" for 0, the hook's name for a catalogue id ("prepare_received"), or
// "hook_<id>" for an id outside the catalogue.
std::string PhaseName(uint32_t hook_id);

// One phase as users pass it to `--phase`: an alias (prepare, commit,
// pre_prepare or pre-prepare, execute, request: the hook after which a thread
// works on that stage), "none", a hook name, or what PhaseName prints for an
// id outside the catalogue ("hook_<id>", or the bare decimal id), so every
// phase a profile shows can be asked for again. InvalidArgument, saying what
// is valid, for anything else.
absl::StatusOr<uint32_t> ParsePhase(absl::string_view token);

// A comma-separated list of ParsePhase tokens; whitespace around a token and
// empty tokens are ignored. The first bad token's error.
absl::StatusOr<std::vector<uint32_t>> ParsePhases(absl::string_view list);

// What ParsePhase accepts, for help and error texts.
std::string PhaseSyntax();

}  // namespace resdb_trace::catalogue

#endif  // RESDB_TRACE_LIB_CATALOGUE_H_
