// Status propagation macros for absl::Status / absl::StatusOr.
//
// Debian's Abseil (20220623) ships neither RETURN_IF_ERROR nor
// ASSIGN_OR_RETURN, so the collector defines its own, in the spirit of
// Abseil's internal ones. Both are statement macros; use them only in
// functions that return absl::Status or absl::StatusOr<T>.
#ifndef RESDB_TRACE_LIB_STATUS_MACROS_H_
#define RESDB_TRACE_LIB_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Evaluates `expr` (an absl::Status) once and returns it from the enclosing
// function if it is not OK.
//
//   RETURN_IF_ERROR(file.Flush());
#define RETURN_IF_ERROR(expr)                                  \
  do {                                                         \
    ::absl::Status resdb_trace_status_ = (expr);               \
    if (!resdb_trace_status_.ok()) return resdb_trace_status_; \
  } while (0)

// Evaluates `rexpr` (an absl::StatusOr<T>) once; on error returns its status
// from the enclosing function, otherwise moves the value into `lhs`, which
// may be a declaration:
//
//   ASSIGN_OR_RETURN(ElfBinary elf, ElfBinary::Open(path));
//   ASSIGN_OR_RETURN(offset, elf.VaddrToFileOffset(vaddr));
#define ASSIGN_OR_RETURN(lhs, rexpr)                                           \
  RESDB_TRACE_ASSIGN_OR_RETURN_IMPL_(                                          \
      RESDB_TRACE_STATUS_MACROS_CONCAT_(resdb_trace_statusor_, __LINE__), lhs, \
      rexpr)

#define RESDB_TRACE_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                       \
  if (!statusor.ok()) return std::move(statusor).status();       \
  lhs = std::move(statusor).value()

#define RESDB_TRACE_STATUS_MACROS_CONCAT_INNER_(x, y) x##y
#define RESDB_TRACE_STATUS_MACROS_CONCAT_(x, y) \
  RESDB_TRACE_STATUS_MACROS_CONCAT_INNER_(x, y)

#endif  // RESDB_TRACE_LIB_STATUS_MACROS_H_
