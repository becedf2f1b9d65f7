#pragma once
// QueueOfFlow: which queue of a multi-queue TUN a decrypted packet is written
// through. The kernel steers a flow's outgoing packets to the queue that last
// wrote that flow's packets (tun's flow table, keyed by the kernel's flow
// hash, which is the same in both directions), so writing each flow through
// a queue of its own spreads the flows' outgoing packets — what the queue
// readers encrypt — over the queues. Writing everything through queue 0
// would pull every two-way flow (TCP) to queue 0's reader.
//
// The choice is a hash of the packet's addresses, protocol and, for TCP and
// UDP (not fragments), ports: the same flow always gets the same queue, so
// its packets keep their order. Packets that are not IPv4/IPv6, or too short
// to say, get queue 0.
//
// Pure; thread-safe.

#include <cstddef>

#include "base/bytes.h"

namespace zl::device {

// A queue index below `queues` (0 when `queues` is 0 or 1).
size_t QueueOfFlow(ByteSpan packet, size_t queues);

}  // namespace zl::device
