#pragma once
// Clang thread-safety annotations (-Wthread-safety). They document which lock
// guards which data and let clang check it; other compilers ignore them.

#if defined(__clang__)
#define ZL_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define ZL_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) ZL_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY ZL_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) ZL_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) ZL_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) ZL_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) ZL_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) ZL_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) ZL_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS ZL_THREAD_ANNOTATION(no_thread_safety_analysis)
