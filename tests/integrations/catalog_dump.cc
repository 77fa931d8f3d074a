// Prints the hook catalogue (include/resdb_trace/catalog.h), one hook a line,
// tab-separated: id, name, CamelCase name, ABI macro, where ResilientDB calls
// it. Lets shell tests derive their hook lists from the catalogue itself.
#include <cstdio>

#include "resdb_trace/catalog.h"

int main() {
#define RESDB_TRACE_X_DUMP(id, name, Name, abi, type, event, where, seq_arg, \
                           aux_arg)                                          \
  std::printf("%d\t%s\t%s\t%s\t%s\n", id, #name, #Name, #abi, where);
  RESDB_TRACE_HOOKS(RESDB_TRACE_X_DUMP)
#undef RESDB_TRACE_X_DUMP
  return 0;
}
