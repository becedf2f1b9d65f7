#include "base/thread_name.h"

#if defined(__linux__)
#include <pthread.h>
#endif

namespace zl {

// The kernel's TASK_COMM_LEN, 16, with the terminating NUL.
constexpr size_t kMaxThreadName = 15;

void SetThreadName(std::string_view name) {
#if defined(__linux__)
  const std::string cut(name.substr(0, kMaxThreadName));
  (void)pthread_setname_np(pthread_self(), cut.c_str());
#else
  (void)name;
#endif
}

std::string CurrentThreadName() {
#if defined(__linux__)
  char buf[kMaxThreadName + 1] = {};
  if (pthread_getname_np(pthread_self(), buf, sizeof(buf)) != 0) return {};
  return buf;
#else
  return {};
#endif
}

}  // namespace zl
