#pragma once
// SetThreadName: names the calling thread for `top -H`, `ps -L`, perf and
// debuggers, so each of a daemon's threads can be told apart ("zl-crypto-1",
// "zl-handshake-2", "zl-tunq-1", ...).
//
// Linux keeps at most 15 bytes: a longer name is cut. Windows and other
// platforms: a no-op (best effort everywhere; a failure is ignored, the name
// is only a label).
//
// Thread safety: names the calling thread only.

#include <string>
#include <string_view>

namespace zl {

void SetThreadName(std::string_view name);

// The calling thread's name ("" where the platform has none), for tests.
std::string CurrentThreadName();

}  // namespace zl
