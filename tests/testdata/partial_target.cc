// A binary that defines only two of the catalogue's hooks, by hand, without
// the hook header: the collector must attach those and name the rest missing.
#include <cstdint>
#include <cstdio>

extern "C" {
__attribute__((noipa, used, visibility("default"))) void resdb_trace_prepared(
    uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e, uint64_t f) {
  asm volatile(""
               :
               : "r"(a), "r"(b), "r"(c), "r"(d), "r"(e), "r"(f)
               : "memory");
}
__attribute__((noipa, used, visibility("default"))) void
resdb_trace_commit_sent(uint64_t a, uint64_t b, uint64_t c, uint64_t d,
                        uint64_t e, uint64_t f) {
  asm volatile(""
               :
               : "r"(a), "r"(b), "r"(c), "r"(d), "r"(e), "r"(f)
               : "memory");
}
}

int main() {
  resdb_trace_prepared(1, 5, 4, 0, 0, 0);
  resdb_trace_commit_sent(1, 5, 5, 0, 0, 0);
  std::puts("partial_target: done");
  return 0;
}
