#pragma once
// WintunSession: one Wintun session (the pair of packet rings between us and
// the adapter) and the packet I/O over it, the loop the original lacked.
//
// Receive: RunReceiveLoop waits on the session's read-wait event (auto-reset)
// together with our quit event; on each wake-up it drains every available
// packet (WintunReceivePacket until ERROR_NO_MORE_ITEMS), copying each out,
// releasing it, and only then handing the copy to the sink. It returns Ok when
// Quit() was called, and an ENODEV error when the adapter went away
// (ERROR_HANDLE_EOF). DrainReceived is one such drain without waiting, for an
// event loop that waits on read_wait_event() itself; DrainInto is a bounded
// drain that copies each packet straight into the caller's buffers (the
// TunDevice's ReadBatch, wintun_tun_win.h).
//
// Send: allocate, copy, send. A full ring (ERROR_BUFFER_OVERFLOW) drops the
// packet, counts it and returns kDroppedRingFull at once: Send never blocks.
//
// Ownership: the session handle is ended in the destructor; the adapter it was
// started on, and the WintunApi's module, must outlive it (WintunAdapter owns
// its session and ends it before closing the adapter).
// Thread safety: one thread in RunReceiveLoop/DrainReceived/DrainInto at a time; Send,
// Quit and counters() from any thread, concurrently. Destroy only after the
// receive loop has returned and no Send is in flight.
//
// Windows-only (net/ *_win files).

#include <winsock2.h>  // before windows.h (see wintun_api_win.h)
#include <windows.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "net/tun_device.h"
#include "net/unique_handle_win.h"
#include "net/wintun_api_win.h"

namespace zl::net {

struct WintunSessionCounters {
  uint64_t received = 0;               // packets drained from the receive ring
  uint64_t sent = 0;                   // packets put on the send ring
  uint64_t send_dropped_ring_full = 0;  // ERROR_BUFFER_OVERFLOW
  uint64_t received_truncated = 0;     // DrainInto: longer than the slot
};

// What one DrainInto did.
struct WintunDrain {
  size_t count = 0;  // slots filled, from the first
  // True when the drain stopped because the receive ring was empty
  // (ERROR_NO_MORE_ITEMS). False when every slot was filled (packets may
  // remain) or when an error came after `count` > 0 packets (the next drain
  // returns it).
  bool ring_empty = false;
};

class WintunSession {
 public:
  // Called with each received packet; the bytes are valid during the call.
  using PacketSink = std::function<void(ByteSpan packet)>;
  enum class SendOutcome { kSent, kDroppedRingFull };

  // Starts a session on `adapter` with rings of `capacity` bytes
  // (CheckWintunRingCapacity: EINVAL before Wintun is asked).
  static Result<std::unique_ptr<WintunSession>> Start(const WintunApi& api, WintunAdapterHandle adapter,
                                                      uint32_t capacity);
  ~WintunSession();
  WintunSession(const WintunSession&) = delete;
  WintunSession& operator=(const WintunSession&) = delete;

  // Runs until Quit() (Ok) or until the adapter is removed (ENODEV) or the
  // ring is corrupt (EIO).
  Result<void> RunReceiveLoop(const PacketSink& sink);
  // Drains what is available now, without waiting; returns how many packets.
  Result<size_t> DrainReceived(const PacketSink& sink);
  // Receives up to slots.size() packets without waiting, copying each into
  // its slot's buffer (truncated to it; `len` is the bytes copied) and
  // releasing it at once. An error only when no packet was taken: ENODEV once
  // the adapter is gone, EIO for a corrupt ring.
  Result<WintunDrain> DrainInto(std::span<TunPacket> slots);
  // EINVAL for an empty packet or one over kWintunMaxIpPacketSize; ENODEV once
  // the adapter is gone.
  Result<SendOutcome> Send(ByteSpan packet);
  // Makes RunReceiveLoop return promptly (now, or after the packet in hand).
  // Any thread; idempotent; sticky.
  void Quit();

  WintunSessionCounters counters() const;
  // Signalled when packets arrive; owned by Wintun (never close it).
  HANDLE read_wait_event() const { return read_event_; }
  uint32_t capacity() const { return capacity_; }

 private:
  WintunSession(const WintunApi& api, WintunSessionHandle session, HANDLE read_event, UniqueHandle quit,
                uint32_t capacity);
  bool QuitRequested() const;
  // Takes the oldest packet: hands its bytes to `take` (valid during the
  // call), releases it, counts it. False when the ring is empty.
  template <typename Take>
  Result<bool> ReceiveOne(Take&& take);

  const WintunApi& api_;
  WintunSessionHandle session_;
  HANDLE read_event_;
  UniqueHandle quit_;  // manual-reset
  uint32_t capacity_;
  std::vector<uint8_t> rx_copy_;  // receive thread only
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> send_dropped_ring_full_{0};
  std::atomic<uint64_t> received_truncated_{0};
};

}  // namespace zl::net
