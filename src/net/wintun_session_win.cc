#include "net/wintun_session_win.h"

#include <algorithm>
#include <cstring>

#include "net/win32_error_win.h"

namespace zl::net {
namespace {

// How many packets one drain takes before it looks at the quit event, so a
// shutdown under a steady flood of packets is still prompt.
constexpr size_t kPacketsBetweenQuitChecks = 256;

Error AdapterGone() {
  return MakeError(ENODEV, "the Wintun adapter was removed (ERROR_HANDLE_EOF): the packet loop ends");
}

}  // namespace

Result<std::unique_ptr<WintunSession>> WintunSession::Start(const WintunApi& api, WintunAdapterHandle adapter,
                                                            uint32_t capacity) {
  ZL_RETURN_IF_ERROR(CheckWintunRingCapacity(capacity));
  UniqueHandle quit(CreateEventW(nullptr, /*bManualReset=*/TRUE, /*bInitialState=*/FALSE, nullptr));
  if (!quit.valid()) return LastWin32Error("CreateEventW(quit)");
  WintunSessionHandle session = api.StartSession(adapter, capacity);
  if (session == nullptr) return LastWin32Error("WintunStartSession");
  HANDLE read_event = api.GetReadWaitEvent(session);
  if (read_event == nullptr) {
    Error error = LastWin32Error("WintunGetReadWaitEvent");
    api.EndSession(session);
    return error;
  }
  return std::unique_ptr<WintunSession>(new WintunSession(api, session, read_event, std::move(quit), capacity));
}

WintunSession::WintunSession(const WintunApi& api, WintunSessionHandle session, HANDLE read_event,
                             UniqueHandle quit, uint32_t capacity)
    : api_(api), session_(session), read_event_(read_event), quit_(std::move(quit)), capacity_(capacity) {
  rx_copy_.reserve(kWintunMaxIpPacketSize);
}

WintunSession::~WintunSession() { api_.EndSession(session_); }

void WintunSession::Quit() { SetEvent(quit_.get()); }

bool WintunSession::QuitRequested() const { return WaitForSingleObject(quit_.get(), 0) == WAIT_OBJECT_0; }

template <typename Take>
Result<bool> WintunSession::ReceiveOne(Take&& take) {
  DWORD size = 0;
  BYTE* packet = api_.ReceivePacket(session_, &size);
  if (packet == nullptr) {
    const DWORD err = GetLastError();
    if (err == ERROR_NO_MORE_ITEMS) return false;
    if (err == ERROR_HANDLE_EOF) return AdapterGone();
    if (err == ERROR_INVALID_DATA) {
      return MakeError(EIO, "Wintun's receive ring is corrupt (ERROR_INVALID_DATA): the packet loop ends");
    }
    return Win32Error(err, "WintunReceivePacket");
  }
  take(ByteSpan(packet, size));
  api_.ReleaseReceivePacket(session_, packet);
  received_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

Result<size_t> WintunSession::DrainReceived(const PacketSink& sink) {
  size_t count = 0;
  for (;;) {
    if (count > 0 && count % kPacketsBetweenQuitChecks == 0 && QuitRequested()) return count;
    // Copy out and release at once: the ring slot is free again before the
    // sink does any work.
    auto got = ReceiveOne([this](ByteSpan packet) { rx_copy_.assign(packet.begin(), packet.end()); });
    if (!got.ok()) return got.error();
    if (!*got) return count;
    ++count;
    sink(ByteSpan(rx_copy_.data(), rx_copy_.size()));
  }
}

Result<WintunDrain> WintunSession::DrainInto(std::span<TunPacket> slots) {
  WintunDrain drain;
  while (drain.count < slots.size()) {
    TunPacket& slot = slots[drain.count];
    auto got = ReceiveOne([this, &slot](ByteSpan packet) {
      slot.len = std::min(packet.size(), slot.buf.size());
      std::memcpy(slot.buf.data(), packet.data(), slot.len);
      if (slot.len < packet.size()) received_truncated_.fetch_add(1, std::memory_order_relaxed);
    });
    if (!got.ok()) {
      if (drain.count == 0) return got.error();
      return drain;  // the error comes again on the next drain
    }
    if (!*got) {
      drain.ring_empty = true;
      return drain;
    }
    ++drain.count;
  }
  return drain;
}

Result<void> WintunSession::RunReceiveLoop(const PacketSink& sink) {
  const HANDLE handles[2] = {quit_.get(), read_event_};  // quit first: it wins a tie
  for (;;) {
    // Drain before waiting: packets may have arrived before the first wait,
    // and the event is auto-reset, so a wake-up must leave the ring empty.
    auto drained = DrainReceived(sink);
    if (!drained.ok()) return drained.error();
    const DWORD woke = WaitForMultipleObjects(2, handles, FALSE, INFINITE);
    if (woke == WAIT_OBJECT_0) return Ok();
    if (woke != WAIT_OBJECT_0 + 1) return LastWin32Error("WaitForMultipleObjects(Wintun read event, quit)");
  }
}

Result<WintunSession::SendOutcome> WintunSession::Send(ByteSpan packet) {
  if (packet.empty() || packet.size() > kWintunMaxIpPacketSize) {
    return MakeError(EINVAL, "a packet for Wintun must have 1 to 65535 bytes");
  }
  BYTE* slot = api_.AllocateSendPacket(session_, static_cast<DWORD>(packet.size()));
  if (slot == nullptr) {
    const DWORD err = GetLastError();
    if (err == ERROR_BUFFER_OVERFLOW) {
      send_dropped_ring_full_.fetch_add(1, std::memory_order_relaxed);
      return SendOutcome::kDroppedRingFull;
    }
    if (err == ERROR_HANDLE_EOF) return AdapterGone();
    return Win32Error(err, "WintunAllocateSendPacket");
  }
  std::memcpy(slot, packet.data(), packet.size());
  api_.SendPacket(session_, slot);
  sent_.fetch_add(1, std::memory_order_relaxed);
  return SendOutcome::kSent;
}

WintunSessionCounters WintunSession::counters() const {
  return WintunSessionCounters{received_.load(std::memory_order_relaxed), sent_.load(std::memory_order_relaxed),
                               send_dropped_ring_full_.load(std::memory_order_relaxed),
                               received_truncated_.load(std::memory_order_relaxed)};
}

}  // namespace zl::net
