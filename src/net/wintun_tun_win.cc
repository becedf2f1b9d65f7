#include "net/wintun_tun_win.h"

#include <fmt/format.h>

#include "net/wintun_loader_win.h"

namespace zl::net {
namespace {

Result<void> CheckMtu(int mtu) {
  if (mtu <= 0 || static_cast<uint32_t>(mtu) > kWintunMaxIpPacketSize) {
    return MakeError(EINVAL, fmt::format("invalid MTU {}: Wintun carries IP packets of 1 to {} bytes", mtu,
                                         kWintunMaxIpPacketSize));
  }
  return Ok();
}

Result<std::unique_ptr<TunDevice>> AsTunDevice(Result<std::unique_ptr<WintunTun>> tun) {
  if (!tun.ok()) return tun.error();
  return std::unique_ptr<TunDevice>(std::move(*tun));
}

}  // namespace

Result<std::unique_ptr<WintunTun>> WintunTun::Open(std::shared_ptr<const WintunLibrary> library,
                                                   std::string_view name, int mtu) {
  if (library == nullptr) return MakeError(EINVAL, "WintunTun::Open: no Wintun library");
  ZL_RETURN_IF_ERROR(CheckMtu(mtu));
  auto adapter = WintunAdapter::Open(library->api(), name);
  if (!adapter.ok()) return adapter.error();
  return std::unique_ptr<WintunTun>(new WintunTun(std::move(library), std::move(*adapter), mtu));
}

Result<std::unique_ptr<WintunTun>> WintunTun::Open(const WintunApi& api, std::string_view name, int mtu,
                                                   const WintunAdapterOptions& options) {
  ZL_RETURN_IF_ERROR(CheckMtu(mtu));
  auto adapter = WintunAdapter::Open(api, name, options);
  if (!adapter.ok()) return adapter.error();
  return std::unique_ptr<WintunTun>(new WintunTun(nullptr, std::move(*adapter), mtu));
}

Result<size_t> WintunTun::ReadBatch(std::span<TunPacket> packets) {
  if (packets.empty()) return size_t{0};
  WintunSession& session = adapter_->session();
  auto drain = session.DrainInto(packets);
  if (!drain.ok()) return drain.error().Wrap(fmt::format("Wintun adapter {}", name()));
  // The level trick (see the header): the auto-reset event was consumed by
  // the wait that brought us here and is not set again for packets already in
  // the ring, so while some may remain, set it ourselves.
  if (!drain->ring_empty) SetEvent(session.read_wait_event());
  return drain->count;
}

Result<void> WintunTun::Write(ByteSpan packet) {
  const int version = packet.empty() ? 0 : packet[0] >> 4;
  if (version != 4 && version != 6) {
    return MakeError(EINVAL, fmt::format("Wintun adapter {}: not an IP packet (version nibble {}, {} bytes)", name(),
                                         version, packet.size()));
  }
  auto sent = adapter_->session().Send(packet);
  if (!sent.ok()) return sent.error().Wrap(fmt::format("Wintun adapter {}", name()));
  return Ok();  // kDroppedRingFull is counted by the session, not an error
}

Result<void> WintunTun::SetMtu(int mtu) {
  ZL_RETURN_IF_ERROR(CheckMtu(mtu));
  mtu_ = mtu;
  return Ok();
}

Result<void> WintunTun::SetUp() { return Ok(); }

Result<std::unique_ptr<TunDevice>> CreateWintunTun(std::shared_ptr<const WintunLibrary> library,
                                                   std::string_view name, int mtu) {
  return AsTunDevice(WintunTun::Open(std::move(library), name, mtu));
}

Result<std::unique_ptr<TunDevice>> CreateWintunTun(const WintunApi& api, std::string_view name, int mtu) {
  return AsTunDevice(WintunTun::Open(api, name, mtu));
}

}  // namespace zl::net
