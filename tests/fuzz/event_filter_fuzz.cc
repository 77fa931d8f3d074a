// Fuzzes subscription filters: the input is a serialized SubscribeRequest
// (as a gRPC client sends it). Whatever parses must either be rejected by
// EventFilter::Create or compile into a filter whose Matches agrees, on
// events built from the request's own values and on a fixed set, with a
// plain re-statement of the documented semantics (allow-list any-of, then
// deny-list none-of, empty criteria match all, lifecycle events always pass).
// A second Create under tiny limits must reject every request over them.
#include <cstdint>
#include <optional>
#include <vector>

#include "collector/decode/decoder.h"
#include "collector/serve/event_filter.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "resdb_trace/v1/events.pb.h"
#include "resdb_trace/v1/service.pb.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using resdb_trace::collector::EventFilter;
using resdb_trace::collector::EventSeq;
using resdb_trace::collector::FilterLimits;
namespace v1 = resdb_trace::v1;

// An event of `type` (its oneof member set), with `seq` in the member's seq
// field when it has one.
v1::Event MakeEvent(int type, uint32_t replica, uint32_t pid, uint32_t hook,
                    uint64_t seq) {
  v1::Event e;
  if (v1::EventType_IsValid(type)) e.set_type(static_cast<v1::EventType>(type));
  e.set_replica_id(replica);
  e.mutable_process()->set_pid(pid);
  e.set_hook_id(hook);
  // EventType numbers equal the Event.event oneof field numbers.
  const google::protobuf::FieldDescriptor* member =
      v1::Event::descriptor()->FindFieldByNumber(type);
  if (member != nullptr && member->containing_oneof() != nullptr) {
    google::protobuf::Message* m =
        e.GetReflection()->MutableMessage(&e, member);
    const google::protobuf::FieldDescriptor* seq_field =
        m->GetDescriptor()->FindFieldByName("seq");
    if (seq_field != nullptr &&
        seq_field->cpp_type() ==
            google::protobuf::FieldDescriptor::CPPTYPE_UINT64) {
      m->GetReflection()->SetUInt64(m, seq_field, seq);
    }
  }
  return e;
}

template <typename T, typename R>
bool InOrEmpty(const R& values, T v) {
  if (values.empty()) return true;
  for (const auto& x : values) {
    if (static_cast<T>(x) == v) return true;
  }
  return false;
}

bool FilterMatches(const v1::Filter& f, const v1::Event& e) {
  if (!InOrEmpty<int>(f.event_types(), static_cast<int>(e.type()))) {
    return false;
  }
  if (!InOrEmpty<uint32_t>(f.replica_ids(), e.replica_id())) return false;
  if (!InOrEmpty<uint32_t>(f.pids(), e.process().pid())) return false;
  if (!InOrEmpty<uint32_t>(f.hook_ids(), e.hook_id())) return false;
  if (f.has_seq_min() || f.has_seq_max()) {
    const std::optional<uint64_t> seq = EventSeq(e);
    if (!seq) return false;
    if (f.has_seq_min() && *seq < f.seq_min()) return false;
    if (f.has_seq_max() && *seq > f.seq_max()) return false;
  }
  return true;
}

bool Reference(const v1::SubscribeRequest& r, const v1::Event& e) {
  switch (e.event_case()) {
    case v1::Event::kProcessStarted:
    case v1::Event::kProcessExited:
    case v1::Event::kLossNotice:
      return true;
    default:
      break;
  }
  if (r.allow_list_size() > 0) {
    bool allowed = false;
    for (const v1::Filter& f : r.allow_list()) allowed |= FilterMatches(f, e);
    if (!allowed) return false;
  }
  for (const v1::Filter& f : r.deny_list()) {
    if (FilterMatches(f, e)) return false;
  }
  return true;
}

template <typename R>
std::optional<uint64_t> First(const R& values) {
  if (values.empty()) return std::nullopt;
  return static_cast<uint64_t>(*values.begin());
}

// Events that sit on, just inside and just outside each filter's values.
std::vector<v1::Event> Probes(const v1::SubscribeRequest& r) {
  std::vector<v1::Event> events;
  for (int type : {1, 2, 3, 10, 12, 15, 19, 23, 27, 31, 100}) {
    events.push_back(MakeEvent(type, 1, 1000, 15, 7));
  }
  std::vector<v1::Filter> filters(r.allow_list().begin(), r.allow_list().end());
  filters.insert(filters.end(), r.deny_list().begin(), r.deny_list().end());
  for (const v1::Filter& f : filters) {
    const int type = static_cast<int>(First(f.event_types()).value_or(19));
    const uint32_t replica =
        static_cast<uint32_t>(First(f.replica_ids()).value_or(2));
    const uint32_t pid = static_cast<uint32_t>(First(f.pids()).value_or(42));
    const uint32_t hook =
        static_cast<uint32_t>(First(f.hook_ids()).value_or(19));
    std::vector<uint64_t> seqs = {0, UINT64_MAX};
    for (uint64_t b : {f.seq_min(), f.seq_max()}) {
      seqs.push_back(b);
      seqs.push_back(b - 1);
      seqs.push_back(b + 1);
    }
    for (uint64_t seq : seqs) {
      events.push_back(MakeEvent(type, replica, pid, hook, seq));
      events.push_back(MakeEvent(type, replica + 1, pid, hook, seq));
      events.push_back(MakeEvent(type, replica, pid ^ 1, hook, seq));
    }
  }
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  v1::SubscribeRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;

  const FilterLimits tiny{/*max_filters=*/2, /*max_values_per_criterion=*/3};
  const int total = request.allow_list_size() + request.deny_list_size();
  bool over_tiny = total > tiny.max_filters;
  for (const auto* list : {&request.allow_list(), &request.deny_list()}) {
    for (const v1::Filter& f : *list) {
      for (int n : {f.event_types_size(), f.replica_ids_size(), f.pids_size(),
                    f.hook_ids_size()}) {
        over_tiny |= n > tiny.max_values_per_criterion;
      }
    }
  }
  if (over_tiny) {
    FUZZ_CHECK(
        absl::IsInvalidArgument(EventFilter::Create(request, tiny).status()));
  }

  const absl::StatusOr<EventFilter> filter = EventFilter::Create(request);
  if (!filter.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(filter.status()));
    return 0;
  }
  FUZZ_CHECK(total <= FilterLimits{}.max_filters);
  for (const v1::Event& e : Probes(request)) {
    FUZZ_CHECK(filter->Matches(e) == Reference(request, e));
  }
  return 0;
}
