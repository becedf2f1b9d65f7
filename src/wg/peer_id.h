#pragma once
// PeerId: the Engine's handle for a peer. Small, stable while the peer exists,
// never reused for a different peer during an Engine's life. 0 means none.

#include <cstdint>

namespace zl::wg {

using PeerId = uint32_t;
inline constexpr PeerId kNoPeer = 0;

}  // namespace zl::wg
