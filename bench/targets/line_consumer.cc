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
//   bpftrace -e '...' | line_consumer [--ready-file PATH]
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

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

}  // namespace

int main(int argc, char** argv) {
  std::string ready_file;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--ready-file") == 0 && i + 1 < argc) {
      ready_file = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--ready-file PATH]\n", argv[0]);
      return 2;
    }
  }
  unsigned long long events = 0, lost = 0, malformed = 0, other = 0;
  unsigned long long checksum = 0;
  char* line = nullptr;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, stdin)) > 0) {
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
  std::printf(
      "{\"events\":%llu,\"lost_reported\":%llu,\"malformed\":%llu,"
      "\"other_lines\":%llu,\"checksum\":%llu}\n",
      events, lost, malformed, other, checksum);
  return 0;
}
