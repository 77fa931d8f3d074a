// Writes the seed corpora of the fuzz targets (except elf_binary's, see
// make_elf_seeds.sh): small valid inputs built with the same types the
// collector uses, and a few invalid ones. Regenerate with
//   bazel run //tests/fuzz:seed_gen -- "$PWD/tests/fuzz/corpus"
// Output is deterministic, so a rerun changes nothing unless the formats do.
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bpf/trace_record.h"
#include "google/protobuf/util/time_util.h"
#include "resdb_trace/catalog.h"
#include "resdb_trace/v1/events.pb.h"
#include "resdb_trace/v1/service.pb.h"
#include "resdb_trace/v1/timeline.pb.h"
#include "tests/collector/timeline/pbft_sim.h"
#include "tests/fuzz/timeline_stream.h"

namespace {

namespace v1 = resdb_trace::v1;
namespace fz = resdb_trace::fuzz;
using resdb_trace::collector::testing::PbftSim;

std::string root;

void Write(const std::string& target, const std::string& name,
           const std::string& bytes) {
  const std::string dir = root + "/" + target;
  mkdir(dir.c_str(), 0755);
  const std::string path = dir + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "seed_gen: cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

// --- decoder: raw ring-buffer records ---------------------------------------

std::string Record(uint32_t hook, uint32_t pid, uint32_t cpu, uint64_t seq,
                   uint64_t meta, uint64_t a3, uint64_t a4, uint64_t a5) {
  resdb_trace_record r{};
  r.ktime_ns = 5'000'000'000 + seq * 1000;
  r.pid = pid;
  r.tid = pid + 1;
  r.cpu = cpu;
  r.hook_id = hook;
  r.args[0] = 0x7f0000001000;  // request pointer
  r.args[1] = seq;
  r.args[2] = meta;
  r.args[3] = a3;
  r.args[4] = a4;
  r.args[5] = a5;
  return std::string(reinterpret_cast<const char*>(&r), sizeof(r));
}

uint64_t Meta(uint32_t type, uint16_t sender, uint16_t self) {
  return type | uint64_t{sender} << 32 | uint64_t{self} << 48;
}

void DecoderSeeds() {
  const uint64_t digest = 0x1122334455667788;
  Write("decoder", "v1_prepare_received",
        Record(RESDB_TRACE_ID_prepare_received, 1001, 1, 42,
               Meta(RESDB_TRACE_TYPE_PREPARE, 2, 1), 100, 0, digest));
  Write("decoder", "v1_new_view_installed",
        Record(RESDB_TRACE_ID_new_view_installed, 1002, 2, 50, Meta(0, 0, 2),
               100, 1, 2));
  Write("decoder", "compat_commit_state",
        Record(RESDB_TRACE_ID_pbft_commit_state, 1003, 3, 42,
               Meta(RESDB_TRACE_TYPE_COMMIT, 3, 3), 100, 1'700'000'000'000, 0));
  Write("decoder", "dispatch_consensus_commit",
        Record(RESDB_TRACE_ID_consensus_commit, 1004, 4, 42,
               RESDB_TRACE_TYPE_PREPARE, 2, 100, 0));
  // A stream: two processes, one record of an unknown hook, one whose cpu
  // (14) makes the fuzz target forget its process, then that pid again.
  Write("decoder", "stream_mixed",
        Record(RESDB_TRACE_ID_pre_prepare_sent, 1001, 1, 7,
               Meta(RESDB_TRACE_TYPE_PRE_PREPARE, 1, 1), 100, 0, digest) +
            Record(RESDB_TRACE_ID_pre_prepare_received, 1002, 2, 7,
                   Meta(RESDB_TRACE_TYPE_PRE_PREPARE, 1, 2), 100, 0, digest) +
            Record(99, 1002, 2, 7, 0, 0, 0, 0) +
            Record(RESDB_TRACE_ID_execute_end, 1001, 14, 7,
                   Meta(RESDB_TRACE_TYPE_COMMIT, 1, 1), 100, 0, 3) +
            Record(RESDB_TRACE_ID_reply_sent, 1001, 1, 7,
                   Meta(RESDB_TRACE_TYPE_RESPONSE, 1, 1), 100, 0, digest));
  Write("decoder", "invalid_short",
        Record(RESDB_TRACE_ID_prepared, 1001, 1, 1, 0, 0, 0, 0).substr(0, 71));
  Write("decoder", "invalid_hook_0", Record(0, 1001, 1, 1, 0, 0, 0, 0));
  Write("decoder", "invalid_hook_64", Record(64, 1001, 1, 1, 0, 0, 0, 0));
  Write("decoder", "invalid_extra_byte",
        Record(RESDB_TRACE_ID_committed, 1001, 1, 1, 0, 0, 0, 0) + "x");
}

// --- event_filter: SubscribeRequest -----------------------------------------

void FilterSeeds() {
  auto write = [](const std::string& name, const v1::SubscribeRequest& r) {
    Write("event_filter", name, r.SerializeAsString());
  };
  write("empty", v1::SubscribeRequest());
  {
    v1::SubscribeRequest r;
    v1::Filter* f = r.add_allow_list();
    f->add_event_types(v1::EVENT_TYPE_PREPARED);
    f->add_event_types(v1::EVENT_TYPE_COMMITTED);
    f->add_replica_ids(1);
    f->add_replica_ids(2);
    r.mutable_batching()->set_max_events(64);
    r.mutable_batching()->set_max_delay_ms(5);
    r.set_queue_capacity(1024);
    r.set_client_name("resdb-trace watch");
    write("allow_types_replicas", r);
  }
  {
    v1::SubscribeRequest r;
    v1::Filter* f = r.add_allow_list();
    f->set_seq_min(100);
    f->set_seq_max(200);
    v1::Filter* d = r.add_deny_list();
    d->add_pids(4242);
    d->add_hook_ids(RESDB_TRACE_ID_user);
    write("seq_range_deny_pid_hook", r);
  }
  {
    v1::SubscribeRequest r;
    r.add_deny_list()->add_event_types(v1::EVENT_TYPE_PREPARE_RECEIVED);
    r.add_deny_list()->set_seq_max(10);
    write("deny_only", r);
  }
  {
    v1::SubscribeRequest r;
    r.add_allow_list()->add_event_types(static_cast<v1::EventType>(9999));
    write("invalid_event_type", r);
  }
  {
    v1::SubscribeRequest r;
    v1::Filter* f = r.add_allow_list();
    f->set_seq_min(200);
    f->set_seq_max(100);
    write("invalid_seq_range", r);
  }
  {
    v1::SubscribeRequest r;
    r.add_allow_list()->add_replica_ids(70000);
    write("invalid_replica_id", r);
  }
  {
    v1::SubscribeRequest r;
    r.add_deny_list()->add_hook_ids(64);
    write("invalid_hook_id", r);
  }
  {
    v1::SubscribeRequest r;
    for (int i = 0; i < 65; ++i) r.add_allow_list()->add_pids(1 + i);
    write("invalid_too_many_filters", r);
  }
  Write("event_filter", "invalid_not_a_proto", "\xff\xff\xff\xff");
}

// --- listen_address: the --listen value -------------------------------------

void ListenSeeds() {
  const char* const specs[][2] = {
      {"unix_default", "unix:///run/resdb-trace/collector.sock"},
      {"unix_short", "unix:/tmp/c.sock"},
      {"ipv4_loopback", "127.0.0.1:50051"},
      {"ipv6_loopback", "[::1]:50051"},
      {"localhost", "localhost:0"},
      {"any_address", "0.0.0.0:50051"},
      {"invalid_relative_unix", "unix:run/c.sock"},
      {"invalid_port", "127.0.0.1:65536"},
      {"invalid_no_host", ":50051"},
      {"invalid_no_port", "localhost"},
  };
  for (const auto& [name, spec] : specs) Write("listen_address", name, spec);
}

// --- timeline_builder: op streams --------------------------------------------

std::string Header(uint8_t f, uint8_t max_open, uint8_t retained,
                   uint8_t episodes) {
  return std::string{static_cast<char>(f), static_cast<char>(max_open - 1),
                     static_cast<char>(retained - 1),
                     static_cast<char>(episodes - 1)};
}

void Add(std::string* s, const v1::Event& e) {
  fz::AppendTimelineOp(s, fz::kAdd, e.SerializeAsString());
}

void AddAll(std::string* s, std::vector<v1::Event> events, uint64_t* next_id) {
  PbftSim::Number(&events, next_id);
  for (const v1::Event& e : events) Add(s, e);
}

void Queries(std::string* s, uint64_t seq) {
  v1::GetTimelineRequest g;
  g.set_seq(seq);
  fz::AppendTimelineOp(s, fz::kGet, g.SerializeAsString());
  v1::ListTimelinesRequest l;
  l.set_include_open(true);
  l.set_limit(4);
  fz::AppendTimelineOp(s, fz::kList, l.SerializeAsString());
  fz::AppendTimelineOp(s, fz::kListViewChanges,
                       v1::ListViewChangesRequest().SerializeAsString());
}

v1::Event ViewChangeEvent(uint32_t rid, int64_t t, v1::EventType type,
                          uint64_t new_view, uint32_t sender) {
  v1::Event e;
  e.set_type(type);
  e.set_replica_id(rid);
  e.set_ktime_ns(static_cast<uint64_t>(t));
  *e.mutable_time() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      1'700'000'000'000'000'000 + t);
  e.mutable_process()->set_pid(1000 + rid);
  switch (type) {
    case v1::EVENT_TYPE_VIEW_CHANGE_STARTED:
      e.mutable_view_change_started()->set_new_view(new_view);
      e.mutable_view_change_started()->set_sender(sender);
      break;
    case v1::EVENT_TYPE_VIEW_CHANGE_RECEIVED:
      e.mutable_view_change_received()->set_new_view(new_view);
      e.mutable_view_change_received()->set_sender(sender);
      break;
    case v1::EVENT_TYPE_NEW_VIEW_SENT:
      e.mutable_new_view_sent()->set_new_view(new_view);
      e.mutable_new_view_sent()->set_sender(sender);
      break;
    default:
      e.mutable_new_view_installed()->set_new_view(new_view);
      e.mutable_new_view_installed()->set_sender(sender);
      e.mutable_new_view_installed()->set_new_primary(new_view % 4 + 1);
      break;
  }
  return e;
}

void TimelineSeeds() {
  constexpr int64_t kMs = 1'000'000;
  // Three instances on a healthy 4-replica cluster, closed by Advance.
  {
    PbftSim sim(4, 1);
    uint64_t id = 1;
    std::string s = Header(0, 16, 32, 8);
    for (uint64_t seq = 1; seq <= 3; ++seq) {
      AddAll(&s,
             sim.Instance(seq, 0, static_cast<int64_t>(seq) * 10 * kMs, seq,
                          0xa000 + seq)
                 .events,
             &id);
    }
    fz::AppendTimelineOp(&s, fz::kAdvance, fz::Le64(5000 * kMs));
    Queries(&s, 2);
    Write("timeline_builder", "pbft_three_instances", s);
  }
  // Replica 4 crashed (absent), a loss notice, then flush.
  {
    PbftSim sim(4, 2);
    uint64_t id = 1;
    std::string s = Header(1, 16, 32, 8);
    AddAll(&s, sim.Instance(1, 0, 10 * kMs, 1, 0xb001, {1, 2, 3}).events, &id);
    v1::Event loss;
    loss.set_type(v1::EVENT_TYPE_LOSS_NOTICE);
    loss.mutable_loss_notice()->set_ringbuf_dropped(3);
    Add(&s, loss);
    v1::Event exited;
    exited.set_type(v1::EVENT_TYPE_PROCESS_EXITED);
    exited.mutable_process_exited()->set_pid(1004);
    Add(&s, exited);
    fz::AppendTimelineOp(&s, fz::kNoteLoss, fz::Le64(2));
    fz::AppendTimelineOp(&s, fz::kAddDropped, fz::Le64(5));
    fz::AppendTimelineOp(&s, fz::kFlush, "");
    Queries(&s, 1);
    Write("timeline_builder", "crashed_replica_losses", s);
  }
  // A view change from view 0 to 1, then an instance in view 1 that
  // re-proposes seq 1 after its view-0 timeline closed.
  {
    PbftSim sim(4, 3);
    uint64_t id = 1;
    std::string s = Header(0, 16, 32, 8);
    AddAll(&s, sim.Instance(1, 0, 10 * kMs, 1, 0xc001).events, &id);
    fz::AppendTimelineOp(&s, fz::kAdvance, fz::Le64(500 * kMs));
    std::vector<v1::Event> vc;
    for (uint32_t r = 2; r <= 4; ++r) {
      vc.push_back(ViewChangeEvent(r, 600 * kMs + r,
                                   v1::EVENT_TYPE_VIEW_CHANGE_STARTED, 1, r));
    }
    for (uint32_t r = 2; r <= 4; ++r) {
      for (uint32_t from = 2; from <= 4; ++from) {
        vc.push_back(ViewChangeEvent(
            r, 601 * kMs + from, v1::EVENT_TYPE_VIEW_CHANGE_RECEIVED, 1, from));
      }
    }
    vc.push_back(
        ViewChangeEvent(2, 602 * kMs, v1::EVENT_TYPE_NEW_VIEW_SENT, 1, 2));
    for (uint32_t r = 2; r <= 4; ++r) {
      vc.push_back(ViewChangeEvent(r, 603 * kMs + r,
                                   v1::EVENT_TYPE_NEW_VIEW_INSTALLED, 1, 2));
    }
    AddAll(&s, vc, &id);
    AddAll(&s, sim.Instance(1, 1, 700 * kMs, 2, 0xc001, {2, 3, 4}).events, &id);
    fz::AppendTimelineOp(&s, fz::kAdvance, fz::Le64(2000 * kMs));
    Queries(&s, 1);
    Write("timeline_builder", "view_change_reproposal", s);
  }
  // Eviction (max_open 2) and a conflicting commit on seq 5.
  {
    PbftSim sim(4, 4);
    uint64_t id = 1;
    std::string s = Header(0, 2, 4, 2);
    for (uint64_t seq = 5; seq <= 8; ++seq) {
      AddAll(&s,
             sim.Instance(seq, 0, static_cast<int64_t>(seq) * kMs, seq,
                          0xd000 + seq)
                 .events,
             &id);
    }
    AddAll(&s, sim.Instance(5, 0, 20 * kMs, 9, 0xdead).events, &id);
    Queries(&s, 5);
    Write("timeline_builder", "eviction_conflicting_commit", s);
  }
  // A hostile replica (see tests/faults/hook_flood_target.cc) against small
  // caps: 40 replica ids, two processes claiming one, views rising through
  // a view change, a proxy per batch and 600 events for one seq.
  {
    // 10 replica ids, 64 events per timeline, 2 KiB rendered, 11 listed
    // missing events and proxies, 128 events held open.
    std::string s = Header(1, 8, 8, 4);
    s[0] = static_cast<char>(s[0] | (10 << 2));
    s[1] = static_cast<char>(s[1] | (3 << 4));
    s[2] = static_cast<char>(s[2] | (3 << 5));
    s[3] = static_cast<char>(s[3] | (3 << 3) | (1 << 6));
    auto hook = [&](uint32_t rid, uint32_t pid, int64_t t) {
      v1::Event e;
      e.set_replica_id(rid);
      e.set_ktime_ns(static_cast<uint64_t>(t));
      e.mutable_process()->set_pid(pid);
      return e;
    };
    for (int i = 0; i < 600; ++i) {
      v1::Event e =
          hook(1 + i % 40, i % 7 == 0 ? 7777 : 1000 + i % 40, i * kMs);
      e.set_type(v1::EVENT_TYPE_PREPARE_RECEIVED);
      auto* m = e.mutable_prepare_received();
      m->set_seq(i % 3 == 0 ? 42 : 100 + i / 16);
      m->set_view(i);
      m->set_sender(static_cast<uint32_t>(i * 31 % 65535));
      m->set_digest_prefix(0x9e3779b97f4a7c15ull * i);
      Add(&s, e);
      if (i % 5 == 0) {
        Add(&s, ViewChangeEvent(1 + i % 4, i * kMs,
                                i % 10 == 0 ? v1::EVENT_TYPE_VIEW_CHANGE_STARTED
                                            : v1::EVENT_TYPE_NEW_VIEW_INSTALLED,
                                i, 1 + i % 4));
      }
      if (i % 4 == 0) {
        v1::Event b = hook(100, 1100, i * kMs);
        b.set_type(v1::EVENT_TYPE_CLIENT_BATCH_SENT);
        b.mutable_client_batch_sent()->set_local_id(i);
        b.mutable_client_batch_sent()->set_proxy_id(5000 + i);
        b.mutable_client_batch_sent()->set_digest_prefix(i);
        Add(&s, b);
        v1::Event r = hook(1, 1001, i * kMs + 1);
        r.set_type(v1::EVENT_TYPE_REQUEST_RECEIVED);
        r.mutable_request_received()->set_seq(42);
        r.mutable_request_received()->set_proxy_id(5000 + i);
        r.mutable_request_received()->set_digest_prefix(i);
        Add(&s, r);
      }
    }
    Queries(&s, 42);
    fz::AppendTimelineOp(&s, fz::kAdvance, fz::Le64(100'000 * kMs));
    Queries(&s, 42);
    Write("timeline_builder", "hostile_replica_small_caps", s);
  }
  // Not events at all, and a truncated header.
  {
    std::string s = Header(0, 4, 4, 4);
    fz::AppendTimelineOp(&s, fz::kAdd, "\xff\xff\xff");
    fz::AppendTimelineOp(&s, fz::kGet, "");
    Write("timeline_builder", "invalid_events", s);
    Write("timeline_builder", "invalid_short_header", "\x01\x02");
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: seed_gen CORPUS_DIR (tests/fuzz/corpus)\n");
    return 2;
  }
  root = argv[1];
  mkdir(root.c_str(), 0755);
  DecoderSeeds();
  FilterSeeds();
  ListenSeeds();
  TimelineSeeds();
  return 0;
}
