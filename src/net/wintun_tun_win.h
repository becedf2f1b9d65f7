#pragma once
// WintunTun: the TunDevice (tun_device.h) of Windows, a Wintun adapter and its
// session (wintun_adapter_win.h: opened, else created in pool ZLayer; 4 MiB
// rings) driven by the device's event loop.
//
// Packet I/O:
//   - waitable() is the session's read-wait event (auto-reset, owned by
//     Wintun). ReadBatch never waits: it copies packets straight from the
//     receive ring into the caller's slots (WintunSession::DrainInto),
//     releasing each at once; a packet longer than its slot is truncated and
//     counted (received_truncated).
//   - The level trick (waitable.h asks a waitable to stay signalled while
//     work remains). The event is auto-reset: the wait that woke the loop has
//     already reset it, and Wintun sets it again only when a *new* packet
//     arrives, never for packets already in the ring. So when ReadBatch fills
//     every slot (more may remain), or stops at an error after some packets
//     (the error is for the next call), it sets the event itself and the loop
//     comes back; when it stops because the ring is empty
//     (ERROR_NO_MORE_ITEMS) it leaves the event alone, so an idle loop sleeps.
//   - Write: EINVAL unless the version nibble is 4 or 6; then allocate, copy,
//     send. A full send ring drops and counts the packet
//     (send_dropped_ring_full) and returns Ok: Write never blocks.
//   - Adapter removal: ReadBatch and Write return ENODEV (IsTunGone).
//
// Interface configuration: zlayer-wg.exe, like wireguard-go, configures
// nothing on the interface. Mtu()/SetMtu() only keep the value the device
// sizes its buffers by; the interface's MTU, addresses and routes are set
// through IP Helper by LUID (luid()), by the overlay daemon (the IP Helper
// component). SetUp() is Ok: a Wintun adapter is up while its session runs.
// index() is 0: Windows names interfaces by LUID.
//
// Ownership and lifetime: the tun owns the adapter and its session; the
// destructor ends the session, then closes the adapter (removing it if this
// tun created it). Made from a WintunLibrary, the tun holds a shared_ptr to
// it, so the DLL stays loaded until the tun is gone; made from a bare
// WintunApi, the caller keeps the api table and its module alive longer than
// the tun.
// Thread safety: tun_device.h's (one reader, any writers, control methods on
// the owning thread); luid() and counters() from any thread. Destroy only
// when no ReadBatch or Write is in flight.
//
// Windows-only (net/ *_win files).

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"
#include "net/tun_device.h"
#include "net/wintun_adapter_win.h"
#include "net/wintun_api_win.h"
#include "net/wintun_session_win.h"

namespace zl::net {

class WintunLibrary;  // wintun_loader_win.h

class WintunTun final : public TunDevice {
 public:
  // Opens (else creates) the adapter `name` and starts its session. Errors:
  // EINVAL for a bad name or an MTU outside 1..65535; Wintun's errors
  // otherwise (WintunAdapter::Open).
  static Result<std::unique_ptr<WintunTun>> Open(std::shared_ptr<const WintunLibrary> library, std::string_view name,
                                                 int mtu = kDefaultTunMtu);
  // The same over a WintunApi whose module the caller keeps loaded (tests).
  static Result<std::unique_ptr<WintunTun>> Open(const WintunApi& api, std::string_view name,
                                                 int mtu = kDefaultTunMtu, const WintunAdapterOptions& options = {});

  const std::string& name() const override { return adapter_->name(); }
  int index() const override { return 0; }
  Waitable waitable() const override { return adapter_->session().read_wait_event(); }

  Result<size_t> ReadBatch(std::span<TunPacket> packets) override;
  Result<void> Write(ByteSpan packet) override;

  Result<int> Mtu() const override { return mtu_; }
  Result<void> SetMtu(int mtu) override;
  Result<void> SetUp() override;

  // NET_LUID's Value, for IP Helper.
  uint64_t luid() const { return adapter_->luid(); }
  // True if this tun created the adapter (and its destructor removes it).
  bool created_adapter() const { return adapter_->created(); }
  // Received, sent, dropped on a full send ring, truncated to the slot.
  WintunSessionCounters counters() const { return adapter_->session().counters(); }

 private:
  WintunTun(std::shared_ptr<const WintunLibrary> library, std::unique_ptr<WintunAdapter> adapter, int mtu)
      : library_(std::move(library)), adapter_(std::move(adapter)), mtu_(mtu) {}

  std::shared_ptr<const WintunLibrary> library_;  // declared first: unloaded last
  std::unique_ptr<WintunAdapter> adapter_;        // never null
  int mtu_;
};

// The TunDevice the device drives; see WintunTun.
Result<std::unique_ptr<TunDevice>> CreateWintunTun(std::shared_ptr<const WintunLibrary> library,
                                                   std::string_view name, int mtu = kDefaultTunMtu);
Result<std::unique_ptr<TunDevice>> CreateWintunTun(const WintunApi& api, std::string_view name,
                                                   int mtu = kDefaultTunMtu);

}  // namespace zl::net
