/*
 * resdb_trace hooks: zero-dependency dispatch points for PBFT tracing.
 *
 * Include this header wherever ResilientDB (or any program) reports a
 * consensus point, and call either
 *   - a gated wrapper:  ResdbTracePrepareReceived(req_ptr, seq, type, sender,
 *                         self, proxy_id, view, digest_prefix);
 *   - the gated macro:  RESDB_TRACE_V1(prepare_received, ...same args...);
 *     which evaluates its arguments only while a tracer is attached;
 *   - or the raw hook:  resdb_trace_prepare_received(req_ptr, seq, meta, ...),
 *     exactly as DeepObserve's code calls resdb_trace_pbft_*.
 *
 * How a hook is built (see docs/hooks.md for the reasoning and measurements):
 *   - Each hook `resdb_trace_<name>` is defined in top-level assembly, in its
 *     own COMDAT group, so every translation unit may carry the definition
 *     (header-only) and the linker keeps one copy. The compiler sees only a
 *     declaration, so it can neither inline nor clone (.constprop) the hook:
 *     a probe on the symbol sees every call at any optimization level.
 *   - The body is a 5-byte NOP (0f 1f 44 00 00) and `ret`, 16-byte aligned,
 *     with no endbr64 in front: Linux >= 6.18 turns a uprobe on a nop5 into a
 *     call into a trampoline instead of an int3 trap (~15x cheaper per hit).
 *   - `resdb_trace_semaphores[64]` is a USDT-style is-enabled table in a
 *     file-backed writable section (.probes): slot <id> is raised by the
 *     kernel while a uprobe on hook <id> is attached with ref_ctr_offset.
 *     Gated wrappers test it first, so a detached site costs one load and a
 *     predicted branch.
 *   - The Bazel target //:resdb_trace exports the hooks and the table into
 *     .dynsym, so stripped PIE binaries stay traceable.
 *
 * Compiles as C11 and C++11..C++23 with -Wall -Wextra -Werror -pedantic.
 * Define RESDB_TRACE_DISABLE to compile every gated call out (arguments are
 * still type-checked).
 */
#ifndef RESDB_TRACE_HOOKS_H_
#define RESDB_TRACE_HOOKS_H_

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "resdb_trace/catalog.h"

#if defined(__cplusplus)
#define RESDB_TRACE_EXTERN_C extern "C"
#define RESDB_TRACE_EXTERN_C_BEGIN extern "C" {
#define RESDB_TRACE_EXTERN_C_END }
#else
#define RESDB_TRACE_EXTERN_C
#define RESDB_TRACE_EXTERN_C_BEGIN
#define RESDB_TRACE_EXTERN_C_END
#endif

#define RESDB_TRACE_API __attribute__((visibility("default"), noinline))
#define RESDB_TRACE_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ------------------------------------------------------------------------ */
/* Definitions: one COMDAT group per hook, plus one for the semaphore table. */

#define RESDB_TRACE_STR_(x) #x
#define RESDB_TRACE_STR(x) RESDB_TRACE_STR_(x)

#if defined(__x86_64__)
/* nop5 is the uprobe attach point; the kernel may rewrite it into a call. */
#define RESDB_TRACE_ASM_BODY ".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n\tret\n"
#define RESDB_TRACE_ASM_FUNC "@function"
#define RESDB_TRACE_ASM_OBJECT "@object"
#define RESDB_TRACE_ASM_BITS "@progbits"
#elif defined(__aarch64__)
#define RESDB_TRACE_ASM_BODY "nop\n\tret\n"
#define RESDB_TRACE_ASM_FUNC "%function"
#define RESDB_TRACE_ASM_OBJECT "%object"
#define RESDB_TRACE_ASM_BITS "%progbits"
#else
#error "resdb_trace hooks: only x86-64 and aarch64 are supported"
#endif

/* One statement per hook: -pedantic caps a string literal at 4095 bytes. */
#define RESDB_TRACE_X_ASM(id, name, Name, abi, type, event, where, seq_arg, \
                          aux_arg)                                          \
  __asm__("\t.pushsection .text.resdb_trace_" #name                         \
          ",\"axG\"," RESDB_TRACE_ASM_BITS ",resdb_trace_" #name            \
          ",comdat\n"                                                       \
          "\t.weak resdb_trace_" #name                                      \
          "\n"                                                              \
          "\t.type resdb_trace_" #name "," RESDB_TRACE_ASM_FUNC             \
          "\n"                                                              \
          "\t.p2align 4\n"                                                  \
          "resdb_trace_" #name ":\n\t" RESDB_TRACE_ASM_BODY                 \
          "\t.size resdb_trace_" #name ", .-resdb_trace_" #name             \
          "\n\t.popsection\n");

/* The semaphore table: 64 x uint16, zero in the file, raised by the kernel. */
#define RESDB_TRACE_ASM_SEMAPHORES \
  "\t.pushsection .probes,\"awG\"," RESDB_TRACE_ASM_BITS                      \
  ",resdb_trace_semaphores,comdat\n"                                          \
  "\t.weak resdb_trace_semaphores\n"                                          \
  "\t.type resdb_trace_semaphores," RESDB_TRACE_ASM_OBJECT                    \
  "\n"                                                                        \
  "\t.p2align 3\n"                                                            \
  "resdb_trace_semaphores:\n"                                                 \
  "\t.zero " RESDB_TRACE_STR(RESDB_TRACE_SEMAPHORE_SLOTS) " * 2\n"            \
  "\t.size resdb_trace_semaphores, " RESDB_TRACE_STR(                         \
      RESDB_TRACE_SEMAPHORE_SLOTS) " * 2\n\t.popsection\n"

RESDB_TRACE_HOOKS(RESDB_TRACE_X_ASM)
__asm__(RESDB_TRACE_ASM_SEMAPHORES);

/* ------------------------------------------------------------------------ */
/* Declarations. */

#define RESDB_TRACE_SIG_RESDB_TRACE_ABI_COMPAT                       \
  (uint64_t req_ptr, uint64_t seq, uint64_t meta, uint64_t proxy_id, \
   int64_t epoch_ns)
#define RESDB_TRACE_SIG_RESDB_TRACE_ABI_DISPATCH                      \
  (uint64_t req_ptr, uint64_t seq, uint32_t type, uint32_t sender_id, \
   uint64_t proxy_id)
#define RESDB_TRACE_SIG_RESDB_TRACE_ABI_V1                           \
  (uint64_t req_ptr, uint64_t seq, uint64_t meta, uint64_t proxy_id, \
   uint64_t view, uint64_t aux)

#define RESDB_TRACE_X_DECL(id, name, Name, abi, type, event, where, seq_arg, \
                           aux_arg)                                          \
  RESDB_TRACE_API void resdb_trace_##name RESDB_TRACE_SIG_##abi;

RESDB_TRACE_EXTERN_C_BEGIN
RESDB_TRACE_HOOKS(RESDB_TRACE_X_DECL)

/* Is-enabled table: slot <hook id> is non-zero while that hook is traced. */
__attribute__((visibility("default"))) extern volatile uint16_t
    resdb_trace_semaphores[RESDB_TRACE_SEMAPHORE_SLOTS];
RESDB_TRACE_EXTERN_C_END

#undef RESDB_TRACE_X_DECL

/* ------------------------------------------------------------------------ */
/* Meta packing: type | sender << 32 | self << 48 (DeepObserve's layout).   */

/* Packs a message type, the sender's replica id and this replica's id. */
static inline uint64_t ResdbTracePackMeta(uint32_t type, uint32_t sender_id,
                                          uint32_t self_id) {
  return ((uint64_t)type & 0xffffffffULL) |
         (((uint64_t)sender_id & 0xffffULL) << 32) |
         (((uint64_t)self_id & 0xffffULL) << 48);
}

/* Message type (bits 0-31). */
static inline uint32_t ResdbTraceMetaType(uint64_t meta) {
  return (uint32_t)(meta & 0xffffffffULL);
}

/* Sender replica id (bits 32-47); 0 for local state changes. */
static inline uint32_t ResdbTraceMetaSender(uint64_t meta) {
  return (uint32_t)((meta >> 32) & 0xffffULL);
}

/* This replica's id (bits 48-63). */
static inline uint32_t ResdbTraceMetaSelf(uint64_t meta) {
  return (uint32_t)((meta >> 48) & 0xffffULL);
}

/* ------------------------------------------------------------------------ */
/* Time and digest helpers.                                                  */

/* Wall-clock nanoseconds since the Unix epoch (system_clock), as DeepObserve
 * passes in epoch_ns. v1 hooks need no caller clock: the kernel stamps hits. */
static inline int64_t ResdbTraceEpochNs(void) {
  struct timespec ts;
#if defined(CLOCK_REALTIME)
  clock_gettime(CLOCK_REALTIME, &ts);
#else
  /* Strict C11 (no POSIX feature macros) has only timespec_get. */
  timespec_get(&ts, TIME_UTC);
#endif
  return (int64_t)ts.tv_sec * 1000000000LL + (int64_t)ts.tv_nsec;
}

/* The first 8 bytes of a digest (e.g. Request::hash()) as a little-endian
 * u64, zero-padded when shorter: enough to tell conflicting proposals apart
 * in a trace. */
static inline uint64_t ResdbTraceDigestPrefix(const void* digest, size_t len) {
  unsigned char bytes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  uint64_t prefix = 0;
  size_t i;
  if (digest != NULL) memcpy(bytes, digest, len < 8 ? len : 8);
  for (i = 0; i < 8; ++i) prefix |= (uint64_t)bytes[i] << (8 * i);
  return prefix;
}

/* ------------------------------------------------------------------------ */
/* Gating.                                                                   */

/* True while a tracer is attached to hook <name> (e.g. prepare_received). */
#define RESDB_TRACE_ENABLED(name) \
  RESDB_TRACE_UNLIKELY(resdb_trace_semaphores[RESDB_TRACE_ID_##name] != 0)

/* Same, by numeric id (for code that iterates the catalogue). */
static inline int ResdbTraceEnabled(int id) {
  return id > 0 && id < RESDB_TRACE_SEMAPHORE_SLOTS &&
         resdb_trace_semaphores[id] != 0;
}

#if defined(RESDB_TRACE_DISABLE)
#define RESDB_TRACE_GATE(name) if (0)
#else
#define RESDB_TRACE_GATE(name) if (RESDB_TRACE_ENABLED(name))
#endif

/* Calls v1 hook <name> only while traced; arguments are evaluated only then. */
#define RESDB_TRACE_V1(name, req_ptr, seq, type, sender, self, proxy_id, view, \
                       aux)                                                    \
  do {                                                                         \
    RESDB_TRACE_GATE(name) {                                                   \
      resdb_trace_##name(                                                      \
          (uint64_t)(req_ptr), (uint64_t)(seq),                                \
          ResdbTracePackMeta((uint32_t)(type), (uint32_t)(sender),             \
                             (uint32_t)(self)),                                \
          (uint64_t)(proxy_id), (uint64_t)(view), (uint64_t)(aux));            \
    }                                                                          \
  } while (0)

/* Gated wrappers, one per hook: ResdbTrace<Name>(...). v1: (req_ptr, seq,
 * type, sender, self, proxy_id, view, aux); DeepObserve-compatible: (req_ptr,
 * seq, type, sender, self, proxy_id), reading the wall clock only when traced;
 * dispatch: (req_ptr, seq, type, sender_id, proxy_id). */
#define RESDB_TRACE_WRAP_RESDB_TRACE_ABI_V1(name, Name)                        \
  static inline void ResdbTrace##Name(                                         \
      uint64_t req_ptr, uint64_t seq, uint32_t type, uint32_t sender,          \
      uint32_t self, uint64_t proxy_id, uint64_t view, uint64_t aux) {         \
    RESDB_TRACE_GATE(name) {                                                   \
      resdb_trace_##name(req_ptr, seq, ResdbTracePackMeta(type, sender, self), \
                         proxy_id, view, aux);                                 \
    }                                                                          \
  }
#define RESDB_TRACE_WRAP_RESDB_TRACE_ABI_COMPAT(name, Name)                    \
  static inline void ResdbTrace##Name(uint64_t req_ptr, uint64_t seq,          \
                                      uint32_t type, uint32_t sender,          \
                                      uint32_t self, uint64_t proxy_id) {      \
    RESDB_TRACE_GATE(name) {                                                   \
      resdb_trace_##name(req_ptr, seq, ResdbTracePackMeta(type, sender, self), \
                         proxy_id, ResdbTraceEpochNs());                       \
    }                                                                          \
  }
#define RESDB_TRACE_WRAP_RESDB_TRACE_ABI_DISPATCH(name, Name)            \
  static inline void ResdbTrace##Name(uint64_t req_ptr, uint64_t seq,    \
                                      uint32_t type, uint32_t sender_id, \
                                      uint64_t proxy_id) {               \
    RESDB_TRACE_GATE(name) {                                             \
      resdb_trace_##name(req_ptr, seq, type, sender_id, proxy_id);       \
    }                                                                    \
  }
#define RESDB_TRACE_X_WRAP(id, name, Name, abi, type, event, where, seq_arg, \
                           aux_arg)                                          \
  RESDB_TRACE_WRAP_##abi(name, Name)

RESDB_TRACE_HOOKS(RESDB_TRACE_X_WRAP)

#undef RESDB_TRACE_X_WRAP

#endif /* RESDB_TRACE_HOOKS_H_ */
