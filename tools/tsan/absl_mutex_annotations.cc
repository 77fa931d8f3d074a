// Makes ThreadSanitizer see absl::Mutex. Debian's Abseil is not built with
// TSan, so the synchronization inside Mutex::Lock/Unlock happens in
// uninstrumented code and TSan reports every access guarded by an
// absl::Mutex (TimelineBuilder, ...) as a data race. Linked into every binary
// of --config=tsan (see .bazelrc), this file interposes the exported Mutex
// lock functions: each calls the library's own implementation (found with
// dlsym(RTLD_NEXT)) wrapped in TSan's mutex annotations, which give TSan
// exactly the happens-before edges the real mutex provides.
//
// Covered: Lock, Unlock, TryLock, ReaderLock, ReaderUnlock, ReaderTryLock,
// which is everything MutexLock / ReaderMutexLock use, and the CondVar
// waits: CondVar::Wait, WaitWithTimeout and WaitWithDeadline all reach the
// private CondVar::WaitCommon through the PLT (checked with objdump on
// Debian's libabsl_synchronization), which releases and reacquires the
// mutex inside the library; its wrapper tells TSan "unlocked" before and
// "locked" after. Not covered: the conditional forms (LockWhen, Await),
// which we do not use; a program using them under TSan would get an
// "unlock of an unlocked mutex" report (loud, not a silent miss).
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) && !defined(__SANITIZE_THREAD__)
#define __SANITIZE_THREAD__ 1
#endif
#endif

// Without TSan (a plain `bazel build //...`) this file is empty.
#ifdef __SANITIZE_THREAD__

#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"

namespace {

#define RESDB_STR2(x) #x
#define RESDB_STR(x) RESDB_STR2(x)

using MutexFn = void (*)(absl::Mutex*);
using MutexTryFn = bool (*)(absl::Mutex*);
using CondVarWaitFn = bool (*)(absl::CondVar*, absl::Mutex*,
                               absl::synchronization_internal::KernelTimeout);

// The Itanium-mangled name of absl::<inline ns>::<cls>::<method>(<params>);
// `params` is the mangled parameter list ("v" for none).
std::string Mangled(const char* cls, const char* method, const char* params) {
  const std::string ns = RESDB_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string c = cls;
  const std::string m = method;
  return "_ZN4absl" + std::to_string(ns.size()) + ns +
         std::to_string(c.size()) + c + std::to_string(m.size()) + m + "E" +
         params;
}

std::string Mangled(const char* method) {
  return Mangled("Mutex", method, "v");
}

template <typename Fn>
Fn NextByName(const std::string& name) {
  void* f = dlsym(RTLD_NEXT, name.c_str());
  if (f == nullptr) {
    std::fprintf(stderr, "absl_mutex_annotations: %s not found: %s\n",
                 name.c_str(), dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(f);
}

template <typename Fn>
Fn Next(const char* method) {
  return NextByName<Fn>(Mangled(method));
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static const MutexFn real = Next<MutexFn>("Lock");
  __tsan_mutex_pre_lock(this, 0);
  real(this);
  __tsan_mutex_post_lock(this, 0, 0);
}

void Mutex::Unlock() {
  static const MutexFn real = Next<MutexFn>("Unlock");
  __tsan_mutex_pre_unlock(this, 0);
  real(this);
  __tsan_mutex_post_unlock(this, 0);
}

bool Mutex::TryLock() {
  static const MutexTryFn real = Next<MutexTryFn>("TryLock");
  __tsan_mutex_pre_lock(this, __tsan_mutex_try_lock);
  const bool locked = real(this);
  __tsan_mutex_post_lock(
      this, __tsan_mutex_try_lock | (locked ? 0 : __tsan_mutex_try_lock_failed),
      0);
  return locked;
}

void Mutex::ReaderLock() {
  static const MutexFn real = Next<MutexFn>("ReaderLock");
  __tsan_mutex_pre_lock(this, __tsan_mutex_read_lock);
  real(this);
  __tsan_mutex_post_lock(this, __tsan_mutex_read_lock, 0);
}

void Mutex::ReaderUnlock() {
  static const MutexFn real = Next<MutexFn>("ReaderUnlock");
  __tsan_mutex_pre_unlock(this, __tsan_mutex_read_lock);
  real(this);
  __tsan_mutex_post_unlock(this, __tsan_mutex_read_lock);
}

bool Mutex::ReaderTryLock() {
  static const MutexTryFn real = Next<MutexTryFn>("ReaderTryLock");
  __tsan_mutex_pre_lock(this, __tsan_mutex_try_read_lock);
  const bool locked = real(this);
  __tsan_mutex_post_lock(
      this,
      locked ? __tsan_mutex_try_read_lock : __tsan_mutex_try_read_lock_failed,
      0);
  return locked;
}

// S0_ is absl::<inline ns>: WaitCommon(Mutex*, KernelTimeout).
bool CondVar::WaitCommon(Mutex* mutex,
                         synchronization_internal::KernelTimeout t) {
  static const CondVarWaitFn real = NextByName<CondVarWaitFn>(
      Mangled("CondVar", "WaitCommon",
              "PNS0_5MutexENS0_24synchronization_internal13KernelTimeoutE"));
  __tsan_mutex_pre_unlock(mutex, 0);
  __tsan_mutex_post_unlock(mutex, 0);
  const bool timed_out = real(this, mutex, t);
  __tsan_mutex_pre_lock(mutex, 0);
  __tsan_mutex_post_lock(mutex, 0, 0);
  return timed_out;
}

ABSL_NAMESPACE_END
}  // namespace absl

#endif  // __SANITIZE_THREAD__
