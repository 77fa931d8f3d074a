// A small ProfileData with known numbers, shared by the encoder tests.
//
//   pid 10 "replica" (replica 1, exe /bin/replica), pid 20 "client"
//   70  pid 10 tid 11 prepare_received  main > Run > Hot
//   20  pid 10 tid 11 commit_received   main > Run > Cold
//    6  pid 10 tid 12 none              main > Run > do_syscall (kernel)
//    3  pid 20 tid 21 none              main > [unknown] libfoo.so+0x1234
//    1  pid 20 tid 21 none              [lost user stack]
#ifndef RESDB_TRACE_TESTS_COLLECTOR_PROFILE_PROFILE_FIXTURE_H_
#define RESDB_TRACE_TESTS_COLLECTOR_PROFILE_PROFILE_FIXTURE_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "collector/profile/profile_data.h"
#include "collector/profile/symbolizer.h"

namespace resdb_trace::collector::profile::testing {

inline Frame UserFrame(const std::string& fn, const std::string& module,
                       uint64_t address, const std::string& file = "",
                       uint32_t line = 0) {
  Frame f;
  f.function = fn;
  f.mangled = "_Z" + fn;
  f.module = module;
  f.build_id = module == "/bin/replica" ? "00112233445566778899" : "";
  f.address = address;
  f.file = file;
  f.line = line;
  return f;
}

inline ProfileData MakeFixture() {
  ProfileData d;
  d.frequency_hz = 99;
  d.start = absl::FromUnixSeconds(1700000000) + absl::Nanoseconds(123456789);
  d.end = d.start + absl::Seconds(5);
  const uint32_t main_f = d.AddFrame(UserFrame("main", "/bin/replica", 0x1000));
  const uint32_t run = d.AddFrame(UserFrame("Run", "/bin/replica", 0x1100));
  const uint32_t hot =
      d.AddFrame(UserFrame("Hot", "/bin/replica", 0x1200, "src/hot.cc", 12));
  const uint32_t cold = d.AddFrame(UserFrame("Cold", "/bin/replica", 0x1300));
  Frame k;
  k.kind = Frame::Kind::kKernel;
  k.function = "do_syscall";
  k.mangled = "do_syscall";
  k.module = kKernelModule;
  k.address = 0xffffffff81000100;
  const uint32_t kern = d.AddFrame(k);
  Frame unknown;
  unknown.module = "/usr/lib/libfoo.so";
  unknown.address = 0x1234;
  const uint32_t unk = d.AddFrame(unknown);
  const uint32_t lost = d.AddFrame(MarkerFrame(kLostUserStackMarker));

  auto add = [&](std::vector<uint32_t> frames, uint64_t n, uint32_t pid,
                 uint32_t tid, uint32_t phase) {
    ProfileSample s;
    s.frames = std::move(frames);
    s.count = n;
    s.pid = pid;
    s.tid = tid;
    s.phase = phase;
    d.samples.push_back(std::move(s));
  };
  add({hot, run, main_f}, 70, 10, 11, 15);
  add({cold, run, main_f}, 20, 10, 11, 18);
  add({kern, run, main_f}, 6, 10, 12, 0);
  add({unk, main_f}, 3, 20, 21, 0);
  add({lost}, 1, 20, 21, 0);

  ProcessInfo replica;
  replica.pid = 10;
  replica.comm = "replica";
  replica.exe = "/bin/replica";
  replica.replica_id = 1;
  d.processes[10] = replica;
  ProcessInfo client;
  client.pid = 20;
  client.comm = "client";
  d.processes[20] = client;

  d.counters.samples = 100;
  d.counters.lost_user_stacks = 1;
  d.counters.unknown_frames = 3;
  d.counters.dropped_samples = 2;
  d.counters.intervals = 5;
  return d;
}

}  // namespace resdb_trace::collector::profile::testing

#endif  // RESDB_TRACE_TESTS_COLLECTOR_PROFILE_PROFILE_FIXTURE_H_
