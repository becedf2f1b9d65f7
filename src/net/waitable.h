#pragma once
// Waitable: what the event loop (event_loop.h) waits on, named so that the
// TUN, the UDP bind and the device are written once for every platform.
//
//   Linux:   a file descriptor, readable when there is work (epoll).
//   Windows: a HANDLE to a waitable object, signalled when there is work
//            (WaitForMultipleObjects): Wintun's read-wait event, a socket's
//            WSAEventSelect event. The object's owner makes it unsignalled
//            again when it has drained it (an auto-reset event does this by
//            itself), so a handle that stays signalled is dispatched again,
//            as a level-triggered fd is.
//
// No OS header is needed: a HANDLE is a void*.
//
// Ownership: a Waitable is a borrowed name; whoever created the descriptor or
// handle closes it.

namespace zl::net {

#if defined(_WIN32)
using Waitable = void*;
inline constexpr Waitable kNoWaitable = nullptr;
#else
using Waitable = int;
inline constexpr Waitable kNoWaitable = -1;
#endif

}  // namespace zl::net
