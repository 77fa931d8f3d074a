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
// which is everything MutexLock / ReaderMutexLock use. Not covered: the
// conditional forms (LockWhen, Await, CondVar), which release and reacquire
// inside the library; a program using them under TSan would get an
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

// The Itanium-mangled name of absl::<inline ns>::Mutex::<method>().
std::string Mangled(const char* method) {
  const std::string ns = RESDB_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string m = method;
  const char* ret = "Ev";
  return "_ZN4absl" + std::to_string(ns.size()) + ns + "5Mutex" +
         std::to_string(m.size()) + m + ret;
}

template <typename Fn>
Fn Next(const char* method) {
  const std::string name = Mangled(method);
  void* f = dlsym(RTLD_NEXT, name.c_str());
  if (f == nullptr) {
    std::fprintf(stderr, "absl_mutex_annotations: %s not found: %s\n",
                 name.c_str(), dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(f);
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

ABSL_NAMESPACE_END
}  // namespace absl

#endif  // __SANITIZE_THREAD__
