// The BPF object's BTF describes resdb_trace_record exactly as the collector
// compiles it: same size, same member offsets. Needs no privileges.
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cstddef>
#include <string>

#include "bpf/trace_record.h"
#include "gtest/gtest.h"

namespace {

struct BtfDeleter {
  void operator()(btf* b) const { btf__free(b); }
};

TEST(RecordBtfTest, BpfObjectAgreesWithTheHeader) {
  std::unique_ptr<btf, BtfDeleter> b(btf__parse("bpf/hooks.bpf.o", nullptr));
  ASSERT_NE(b, nullptr) << "cannot read BTF from bpf/hooks.bpf.o: errno "
                        << errno;
  int id =
      btf__find_by_name_kind(b.get(), "resdb_trace_record", BTF_KIND_STRUCT);
  ASSERT_GT(id, 0) << "struct resdb_trace_record is not in the BTF";
  const btf_type* t = btf__type_by_id(b.get(), id);
  EXPECT_EQ(t->size, sizeof(resdb_trace_record));

  struct Expected {
    const char* name;
    size_t offset;
  };
  const Expected expected[] = {
      {"ktime_ns", offsetof(resdb_trace_record, ktime_ns)},
      {"pid", offsetof(resdb_trace_record, pid)},
      {"tid", offsetof(resdb_trace_record, tid)},
      {"cpu", offsetof(resdb_trace_record, cpu)},
      {"hook_id", offsetof(resdb_trace_record, hook_id)},
      {"args", offsetof(resdb_trace_record, args)},
  };
  ASSERT_EQ(btf_vlen(t), sizeof(expected) / sizeof(expected[0]));
  const btf_member* m = btf_members(t);
  for (int i = 0; i < btf_vlen(t); ++i, ++m) {
    EXPECT_EQ(std::string(btf__name_by_offset(b.get(), m->name_off)),
              expected[i].name);
    EXPECT_EQ(btf_member_bit_offset(t, i), 8 * expected[i].offset)
        << expected[i].name;
  }
}

}  // namespace
