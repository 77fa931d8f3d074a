// resdb-trace: the command-line client of resdb-trace-collector.
//
//   resdb-trace watch [--types prepare_received,committed] [--replicas 1,2]
//                     [--pids N,..] [--seq MIN:MAX] [--json] [--count N]
//                     [--seconds S] [--listen ADDR]
//   resdb-trace stats [--json] [--listen ADDR]
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "resdb_trace/v1/service.grpc.pb.h"

namespace {

namespace v1 = resdb_trace::v1;
using google::protobuf::FieldDescriptor;

constexpr char kUsage[] = R"(resdb-trace: client of resdb-trace-collector.

Usage:
  resdb-trace watch [filters] [--json] [--count N] [--seconds S]
      print events live, one line each (--json: protobuf JSON per line)
      filters: --types T1,T2   event types, e.g. prepare_received,committed
               --replicas 1,2  replica ids
               --pids N,M      process ids
               --seq MIN:MAX   seq range (either side may be empty)
               --batch N       events per batch (default: collector's)
               --delay-ms N    longest batching delay (default: collector's)
  resdb-trace stats [--json]
      collector counters, subscribers and attach state

Common:
  --listen ADDR   collector address (default unix:///run/resdb-trace/collector.sock)
)";

[[noreturn]] void Die(const std::string& msg, int code = 2) {
  std::fprintf(stderr, "resdb-trace: %s\n", msg.c_str());
  std::exit(code);
}

std::string Target(const std::string& listen) {
  if (listen.rfind("unix:", 0) == 0) {
    std::string path = listen.substr(5);
    if (path.rfind("//", 0) == 0) path = path.substr(2);
    return "unix://" + path;
  }
  return listen;
}

v1::EventType ParseType(const std::string& token) {
  std::string upper = absl::AsciiStrToUpper(token);
  if (upper.rfind("EVENT_TYPE_", 0) != 0) upper = "EVENT_TYPE_" + upper;
  v1::EventType t;
  if (!v1::EventType_Parse(upper, &t) || t == v1::EVENT_TYPE_UNDEF) {
    Die(absl::StrFormat("--types: unknown event type '%s'", token));
  }
  return t;
}

std::vector<uint32_t> ParseList(const std::string& flag,
                                const std::string& value) {
  std::vector<uint32_t> out;
  for (absl::string_view t : absl::StrSplit(value, ',', absl::SkipEmpty())) {
    uint32_t v;
    if (!absl::SimpleAtoi(t, &v)) {
      Die(absl::StrFormat("%s: '%s' is not a number", flag, t));
    }
    out.push_back(v);
  }
  return out;
}

// "prepare_received r2 pid 123 view=0 seq=7 sender=3 digest=..."
std::string Describe(const v1::Event& e) {
  const google::protobuf::Reflection* r = e.GetReflection();
  const FieldDescriptor* member = r->GetOneofFieldDescriptor(
      e, v1::Event::descriptor()->FindOneofByName("event"));
  std::string name = member ? member->name() : "event";
  const int64_t secs = e.time().seconds();
  time_t t = static_cast<time_t>(secs);
  struct tm tm;
  localtime_r(&t, &tm);
  char clock[32];
  std::strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
  std::string line = absl::StrFormat("%s.%06d r%-2u pid %-7u %-22s", clock,
                                     e.time().nanos() / 1000, e.replica_id(),
                                     e.process().pid(), name);
  if (member == nullptr) return line;
  const google::protobuf::Message& m = r->GetMessage(e, member);
  const google::protobuf::Reflection* mr = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  mr->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->name() == "request_ptr") continue;
    std::string v;
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_UINT64:
        v = f->name() == "digest_prefix"
                ? absl::StrFormat("%016x", mr->GetUInt64(m, f))
                : absl::StrCat(mr->GetUInt64(m, f));
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        v = absl::StrCat(mr->GetUInt32(m, f));
        break;
      case FieldDescriptor::CPPTYPE_INT64:
        v = absl::StrCat(mr->GetInt64(m, f));
        break;
      case FieldDescriptor::CPPTYPE_INT32:
        v = absl::StrCat(mr->GetInt32(m, f));
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        v = mr->GetEnum(m, f)->name();
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        v = mr->GetString(m, f);
        break;
      default:
        continue;
    }
    absl::StrAppend(&line, " ", f->name(), "=", v);
  }
  return line;
}

int Watch(const std::string& listen, int argc, char** argv, int i) {
  v1::SubscribeRequest req;
  req.set_client_name("resdb-trace watch");
  v1::Filter* f = nullptr;
  auto filter = [&]() {
    if (f == nullptr) f = req.add_allow_list();
    return f;
  };
  bool json = false;
  long count = -1;
  double seconds = -1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    auto need = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--types") {
      for (absl::string_view t : absl::StrSplit(need(), ',', absl::SkipEmpty()))
        filter()->add_event_types(ParseType(std::string(t)));
    } else if (a == "--replicas") {
      for (uint32_t v : ParseList(a, need())) filter()->add_replica_ids(v);
    } else if (a == "--pids") {
      for (uint32_t v : ParseList(a, need())) filter()->add_pids(v);
    } else if (a == "--seq") {
      std::string v = need();
      std::vector<std::string> parts = absl::StrSplit(v, ':');
      uint64_t n;
      if (parts.size() != 2) Die("--seq expects MIN:MAX");
      if (!parts[0].empty()) {
        if (!absl::SimpleAtoi(parts[0], &n)) Die("--seq: bad MIN");
        filter()->set_seq_min(n);
      }
      if (!parts[1].empty()) {
        if (!absl::SimpleAtoi(parts[1], &n)) Die("--seq: bad MAX");
        filter()->set_seq_max(n);
      }
    } else if (a == "--json") {
      json = true;
    } else if (a == "--count") {
      if (!absl::SimpleAtoi(need(), &count)) Die("--count: bad number");
    } else if (a == "--seconds") {
      if (!absl::SimpleAtod(need(), &seconds)) Die("--seconds: bad number");
    } else if (a == "--batch") {
      uint32_t n;
      if (!absl::SimpleAtoi(need(), &n)) Die("--batch: bad number");
      req.mutable_batching()->set_max_events(n);
    } else if (a == "--delay-ms") {
      uint32_t n;
      if (!absl::SimpleAtoi(need(), &n)) Die("--delay-ms: bad number");
      req.mutable_batching()->set_max_delay_ms(n);
    } else {
      Die("watch: unknown flag " + a + "\n" + kUsage);
    }
  }
  auto channel =
      grpc::CreateChannel(Target(listen), grpc::InsecureChannelCredentials());
  auto stub = v1::TraceService::NewStub(channel);
  grpc::ClientContext ctx;
  if (seconds > 0) {
    ctx.set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
  }
  auto reader = stub->Subscribe(&ctx, req);
  v1::EventBatch batch;
  long printed = 0;
  google::protobuf::util::JsonPrintOptions jopt;
  jopt.preserve_proto_field_names = true;
  while (reader->Read(&batch)) {
    for (const v1::Event& e : batch.events()) {
      if (json) {
        std::string s;
        (void)google::protobuf::util::MessageToJsonString(e, &s, jopt);
        std::printf("%s\n", s.c_str());
      } else {
        std::printf("%s\n", Describe(e).c_str());
      }
      if (e.event_case() != v1::Event::kLossNotice && ++printed == count) {
        std::fflush(stdout);
        ctx.TryCancel();
        reader->Finish();
        return 0;
      }
    }
    std::fflush(stdout);
  }
  grpc::Status s = reader->Finish();
  if (!s.ok() && s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
    Die(absl::StrFormat("watch %s: %s", listen, s.error_message()), 1);
  }
  return 0;
}

int Stats(const std::string& listen, int argc, char** argv, int i) {
  bool json = false;
  for (; i < argc; ++i) {
    if (std::string(argv[i]) == "--json") {
      json = true;
    } else {
      Die(absl::StrCat("stats: unknown flag ", argv[i]));
    }
  }
  auto channel =
      grpc::CreateChannel(Target(listen), grpc::InsecureChannelCredentials());
  auto stub = v1::TraceService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::Stats stats;
  grpc::Status s = stub->GetStats(&ctx, v1::GetStatsRequest(), &stats);
  if (!s.ok()) {
    Die(absl::StrFormat("stats %s: %s", listen, s.error_message()), 1);
  }
  if (json) {
    std::string out;
    google::protobuf::util::JsonPrintOptions jopt;
    jopt.preserve_proto_field_names = true;
    jopt.add_whitespace = true;
    (void)google::protobuf::util::MessageToJsonString(stats, &out, jopt);
    std::printf("%s\n", out.c_str());
    return 0;
  }
  std::printf("records read      %llu\n",
              static_cast<unsigned long long>(stats.records_read()));
  std::printf("events decoded    %llu\n",
              static_cast<unsigned long long>(stats.events_decoded()));
  std::printf("malformed         %llu\n",
              static_cast<unsigned long long>(stats.records_malformed()));
  std::printf("ring-buffer drops %llu\n",
              static_cast<unsigned long long>(stats.ringbuf_drops_total()));
  std::printf("subscribers       %d\n", stats.subscribers_size());
  for (const auto& sub : stats.subscribers()) {
    std::printf("  #%llu %-24s delivered %llu dropped %llu queue %u/%u\n",
                static_cast<unsigned long long>(sub.id()),
                sub.client_name().c_str(),
                static_cast<unsigned long long>(sub.delivered()),
                static_cast<unsigned long long>(sub.dropped()),
                sub.queue_depth(), sub.queue_capacity());
  }
  int attached = 0;
  for (const auto& a : stats.attachments()) {
    if (a.status() == v1::ATTACH_STATUS_ATTACHED) {
      ++attached;
    } else {
      std::printf("  not attached: %s in %s: %s %s\n", a.hook_name().c_str(),
                  a.binary().c_str(), v1::AttachStatus_Name(a.status()).c_str(),
                  a.message().c_str());
    }
  }
  std::printf("hooks attached    %d of %d\n", attached,
              stats.attachments_size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "unix:///run/resdb-trace/collector.sock";
  std::string command;
  int i = 1;
  // Global flags may precede the command.
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--listen" && i + 1 < argc) {
      listen = argv[++i];
    } else if (a.rfind("--listen=", 0) == 0) {
      listen = a.substr(9);
    } else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      command = a;
      ++i;
      break;
    }
  }
  // ... or follow it.
  std::vector<char*> rest;
  for (int j = i; j < argc; ++j) {
    std::string a = argv[j];
    if (a == "--listen" && j + 1 < argc) {
      listen = argv[++j];
    } else if (a.rfind("--listen=", 0) == 0) {
      listen = a.substr(9);
    } else {
      rest.push_back(argv[j]);
    }
  }
  rest.insert(rest.begin(), argv[0]);
  if (command == "watch") return Watch(listen, rest.size(), rest.data(), 1);
  if (command == "stats") return Stats(listen, rest.size(), rest.data(), 1);
  std::fputs(kUsage, stderr);
  return 2;
}
