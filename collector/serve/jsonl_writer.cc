#include "collector/serve/jsonl_writer.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "lib/output_file.h"

namespace resdb_trace::collector {

std::string EventToJson(const v1::Event& event) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(event, &json, options);
  return json;
}

absl::StatusOr<std::unique_ptr<JsonlWriter>> JsonlWriter::Create(
    const std::string& path, EventHubT* hub, size_t queue_capacity) {
  std::unique_ptr<JsonlWriter> w(new JsonlWriter());
  w->path_ = path;
  if (path == "-") {
    w->out_ = stdout;
  } else {
    // Appended to: a restart must not wipe the previous run's events.
    absl::StatusOr<int> fd =
        OpenOutputFile("--jsonl", path, OutputMode::kAppend);
    if (!fd.ok()) return absl::InvalidArgumentError(fd.status().message());
    w->out_ = fdopen(*fd, "a");
    if (w->out_ == nullptr) {
      close(*fd);
      return absl::InvalidArgumentError(
          absl::StrFormat("--jsonl %s: cannot open for writing: %s", path,
                          std::strerror(errno)));
    }
    w->owns_ = true;
  }
  SubscriberOptions<v1::Event> opt;
  opt.capacity = queue_capacity;
  opt.name = "jsonl:" + path;
  absl::StatusOr<EventHubT::Subscription> sub = hub->Subscribe(std::move(opt));
  if (!sub.ok()) return sub.status();
  w->sub_ = std::move(*sub);
  w->thread_ = std::thread([p = w.get()] { p->Run(); });
  return w;
}

JsonlWriter::~JsonlWriter() {
  sub_.Unsubscribe();
  Join();
  if (owns_ && out_ != nullptr) std::fclose(out_);
}

void JsonlWriter::Join() {
  if (thread_.joinable()) thread_.join();
}

void JsonlWriter::Run() {
  std::vector<std::shared_ptr<const v1::Event>> events;
  while (true) {
    PopResult r = sub_.PopBatch(4096, absl::Milliseconds(5), &events,
                                absl::Milliseconds(200));
    if (failed_.load()) {
      // Keep draining (the queue stays bounded) and count what is lost.
      dropped_.fetch_add(r.dropped + events.size());
      if (r.closed) break;
      continue;
    }
    std::string chunk;
    if (r.dropped > 0) {
      dropped_.fetch_add(r.dropped);
      v1::Event notice;
      notice.set_type(v1::EVENT_TYPE_LOSS_NOTICE);
      notice.mutable_loss_notice()->set_subscriber_dropped(r.dropped);
      chunk += EventToJson(notice);
      chunk += '\n';
    }
    for (const auto& e : events) {
      chunk += EventToJson(*e);
      chunk += '\n';
    }
    if (!chunk.empty()) {
      if (std::fwrite(chunk.data(), 1, chunk.size(), out_) != chunk.size() ||
          std::fflush(out_) != 0) {
        std::fprintf(stderr,
                     "resdb-trace-collector: --jsonl %s: write failed: %s; "
                     "JSON output stopped, gRPC keeps serving\n",
                     path_.c_str(), std::strerror(errno));
        failed_.store(true);
        dropped_.fetch_add(events.size());
      } else {
        written_.fetch_add(events.size());
      }
    }
    if (r.closed) break;
  }
}

}  // namespace resdb_trace::collector
