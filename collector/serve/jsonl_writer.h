// Writes every event as one JSON line (protobuf's JSON mapping of
// resdb_trace.v1.Event) to a file or stdout. It is a hub subscriber like any
// other: if it falls behind, its own drops are counted and written as
// LossNotice lines. A write error (disk full) is reported once and stops the
// writer; the collector keeps serving gRPC.
#ifndef RESDB_TRACE_COLLECTOR_SERVE_JSONL_WRITER_H_
#define RESDB_TRACE_COLLECTOR_SERVE_JSONL_WRITER_H_

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "collector/ingest/collector.h"

namespace resdb_trace::collector {

class JsonlWriter {
 public:
  // `path` "-" is stdout.
  static absl::StatusOr<std::unique_ptr<JsonlWriter>> Create(
      const std::string& path, EventHubT* hub, size_t queue_capacity);
  ~JsonlWriter();

  // Waits until the hub is shut down and everything queued is written.
  void Join();
  uint64_t written() const { return written_.load(); }
  uint64_t dropped() const { return dropped_.load(); }
  bool failed() const { return failed_.load(); }

 private:
  JsonlWriter() = default;
  void Run();

  std::string path_;
  FILE* out_ = nullptr;
  bool owns_ = false;
  EventHubT::Subscription sub_;
  std::thread thread_;
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<bool> failed_{false};
};

// One event as a single JSON line (no trailing newline).
std::string EventToJson(const v1::Event& event);

}  // namespace resdb_trace::collector

#endif  // RESDB_TRACE_COLLECTOR_SERVE_JSONL_WRITER_H_
