// The profiler's BPF object describes its count-map key exactly as the
// collector compiles it (bpf/profile_record.h), and both BPF objects agree
// with the collector on the shared thread_phase value, so the map can be
// shared. Needs no privileges.
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "bpf/profile_record.h"
#include "bpf/trace_record.h"
#include "gtest/gtest.h"

namespace {

struct BtfDeleter {
  void operator()(btf* b) const { btf__free(b); }
};

struct Member {
  const char* name;
  size_t offset;
};

void ExpectStruct(const char* object, const char* type, size_t size,
                  const std::vector<Member>& members) {
  std::unique_ptr<btf, BtfDeleter> b(btf__parse(object, nullptr));
  ASSERT_NE(b, nullptr) << "cannot read BTF from " << object << ": errno "
                        << errno;
  int id = btf__find_by_name_kind(b.get(), type, BTF_KIND_STRUCT);
  ASSERT_GT(id, 0) << "struct " << type << " is not in the BTF of " << object;
  const btf_type* t = btf__type_by_id(b.get(), id);
  EXPECT_EQ(t->size, size) << type << " in " << object;
  ASSERT_EQ(static_cast<size_t>(btf_vlen(t)), members.size()) << type;
  const btf_member* m = btf_members(t);
  for (int i = 0; i < btf_vlen(t); ++i, ++m) {
    EXPECT_EQ(std::string(btf__name_by_offset(b.get(), m->name_off)),
              members[i].name);
    EXPECT_EQ(btf_member_bit_offset(t, i), 8 * members[i].offset)
        << type << "." << members[i].name;
  }
}

TEST(ProfileBtfTest, CountKeyMatchesTheHeader) {
  ExpectStruct(
      "bpf/profile.bpf.o", "resdb_profile_key", sizeof(resdb_profile_key),
      {{"tgid", offsetof(resdb_profile_key, tgid)},
       {"tid", offsetof(resdb_profile_key, tid)},
       {"user_stack_id", offsetof(resdb_profile_key, user_stack_id)},
       {"kernel_stack_id", offsetof(resdb_profile_key, kernel_stack_id)},
       {"hook_id", offsetof(resdb_profile_key, hook_id)},
       {"pad", offsetof(resdb_profile_key, pad)}});
}

TEST(ProfileBtfTest, BothObjectsAgreeOnThreadPhase) {
  const std::vector<Member> members = {
      {"hook_id", offsetof(resdb_trace_thread_phase, hook_id)},
      {"pad", offsetof(resdb_trace_thread_phase, pad)},
      {"seq", offsetof(resdb_trace_thread_phase, seq)},
      {"since_ns", offsetof(resdb_trace_thread_phase, since_ns)}};
  for (const char* object : {"bpf/hooks.bpf.o", "bpf/profile.bpf.o"}) {
    ExpectStruct(object, "resdb_trace_thread_phase",
                 sizeof(resdb_trace_thread_phase), members);
  }
}

}  // namespace
