// line_consumer: the seed's consumer side. Reads bpftrace's text output on
// stdin and parses every event line the seed's commit_state printf produces
//   "<nsecs> <epoch_ns> <pid> <tid> commit_state <seq> sender=<u> self=<u>
//    proxy=<u> req=0x<x> type=<u>"
// into fields, as the seed's sidecar does before correlating them. It also
// creates READY_FILE when it reads the line "ready" (the script prints it
// from BEGIN, which bpftrace runs after every probe is attached) and adds
// up bpftrace's own loss reports ("Lost N events"). At end of input it prints
// one JSON line:
//   {"events":N,"lost_reported":L,"malformed":M,"other_lines":O}
//
// With --progress-file it also keeps "<events> <reported lost> <monotonic ns
// of the last line>" in that file, rewritten at most every 10 ms while lines
// arrive, so a driver can tell when it has caught up.
//
//   bpftrace -e '...' | line_consumer [--ready-file PATH]
//                                     [--progress-file PATH]
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "lib/flags/flags.h"

namespace {

struct SeedEvent {
  unsigned long long nsecs = 0;
  long long epoch_ns = 0;
  int pid = 0;
  int tid = 0;
  unsigned long seq = 0;
  unsigned sender = 0;
  unsigned self = 0;
  unsigned long proxy = 0;
  unsigned long req = 0;
  unsigned type = 0;
};

uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + ts.tv_nsec;
}

void WriteProgress(int fd, unsigned long long events, unsigned long long lost,
                   uint64_t last_ns) {
  if (fd < 0) return;
  char buf[96];
  const int n = std::snprintf(buf, sizeof(buf), "%llu %llu %llu\n", events,
                              lost, static_cast<unsigned long long>(last_ns));
  if (n > 0 && ftruncate(fd, 0) == 0) {
    (void)!pwrite(fd, buf, static_cast<size_t>(n), 0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string ready_file, progress_file;
  CLI::App app;
  resdb_trace::flags::Setup(
      &app, "line_consumer",
      R"(line_consumer: parses bpftrace's lines from stdin (bench/).

Usage: line_consumer [--ready-file PATH] [--progress-file PATH]

  --ready-file PATH     create PATH when the line "ready" arrives
  --progress-file PATH  keep "<events> <lost> <last ns>" there
  --version             print the version and exit
  -h, --help            print this text and exit
)");
  app.add_option("--ready-file", ready_file);
  app.add_option("--progress-file", progress_file);
  resdb_trace::flags::ParseOrExit(&app, argc, argv);
  const int progress_fd =
      progress_file.empty()
          ? -1
          : open(progress_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  uint64_t last_line_ns = 0, last_progress_ns = 0;
  unsigned long long events = 0, lost = 0, malformed = 0, other = 0;
  unsigned long long checksum = 0;
  char* line = nullptr;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, stdin)) > 0) {
    if (progress_fd >= 0) {
      last_line_ns = MonotonicNs();
      if (last_line_ns - last_progress_ns >= 10'000'000) {
        WriteProgress(progress_fd, events, lost, last_line_ns);
        last_progress_ns = last_line_ns;
      }
    }
    if (line[0] >= '0' && line[0] <= '9') {
      SeedEvent e;
      const int n = std::sscanf(
          line,
          "%llu %lld %d %d commit_state %lu sender=%u self=%u proxy=%lu "
          "req=0x%lx type=%u",
          &e.nsecs, &e.epoch_ns, &e.pid, &e.tid, &e.seq, &e.sender, &e.self,
          &e.proxy, &e.req, &e.type);
      if (n == 10) {
        ++events;
        checksum += e.seq;  // keeps the parse from being optimised away
      } else {
        ++malformed;
      }
      continue;
    }
    unsigned long long n = 0;
    if (std::sscanf(line, "Lost %llu events", &n) == 1) {
      lost += n;
    } else if (std::strncmp(line, "ready", 5) == 0 && !ready_file.empty()) {
      std::ofstream(ready_file) << "ready\n";
    } else {
      ++other;
    }
  }
  std::free(line);
  WriteProgress(progress_fd, events, lost, last_line_ns);
  if (progress_fd >= 0) close(progress_fd);
  std::printf(
      "{\"events\":%llu,\"lost_reported\":%llu,\"malformed\":%llu,"
      "\"other_lines\":%llu,\"checksum\":%llu}\n",
      events, lost, malformed, other, checksum);
  return 0;
}
