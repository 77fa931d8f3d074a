// ReadProcessStats reports this process's own figures: a known allocation
// shows in heap_in_use_bytes and goes away when freed; an opened fd and a
// started thread are counted.
#include "collector/metrics/process_stats.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "gtest/gtest.h"

namespace resdb_trace::collector {
namespace {

TEST(ProcessStatsTest, HeapTracksALiveAllocation) {
  const v1::ProcessStats before = ReadProcessStats();
  constexpr size_t kBytes = 8 << 20;
  char* block = static_cast<char*>(std::malloc(kBytes));
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, kBytes);  // resident, not only reserved
  const v1::ProcessStats during = ReadProcessStats();
  EXPECT_GE(during.heap_in_use_bytes(), before.heap_in_use_bytes() + kBytes);
  EXPECT_GE(during.rss_bytes(), before.rss_bytes() + kBytes / 2);
  std::free(block);
  const v1::ProcessStats after = ReadProcessStats();
  EXPECT_LT(after.heap_in_use_bytes(), during.heap_in_use_bytes() - kBytes / 2);
}

TEST(ProcessStatsTest, CountsFdsAndThreads) {
  const v1::ProcessStats before = ReadProcessStats();
  EXPECT_GE(before.open_fds(), 3u);  // stdin, stdout, stderr at least
  EXPECT_GE(before.threads(), 1u);
  const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  bool stop = false;
  std::thread t([&] {
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  const v1::ProcessStats during = ReadProcessStats();
  EXPECT_EQ(during.open_fds(), before.open_fds() + 1);
  // >=: TSan's runtime starts its own thread with the first one we start.
  EXPECT_GE(during.threads(), before.threads() + 1);
  __atomic_store_n(&stop, true, __ATOMIC_RELEASE);
  t.join();
  close(fd);
  EXPECT_EQ(ReadProcessStats().open_fds(), before.open_fds());
}

}  // namespace
}  // namespace resdb_trace::collector
