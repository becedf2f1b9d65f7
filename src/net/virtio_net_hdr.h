#pragma once
// The virtio-net header a Linux TUN opened with IFF_VNET_HDR puts before
// every packet it reads and expects before every packet written: how a
// super-packet may be segmented (GSO) and where a checksum is left to fill.
// The kernel's <linux/virtio_net.h> cannot be included from C++ (a member is
// named `class`), so the ABI is restated here: 10 bytes, little-endian
// fields (the TUN's default, TUNSETVNETLE not needed on x86/arm64).
//
// Also the TUN offload flags of TUNSETOFFLOAD (<linux/if_tun.h>), with USO's,
// which Debian 12's headers may lack.

#include <cstdint>

namespace zl::net {

struct VirtioNetHdr {
  uint8_t flags = 0;
  uint8_t gso_type = 0;
  uint16_t hdr_len = 0;      // bytes of link+network+transport headers
  uint16_t gso_size = 0;     // payload bytes per segment
  uint16_t csum_start = 0;   // where the checksummed area starts
  uint16_t csum_offset = 0;  // where, from csum_start, the checksum goes
};
static_assert(sizeof(VirtioNetHdr) == 10);

inline constexpr uint8_t kVirtioNetHdrFNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
inline constexpr uint8_t kVirtioNetHdrFDataValid = 2;  // VIRTIO_NET_HDR_F_DATA_VALID

inline constexpr uint8_t kVirtioNetHdrGsoNone = 0;    // VIRTIO_NET_HDR_GSO_NONE
inline constexpr uint8_t kVirtioNetHdrGsoTcpV4 = 1;   // VIRTIO_NET_HDR_GSO_TCPV4
inline constexpr uint8_t kVirtioNetHdrGsoUdp = 3;     // VIRTIO_NET_HDR_GSO_UDP (UFO, unused)
inline constexpr uint8_t kVirtioNetHdrGsoTcpV6 = 4;   // VIRTIO_NET_HDR_GSO_TCPV6
inline constexpr uint8_t kVirtioNetHdrGsoUdpL4 = 5;   // VIRTIO_NET_HDR_GSO_UDP_L4 (USO)
inline constexpr uint8_t kVirtioNetHdrGsoEcn = 0x80;  // VIRTIO_NET_HDR_GSO_ECN

// TUNSETOFFLOAD flags.
inline constexpr unsigned kTunFCsum = 0x01;   // TUN_F_CSUM
inline constexpr unsigned kTunFTso4 = 0x02;   // TUN_F_TSO4
inline constexpr unsigned kTunFTso6 = 0x04;   // TUN_F_TSO6
inline constexpr unsigned kTunFTsoEcn = 0x08;  // TUN_F_TSO_ECN
inline constexpr unsigned kTunFUso4 = 0x20;   // TUN_F_USO4 (Linux 6.2)
inline constexpr unsigned kTunFUso6 = 0x40;   // TUN_F_USO6 (Linux 6.2)

}  // namespace zl::net
