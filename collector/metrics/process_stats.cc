#include "collector/metrics/process_stats.h"

#include <dirent.h>
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

// Under ASan/TSan/MSan malloc is the sanitizer's allocator, which glibc's
// mallinfo2 does not see; the sanitizer runtime reports its own figures.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RESDB_TRACE_SANITIZER_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define RESDB_TRACE_SANITIZER_ALLOCATOR 1
#endif
#endif
#ifdef RESDB_TRACE_SANITIZER_ALLOCATOR
extern "C" size_t __sanitizer_get_current_allocated_bytes(void);
extern "C" size_t __sanitizer_get_free_bytes(void);
#endif

namespace resdb_trace::collector {
namespace {

uint32_t CountFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  uint32_t n = 0;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n > 0 ? n - 1 : 0;  // not the directory stream's own fd
}

uint32_t CountThreads() {
  // Field 20 of /proc/self/stat; field 2 (comm) may hold spaces, so count
  // from the last ')'.
  std::FILE* f = std::fopen("/proc/self/stat", "re");
  if (f == nullptr) return 0;
  char buf[1024];
  const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return 0;
  // After ')': state is field 3; threads is field 20, 17 fields on.
  long threads = 0;
  if (std::sscanf(p + 1,
                  " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d "
                  "%*d %*d %*d %ld",
                  &threads) != 1) {
    return 0;
  }
  return threads > 0 ? static_cast<uint32_t>(threads) : 0;
}

uint64_t RssBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "re");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const int got = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (got != 2) return 0;
  return static_cast<uint64_t>(resident) *
         static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

v1::ProcessStats ReadProcessStats() {
  v1::ProcessStats out;
  out.set_rss_bytes(RssBytes());
#if defined(RESDB_TRACE_SANITIZER_ALLOCATOR)
  out.set_heap_in_use_bytes(__sanitizer_get_current_allocated_bytes());
  out.set_heap_free_bytes(__sanitizer_get_free_bytes());
#elif defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
  // mallinfo2 sums every arena (glibc >= 2.33). uordblks: in use;
  // fordblks: free in the heaps; hblkhd: in use through mmap.
  const struct mallinfo2 mi = mallinfo2();
  out.set_heap_in_use_bytes(mi.uordblks + mi.hblkhd);
  out.set_heap_free_bytes(mi.fordblks);
#endif
  out.set_open_fds(CountFds());
  out.set_threads(CountThreads());
  return out;
}

}  // namespace resdb_trace::collector
