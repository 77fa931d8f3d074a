#include "collector/serve/event_filter.h"

#include <string>

#include "absl/strings/str_format.h"
#include "collector/decode/decoder.h"

namespace resdb_trace::collector {
namespace {

absl::Status CheckSize(int size, int limit, const std::string& where) {
  if (size > limit) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s has %d values; at most %d are allowed", where, size, limit));
  }
  return absl::OkStatus();
}

bool IsLifecycle(const v1::Event& event) {
  switch (event.event_case()) {
    case v1::Event::kProcessStarted:
    case v1::Event::kProcessExited:
    case v1::Event::kLossNotice:
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<EventFilter> EventFilter::Create(
    const v1::SubscribeRequest& request, const FilterLimits& limits) {
  const int total = request.allow_list_size() + request.deny_list_size();
  if (total > limits.max_filters) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%d filters given; at most %d (allow_list + deny_list)",
                        total, limits.max_filters));
  }
  EventFilter filter;
  auto compile = [&](const v1::Filter& f, const std::string& where,
                     std::vector<Compiled>& out) -> absl::Status {
    const int lim = limits.max_values_per_criterion;
    for (const auto& [size, name] :
         {std::pair<int, const char*>{f.event_types_size(), "event_types"},
          {f.replica_ids_size(), "replica_ids"},
          {f.pids_size(), "pids"},
          {f.hook_ids_size(), "hook_ids"}}) {
      absl::Status s = CheckSize(size, lim, where + "." + name);
      if (!s.ok()) return s;
    }
    Compiled c;
    for (int t : f.event_types()) {
      if (t == v1::EVENT_TYPE_UNDEF || !v1::EventType_IsValid(t)) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s.event_types: %d is not a valid EventType", where, t));
      }
      c.types.insert(t);
    }
    for (uint32_t r : f.replica_ids()) {
      if (r > 0xffff) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s.replica_ids: %u is out of range (replica ids are 16-bit)",
            where, r));
      }
      c.replicas.insert(r);
    }
    for (uint32_t p : f.pids()) {
      if (p == 0) {
        return absl::InvalidArgumentError(
            absl::StrFormat("%s.pids: 0 is not a process id", where));
      }
      c.pids.insert(p);
    }
    for (uint32_t h : f.hook_ids()) {
      if (h == 0 || h >= 64) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s.hook_ids: %u is not a catalogue hook id (1..63)", where, h));
      }
      c.hooks.insert(h);
    }
    if (f.has_seq_min()) c.seq_min = f.seq_min();
    if (f.has_seq_max()) c.seq_max = f.seq_max();
    if (c.seq_min && c.seq_max && *c.seq_min > *c.seq_max) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: seq_min %u > seq_max %u", where, *c.seq_min, *c.seq_max));
    }
    out.push_back(std::move(c));
    return absl::OkStatus();
  };
  for (int i = 0; i < request.allow_list_size(); ++i) {
    absl::Status s =
        compile(request.allow_list(i), absl::StrFormat("allow_list[%d]", i),
                filter.allow_);
    if (!s.ok()) return s;
  }
  for (int i = 0; i < request.deny_list_size(); ++i) {
    absl::Status s = compile(request.deny_list(i),
                             absl::StrFormat("deny_list[%d]", i), filter.deny_);
    if (!s.ok()) return s;
  }
  return filter;
}

bool EventFilter::Compiled::Matches(const v1::Event& event) const {
  if (!types.empty() && !types.contains(static_cast<int>(event.type()))) {
    return false;
  }
  if (!replicas.empty() && !replicas.contains(event.replica_id())) {
    return false;
  }
  if (!pids.empty() && !pids.contains(event.process().pid())) return false;
  if (!hooks.empty() && !hooks.contains(event.hook_id())) return false;
  if (seq_min || seq_max) {
    std::optional<uint64_t> seq = EventSeq(event);
    if (!seq) return false;
    if (seq_min && *seq < *seq_min) return false;
    if (seq_max && *seq > *seq_max) return false;
  }
  return true;
}

bool EventFilter::Matches(const v1::Event& event) const {
  if (IsLifecycle(event)) return true;
  if (!allow_.empty()) {
    bool allowed = false;
    for (const Compiled& c : allow_) {
      if (c.Matches(event)) {
        allowed = true;
        break;
      }
    }
    if (!allowed) return false;
  }
  for (const Compiled& c : deny_) {
    if (c.Matches(event)) return false;
  }
  return true;
}

}  // namespace resdb_trace::collector
